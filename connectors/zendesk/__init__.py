"""Zendesk Support: event-subscription or trigger webhooks in, one ticket update out; bot-held
messaging conversations through the Conversations API (passControl, then the note)."""
from connectors.base import VendorConnector
from connectors.zendesk import webhook
from connectors.zendesk import conversations
from connectors.zendesk.messaging import ZendeskMessagingClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="zendesk",
    name="Zendesk",
    credentials=(
        (CredentialField("email", "API user email (API-token auth)"), CredentialField("token", "API token")),
        (CredentialField("oauth_token", "OAuth access token instead of email + token"),),
    ),
    # Bot-held messaging conversations (AI agent tickets) are handed over through the Conversations
    # API: an admin's key from Admin Center > Apps and integrations > APIs > Conversations API.
    optional=(CredentialField(conversations.APP_ID, "Conversations API app id (messaging handoff)",
                                             secret=False),
              CredentialField(conversations.KEY_ID, "Conversations API key id"),
              CredentialField(conversations.SECRET, "Conversations API key secret")),
    modes=("events", "trigger"),  # event subscriptions, or a trigger posting Baton's body template
    example_url="https://acme.zendesk.com",
    domains=("*.zendesk.com",),  # https://{subdomain}.zendesk.com
    next_step="nothing: Baton created its webhook (and, in trigger mode, the trigger) through the API. "
              "Check Admin Center > Apps and integrations > Webhooks > Baton handoff.",
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, ZendeskMessagingClient, install)
