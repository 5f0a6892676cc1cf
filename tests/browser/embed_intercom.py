"""How Intercom shows Baton to a teammate, on the sandbox: the console is Baton's own page, reached
through the app's Installation URL and Intercom's OAuth consent (Intercom has no settings page
for apps); the panel is the Canvas Kit card in a conversation's details in the inbox. The
sandbox's app is registered from ``manifests/intercom/app.json`` with the test deployment's
credentials (``IntercomDriver.show_app``)."""
from __future__ import annotations

from typing import Any

from integration.tools.local import show_app


def register_app(world: Any) -> None:
    """Baton's app in the sandbox's Developer Hub (once per world)."""
    if world.driver.sandbox.registered_app is None:
        show_app(world.driver, world.store, world.settings, world.installation)


def teammate(world: Any, user: str) -> str:
    register_app(world)
    return world.driver.teammate(user)  # type: ignore[no-any-return]


def open_console(page: Any, world: Any, user: str = "admin") -> Any:
    """``user`` signs in to Intercom and opens Baton from the App Store (*Install now*, or *Open* once
    it is installed), authorizes it on Intercom's consent page unless Baton opens the console at once
    (a session of this browser within its hour), and lands on what Baton answers (the console for its
    admins). Returns the page."""
    register_app(world)
    page.goto(world.driver.console_url(user))
    page.locator("#install, #open").first.click()
    page.wait_for_url(lambda u: u.startswith(world.baton_url) or "/oauth" in u)
    if page.locator("#consent").count():
        with page.expect_navigation(url=lambda u: u.startswith(world.baton_url)):
            page.click("#authorize")
    return page


def open_panel(page: Any, world: Any, ticket_id: str, user: str = "agent") -> Any:
    """``user`` opens the conversation in the inbox; the page shows Baton's card in its details."""
    register_app(world)
    page.goto(world.driver.panel_url(ticket_id, user))
    page.wait_for_selector("#app-card")
    return page
