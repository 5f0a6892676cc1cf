"""One folder per helpdesk; the folder name is the connector key."""
from __future__ import annotations

from connectors.base import Connector


def get(key: str) -> Connector:
    """The connector for ``key``; KeyError for an unknown helpdesk."""
    if key == "zendesk":
        from connectors.zendesk import CONNECTOR

        return CONNECTOR  # type: ignore[return-value]
    raise KeyError(key)


KEYS = ("zendesk",)
