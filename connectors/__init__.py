"""One folder per helpdesk; the folder name is the connector key."""
from __future__ import annotations

from importlib import import_module

from connectors.base import Connector

KEYS = ("zendesk", "freshdesk", "intercom")


def get(key: str) -> Connector:
    """The connector for ``key``; KeyError for an unknown helpdesk."""
    if key not in KEYS:
        raise KeyError(key)
    return import_module(f"connectors.{key}").CONNECTOR  # type: ignore[no-any-return]
