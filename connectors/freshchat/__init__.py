"""Freshdesk Messaging (Freshchat): RSA-signed webhooks in, the conversation's assignment and a
private message out."""
from connectors.base import VendorConnector
from connectors.freshchat import webhook
from connectors.freshchat.client import FreshchatClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="freshchat",
    name="Freshdesk Messaging",
    credentials=((CredentialField("token", "the API token (Admin > Configure > API Tokens), sent as a bearer"),
                  CredentialField("public_key", "the RSA public key shown in Admin > Webhooks, next to the URL")),),
    modes=("webhook",),  # the account's one webhook URL, pasted by the admin
    example_url="https://acme.freshchat.com",
    # https://{account}.freshchat.com/v2 (Botpress' client); the legacy https://api.freshchat.com/v2 (courier)
    domains=("*.freshchat.com", "api.freshchat.com"),
    next_step="Admin > Webhooks: turn webhooks on, paste Baton's endpoint printed below as the URL, tick "
              "Message Create, Conversation Assignment, Conversation Resolution and Conversation Reopen; "
              "the public key shown there is the --public-key given to this command",
    lists_changes=False,  # no conversation list by update time: the sweep cannot run (client.changed_since)
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, FreshchatClient, install)
