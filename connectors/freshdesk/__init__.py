"""Freshdesk: an automation rule's webhook (or a Freshworks app's events) in, a ticket update and a
private note out."""
from connectors.base import VendorConnector
from connectors.freshdesk import webhook
from connectors.freshdesk.client import FreshdeskClient, install

CONNECTOR = VendorConnector("freshdesk", webhook, FreshdeskClient, install)
