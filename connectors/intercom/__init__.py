"""Intercom: signed webhook notifications in; assignment, tags and a note out."""
from connectors.base import VendorConnector
from connectors.intercom import webhook
from connectors.intercom.client import IntercomClient, install

CONNECTOR = VendorConnector("intercom", webhook, IntercomClient, install)
