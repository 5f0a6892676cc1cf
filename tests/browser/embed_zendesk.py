"""How the Zendesk sandbox shows Baton to a user, as Zendesk does: Baton's app (``manifests/zendesk``)
installed in the account, the user signed in, and Baton in the page's ``<iframe name="baton-app">``,
loaded by a signed POST. ``open_console`` / ``open_panel`` return that iframe's Playwright ``Frame``
once Baton's page is in it."""
from __future__ import annotations

from typing import Any, Callable

from integration.tools.local import show_app

TIMEOUT = 20_000  # ms


def signed_in(world: Any, user: str) -> str:
    """A sandbox user id: ``"admin"``/``"agent"`` are the driver's staff of that role, else an id."""
    return world.driver.staff(user) if user in ("admin", "agent") else str(user)


def baton_frame(page: Any, world: Any, until: Callable[[str], bool] = lambda url: True) -> Any:
    """The ``baton-app`` iframe of the page, once it shows a page of Baton's whose URL satisfies ``until``."""
    page.wait_for_selector("iframe#baton-app", state="attached", timeout=TIMEOUT)
    frame = page.frame(name="baton-app")
    assert frame is not None
    waited = 0
    while not (frame.url.startswith(world.baton_url) and until(frame.url)):
        assert waited < TIMEOUT, f"Baton's frame stayed at {frame.url}"
        page.wait_for_timeout(100)
        waited += 100
    frame.wait_for_selector("#baton-main", timeout=TIMEOUT)
    return frame


def open_app(page: Any, world: Any, user: str = "admin") -> Any:
    """The apps-bar page of Baton for ``user``: the frame with whatever Baton answered."""
    show_app(world.driver, world.store, world.settings, world.installation)
    page.goto(world.driver.console_url(signed_in(world, user)))
    return baton_frame(page, world)


def open_console(page: Any, world: Any, user: str = "admin") -> Any:
    show_app(world.driver, world.store, world.settings, world.installation)
    page.goto(world.driver.console_url(signed_in(world, user)))
    return baton_frame(page, world, lambda url: "/console/" in url)


def open_panel(page: Any, world: Any, ticket_id: str, user: str = "agent") -> Any:
    show_app(world.driver, world.store, world.settings, world.installation)
    page.goto(world.driver.panel_url(ticket_id, signed_in(world, user)))
    return baton_frame(page, world, lambda url: "/panel?" in url)
