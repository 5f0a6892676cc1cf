"""Freshdesk: an automation rule's webhook (or a Freshworks app's events) in, a ticket update and a
private note out."""
from connectors.base import VendorConnector
from connectors.freshdesk import webhook
from connectors.freshdesk.client import FreshdeskClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="freshdesk",
    name="Freshdesk",
    credentials=((CredentialField("api_key", "the API key of Baton's agent"),),),
    modes=("automation",),  # the admin pastes the automation rule's webhook from README.md
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, FreshdeskClient, install)
