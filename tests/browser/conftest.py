"""Real Chromium (Debian's, driven by Playwright: no browser download), a Baton web server on a
free port with SQLite and the in-process queue, and one helpdesk sandbox with Baton installed:
what every browser test of the console, the panel and the marketplace apps starts from.

``world(key)`` gives a :class:`World`; each helpdesk's ``embed_<key>.py`` beside this file knows
how its sandbox shows Baton to a user (``open_console`` / ``open_panel`` return the Playwright
frame or page Baton's page is in)."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from cryptography.fernet import Fernet

import connectors
from connectors.sandbox import Driver
from integration.core.model import Installation
from integration.service.pipeline import Pipeline
from integration.service.settings import Settings
from integration.service.store import Store, Vault
from integration.service.tasks import LocalQueue
from integration.service.web import create_app
from integration.tools.local import Server, free_port, install_into

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The README's screenshots are refreshed with BATON_SCREENSHOTS=docs/screenshots ./run test tests/browser;
# otherwise they go to a temporary folder, so a test run leaves the tree as it was.
SCREENSHOTS = Path(os.environ.get("BATON_SCREENSHOTS") or Path(tempfile.gettempdir()) / "baton-screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

# Baton's global app credentials as a test deployment has them (each sandbox's app platform is
# configured with the same values, as the vendor would be when Baton registered its app)
APP_SETTINGS = dict(zendesk_client_id="baton-zendesk", zendesk_client_secret="zendesk-client-secret",
                    zendesk_app_id="4242", intercom_client_id="baton-intercom",
                    intercom_client_secret="intercom-client-secret", development=True)


@dataclass
class World:
    driver: Driver
    store: Store
    queue: LocalQueue
    server: Server
    settings: Settings
    installation: Installation | None

    @property
    def baton_url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is not installed (Debian: apt-get install chromium; .ci/run does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``world(key, install=True, rules=None)``: that helpdesk's sandbox and Baton, Baton installed
    with the operator's command (``install=False`` leaves installing to the app's own flow)."""
    made: list[World] = []

    def make(key: str, install: bool = True, rules: dict[str, Any] | None = None) -> World:
        secret, port = Fernet.generate_key().decode(), free_port()
        settings = Settings(database_url=f"sqlite:///{tmp_path}/baton-{key}.db", secret_key=secret,
                            public_url=f"http://127.0.0.1:{port}", **APP_SETTINGS)
        store = Store(settings.database_url, Vault(secret))
        store.migrate()
        queue = LocalQueue(Pipeline(store, park_after=30), drain_every=0.5)
        server = Server(create_app(settings, store=store, queue=queue), port=port)
        driver = connectors.driver(key)(retry_delays=(0.2, 0.5, 1.0))
        driver.start()
        w = World(driver, store, queue, server, settings, None)
        made.append(w)
        if install:
            w.installation = install_into(driver, store, server.url, rules=rules)
        return w

    yield make
    for w in made:
        w.driver.stop()
        w.server.stop()
        w.queue.stop()
