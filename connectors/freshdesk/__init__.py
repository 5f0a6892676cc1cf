"""Freshdesk: an automation rule's webhook (or a Freshworks app's events) in, a ticket update and a
private note out."""
from connectors.base import VendorConnector
from connectors.freshdesk import webhook
from connectors.freshdesk.client import AUTOMATION_BODY, FreshdeskClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="freshdesk",
    name="Freshdesk",
    credentials=((CredentialField("api_key", "the API key of Baton's agent"),),),
    # automation: the admin pastes the automation rule's webhook from README.md; app: the marketplace
    # app forwards ticket events itself (installed from Freshdesk's app settings, no terminal)
    modes=("automation", "app"),
    example_url="https://acme.freshdesk.com",
    domains=("*.freshdesk.com",),  # https://{account}.freshdesk.com
    next_step="Admin > Workflows > Automations > Ticket updates: a rule on ticket created or updated whose "
              "action is Trigger webhook: POST to Baton's endpoint, header X-Baton-Secret with the secret "
              f"printed below, JSON body {AUTOMATION_BODY}",
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, FreshdeskClient, install)
