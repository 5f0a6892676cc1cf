"""Intercom: signed webhook notifications in; assignment, tags and a note out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.intercom import webhook
from connectors.intercom.client import IntercomClient, install
from integration.model import Installation


@dataclass(frozen=True)
class Intercom:
    key = "intercom"
    verify = staticmethod(webhook.verify)
    parse = staticmethod(webhook.parse)

    @staticmethod
    def client(installation: Installation) -> IntercomClient:
        return IntercomClient(installation)

    @staticmethod
    def install(installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        return install(IntercomClient(installation), endpoint, installation.credentials["client_secret"], mode)


CONNECTOR = Intercom()
