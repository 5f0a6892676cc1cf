"""Installing Baton into a helpdesk account: the installation row, then the helpdesk side."""
from __future__ import annotations

from typing import Any, Mapping

import connectors
from integration.core.contract import ApiError
from integration.core.model import Installation
from integration.core.rules import load_rules
from integration.service.egress import check_base_url
from integration.service.store import Store


def install(store: Store, provider: str, base_url: str, credentials: Mapping[str, str], public_url: str,
            settings: Mapping[str, Any] | None = None, rules: Mapping[str, Any] | None = None,
            mode: str = "events", development: bool = False) -> Installation:
    """Create the installation, then its webhook in the helpdesk pointing at
    ``{public_url}/webhooks/{provider}/{installation id}``. The base URL and the rules are checked
    first (ValueError, nothing created): in production only the helpdesk's own public hosts are
    accepted, ``development`` also lets local sandboxes in (``egress.check_base_url``). If the
    helpdesk side fails, the installation is removed again."""
    load_rules(rules)  # a bad rule is refused before anything is created
    base_url = check_base_url(provider, base_url, development)
    connector = connectors.get(provider)
    inst = store.installations.add(provider, base_url, credentials, settings, rules)
    endpoint = f"{public_url.rstrip('/')}/webhooks/{provider}/{inst.id}"
    try:
        result = connector.install(inst, endpoint, mode)
    except Exception:  # unreachable host, wrong token …: leave nothing behind
        store.installations.delete(inst.id)
        raise
    # helpdesks that sign their webhooks choose the secret; for the others we made one. A second
    # webhook's secret (Zendesk's Conversations API) comes back as credentials: encrypted with them.
    more = result.get("credentials")
    store.installations.update(inst.id, webhook_secret=result.get("webhook_secret"),
                               settings={**inst.settings, **result["settings"]},
                               credentials={**inst.credentials, **more} if more else None)
    inst = store.installations.get(inst.id)  # type: ignore[assignment]
    try:  # a first roster now, so the first escalation can be routed; beat refreshes it
        store.installations.save_roster(inst.id, connector.client(inst).roster())
    except ApiError:
        pass
    return inst
