"""Freshdesk: an automation rule's webhook (or a Freshworks app's events) in, a ticket update and a
private note out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.freshdesk import webhook
from connectors.freshdesk.client import FreshdeskClient, install
from integration.model import Installation


@dataclass(frozen=True)
class Freshdesk:
    key = "freshdesk"
    verify = staticmethod(webhook.verify)
    parse = staticmethod(webhook.parse)

    @staticmethod
    def client(installation: Installation) -> FreshdeskClient:
        return FreshdeskClient(installation)

    @staticmethod
    def install(installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        return install(FreshdeskClient(installation), endpoint, mode)


CONNECTOR = Freshdesk()
