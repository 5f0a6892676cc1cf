"""How Freshdesk shows Baton to a user: the app's packaged pages (``manifests/freshdesk/app/``) in
``<iframe id="baton-app">`` of the agent UI (the sandbox's), with Baton's HTML injected into them
by the app's shell. ``open_console`` / ``open_panel`` return the Playwright Frame it is in."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from integration.service.apps.freshdesk import issue_key


def ensure_app(world: Any) -> None:
    """The sandbox's app installation: the one its settings page made, or, when the operator's
    command installed Baton, one configured with a new app key of that installation (what the
    admin's settings page would have stored)."""
    sandbox = world.driver.sandbox
    if sandbox.app_secure_iparams.get("baton_key"):
        return
    inst = world.installation
    if inst is None:
        raise AssertionError("Baton is not installed: world(key) with install=True, or install the app first")
    key, change = issue_key(inst.id)
    world.store.change_settings(inst.id, change, "operator")
    sandbox.install_app({"baton_url": world.baton_url, "baton_host": urlsplit(world.baton_url).netloc,
                         "baton_installation": inst.id},
                        {"baton_key": key, "baton_secret": inst.webhook_secret})


def open_console(page: Any, world: Any, user: str = "admin") -> Any:
    """The full-page app (Apps in Freshdesk's left bar), as ``user`` ("admin" or "agent")."""
    ensure_app(world)
    page.goto(f"{world.driver.url}/a/apps/baton?as={world.driver.app_user(user)}")
    return _baton_frame(page)


def open_panel(page: Any, world: Any, ticket_id: Any, user: str = "agent") -> Any:
    """The ticket sidebar app on ticket ``ticket_id``, as ``user``."""
    ensure_app(world)
    page.goto(f"{world.driver.url}/a/tickets/{ticket_id}?as={world.driver.app_user(user)}")
    return _baton_frame(page)


def _baton_frame(page: Any) -> Any:
    frame = page.wait_for_selector("iframe#baton-app").content_frame()
    frame.wait_for_selector("#baton-root > *, #baton-problem")  # a page of Baton's, or why not
    return frame
