"""Zendesk Support: event-subscription or trigger webhooks in, one ticket update out."""
from connectors.base import VendorConnector
from connectors.zendesk import webhook
from connectors.zendesk.client import ZendeskClient, install

CONNECTOR = VendorConnector("zendesk", webhook, ZendeskClient, install)
