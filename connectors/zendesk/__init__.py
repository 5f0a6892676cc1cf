"""Zendesk Support: event-subscription or trigger webhooks in, one ticket update out."""
from __future__ import annotations

from dataclasses import dataclass

from connectors.zendesk import webhook
from typing import Any

from connectors.zendesk.client import ZendeskClient, install
from integration.model import Installation


@dataclass(frozen=True)
class Zendesk:
    key = "zendesk"
    verify = staticmethod(webhook.verify)
    parse = staticmethod(webhook.parse)

    @staticmethod
    def client(installation: Installation) -> ZendeskClient:
        return ZendeskClient(installation)

    @staticmethod
    def install(installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        return install(ZendeskClient(installation), endpoint, mode)


CONNECTOR = Zendesk()
