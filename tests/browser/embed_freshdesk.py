"""How Freshdesk shows Baton to a user: the app's packaged pages (``manifests/freshdesk/app/``) in
``<iframe id="baton-app">`` of the agent UI (the sandbox's), with Baton's HTML injected into them
by the app's shell. ``open_console`` / ``open_panel`` return the Playwright Frame it is in."""
from __future__ import annotations

from typing import Any

from integration.tools.local import show_app


def ensure_app(world: Any) -> None:
    """The sandbox's app installation: the one its settings page made, or, when the operator's
    command installed Baton, one configured as the settings page would have left it."""
    if world.driver.sandbox.app_secure_iparams.get("baton_key"):
        return
    if world.installation is None:
        raise AssertionError("Baton is not installed: world(key) with install=True, or install the app first")
    show_app(world.driver, world.store, world.settings, world.installation)


def open_console(page: Any, world: Any, user: str = "admin") -> Any:
    """The full-page app (Apps in Freshdesk's left bar), as ``user`` ("admin" or "agent")."""
    ensure_app(world)
    page.goto(world.driver.console_url(user))
    return _baton_frame(page)


def open_panel(page: Any, world: Any, ticket_id: Any, user: str = "agent") -> Any:
    """The ticket sidebar app on ticket ``ticket_id``, as ``user``."""
    ensure_app(world)
    page.goto(world.driver.panel_url(ticket_id, user))
    return _baton_frame(page)


def _baton_frame(page: Any) -> Any:
    frame = page.wait_for_selector("iframe#baton-app").content_frame()
    frame.wait_for_selector("#baton-root > *, #baton-problem")  # a page of Baton's, or why not
    return frame
