"""The handoff metrics in each helpdesk's console, in real Chromium, on thirty days of demo
history: charts drawn, figures beside them, the calibration review one click from a draft."""
from __future__ import annotations

import importlib
import random

import pytest

import connectors
from integration.service.store import utcnow
from integration.tools.history import seed
from tests.browser.conftest import SCREENSHOTS


# Freshchat has no app of Baton's: its console opens through the Freshdesk app
# (tests/connectors/freshchat/test_console_link.py)
@pytest.mark.parametrize("key", [k for k in connectors.KEYS if connectors.driver(k).has_app])
def test_an_admin_reads_the_handoff_metrics_in_the_helpdesk(key, world, page):
    embed = importlib.import_module(f"tests.browser.embed_{key}")
    w = world(key)
    seed(w.store, w.installation.id, utcnow(), ["1", "2", "3"], rng=random.Random(11))
    frame = embed.open_console(page, w)
    frame.get_by_role("link", name="Analytics", exact=True).click()
    frame.locator("#headline").wait_for()
    assert "conversations with a bot" in frame.locator("#headline-handoff").inner_text()
    assert frame.locator("#handoff svg").count() >= 1 and frame.locator("#csat svg").count() >= 1
    assert frame.locator("#csat table").inner_text()  # every chart has its table
    page.screenshot(path=str(SCREENSHOTS / f"{key}-analytics.png"), full_page=False)
    frame.get_by_role("link", name="Calibration", exact=True).click()
    frame.locator("#count-over").wait_for()
    assert int(frame.locator("#count-over").inner_text()) > 0  # the demo history has needless handoffs
