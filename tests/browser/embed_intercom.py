"""How Intercom shows Baton to a teammate, on the sandbox: the console is Baton's own page, reached
through the app's Installation URL and Intercom's OAuth consent (Intercom has no settings page
for apps); the panel is the Canvas Kit card in a conversation's details in the inbox.

The sandbox's app is registered from ``manifests/intercom/app.json`` with the test deployment's
credentials, as Baton's app is in the Developer Hub; its Installation URL names the sandbox
(``?host=``), as a development deployment's does."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from connectors.intercom.sandbox import AppRegistration, IntercomSandbox

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "intercom" / "app.json"


def register_app(world: Any) -> AppRegistration:
    """Baton's app in the sandbox's Developer Hub (once per world)."""
    sandbox: IntercomSandbox = world.driver.sandbox
    if sandbox.registered_app is None:
        m = json.loads(MANIFEST.read_text())

        def url(template: str) -> str:
            return template.replace("{public_url}", world.baton_url)

        sandbox.register_app(AppRegistration(
            client_id=world.settings.intercom_client_id, client_secret=world.settings.intercom_client_secret,
            name=m["name"], description=m["description"],
            installation_url=f"{url(m['installation']['installation_url'])}?{urlencode({'host': sandbox.url})}",
            redirect_urls=tuple(url(u) for u in m["authentication"]["redirect_urls"]),
            initialize_url=url(m["canvas_kit"]["initialize_url"]), submit_url=url(m["canvas_kit"]["submit_url"]),
            uninstall_url=url(m["installation"]["uninstall_url"]), permissions=tuple(m["authentication"]["permissions"])))
    return sandbox.registered_app  # type: ignore[return-value]


def teammate(world: Any, user: str) -> str:
    """The sandbox teammate playing ``user``: "admin" is whose authorization Baton acts with (the
    operator's token, or a new teammate who is about to install Baton); "agent" a support agent; any
    other value is a teammate id."""
    sandbox: IntercomSandbox = world.driver.sandbox
    if user == "admin":
        if world.installation is not None:
            return str(world.installation.settings["api_user_id"])
        return str(sandbox.add_admin("Ada Admin", "ada@yourco.example")["id"])
    if user == "agent":
        return world.driver.human()  # type: ignore[no-any-return]
    return user


def open_console(page: Any, world: Any, user: str = "admin") -> Any:
    """``user`` signs in to Intercom, installs Baton from the App Store, authorizes it on Intercom's
    consent page and lands on what Baton answers (the console for its admins). Returns the page."""
    sandbox: IntercomSandbox = world.driver.sandbox
    register_app(world)
    page.goto(f"{sandbox.url}/a/login?{urlencode({'as': teammate(world, user), 'next': '/a/appstore'})}")
    page.click("#install")
    page.wait_for_selector("#consent")
    with page.expect_navigation(url=lambda u: u.startswith(world.baton_url)):
        page.click("#authorize")
    return page


def open_panel(page: Any, world: Any, ticket_id: str, user: str = "agent") -> Any:
    """``user`` opens the conversation in the inbox; the page shows Baton's card in its details."""
    register_app(world)
    page.goto(f"{world.driver.url}/a/inbox/conversation/{ticket_id}?{urlencode({'as': teammate(world, user)})}")
    page.wait_for_selector("#app-card")
    return page
