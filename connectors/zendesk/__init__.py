"""Zendesk Support: event-subscription or trigger webhooks in, one ticket update out."""
from connectors.base import VendorConnector
from connectors.zendesk import webhook
from connectors.zendesk.client import ZendeskClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="zendesk",
    name="Zendesk",
    credentials=(
        (CredentialField("email", "API user email (API-token auth)"), CredentialField("token", "API token")),
        (CredentialField("oauth_token", "OAuth access token instead of email + token"),),
    ),
    modes=("events", "trigger"),  # event subscriptions, or a trigger posting Baton's body template
    example_url="https://acme.zendesk.com",
    domains=("*.zendesk.com",),  # https://{subdomain}.zendesk.com
    next_step="nothing: Baton created its webhook (and, in trigger mode, the trigger) through the API. "
              "Check Admin Center > Apps and integrations > Webhooks > Baton handoff.",
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, ZendeskClient, install)
