"""Intercom: signed webhook notifications in; assignment, tags and a note out."""
from connectors.base import VendorConnector
from connectors.intercom import webhook
from connectors.intercom.app import REGIONS
from connectors.intercom.client import IntercomClient, install
from integration.core.contract import CredentialField, Descriptor

DESCRIPTOR = Descriptor(
    key="intercom",
    name="Intercom",
    credentials=((CredentialField("access_token", "the app's access token"),
                  CredentialField("client_secret", "the app's client secret (signs notifications)")),),
    modes=("webhooks",),  # topics subscribed in the Developer Hub
    bot_name="Fin",  # Intercom's AI agent: its own verdict shows on the analytics page under this name
    example_url="https://api.intercom.io",
    domains=tuple(hosts.api.removeprefix("https://") for hosts in REGIONS.values()),  # one API host per region
    next_step="Developer Hub > your app > Webhooks: paste Baton's endpoint and tick the topics "
              + ", ".join(webhook.SUPPORTED_TOPICS) + ".",
)
CONNECTOR = VendorConnector(DESCRIPTOR, webhook, IntercomClient, install)
