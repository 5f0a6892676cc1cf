"""One folder per helpdesk; the folder name is the connector key."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from integration.core.contract import Connector, Descriptor

if TYPE_CHECKING:
    from connectors.sandbox import Driver

# every sub-folder that is a package is a connector
KEYS = tuple(sorted(p.parent.name for p in Path(__file__).parent.glob("*/__init__.py")))


def get(key: str) -> Connector:
    """The connector for ``key``; KeyError for an unknown helpdesk."""
    if key not in KEYS:
        raise KeyError(key)
    return import_module(f"connectors.{key}").CONNECTOR  # type: ignore[no-any-return]


def descriptors() -> dict[str, Descriptor]:
    return {key: get(key).descriptor for key in KEYS}


def driver(key: str) -> type[Driver]:
    """The class that plays people on ``key``'s sandbox (demo, end-to-end tests, benches)."""
    if key not in KEYS:
        raise KeyError(key)
    return import_module(f"connectors.{key}.sandbox").DRIVER  # type: ignore[no-any-return]
