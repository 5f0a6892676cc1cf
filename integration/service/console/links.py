"""Where a person opens a conversation in its own helpdesk, from the console (activity, preview)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from connectors.intercom.app import REGIONS


def ticket_link(inst: Any, ticket_id: Any) -> str | None:
    """The agent's address of ``ticket_id`` in the installation's helpdesk, as each connector's
    client names it in a conversation's ``url`` (Zendesk's agent UI, Freshdesk's, Intercom's inbox
    on the app host of the workspace's region). A development installation (a sandbox at a local
    address) gets the same paths on the sandbox, which serves them."""
    if inst is None or ticket_id in (None, ""):
        return None
    tid = quote(str(ticket_id), safe="")
    base = (inst.base_url or "").rstrip("/")
    if inst.provider == "zendesk":
        return f"{base}/agent/tickets/{tid}"
    if inst.provider == "freshdesk":
        return f"{base}/a/tickets/{tid}"
    if inst.provider == "intercom":
        workspace = quote(str(inst.settings.get("app_id") or "_"), safe="")
        app = next((hosts.app for hosts in REGIONS.values() if hosts.api.rstrip("/") == base), None)
        if app is None:  # not one of Intercom's API hosts: a sandbox, which serves the inbox itself
            host = urlsplit(base)
            app = f"{host.scheme}://{host.netloc}"
        return f"{app}/a/inbox/{workspace}/inbox/conversation/{tid}"
    return None
