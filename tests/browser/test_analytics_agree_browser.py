"""The handoff metrics page on thirty days of demo history, in real Chromium: every table counts the
same conversations as the headline (one definition per figure)."""
from __future__ import annotations

import random
import re

from integration.service.console.session import Identity, issue
from integration.service.settings import Settings
from integration.service.store import Store, Vault, utcnow
from integration.service.web import create_app
from integration.tools import history
from integration.tools.demo import TRACKED
from integration.tools.local import Server, free_port
from tests.test_analytics_page import KEY, NoQueue


def test_an_admin_reads_figures_that_agree_in_a_real_browser(tmp_path, browser):
    """The page on thirty days of demo history in Chromium: the headline, the handoff-rate table and
    the over- and under-escalation tables count the same conversations, categories read as the
    admin named their topics (never a stored key), and a category kept with the bot is not 100 %."""
    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(KEY))
    store.migrate()
    inst = store.installations.add("zendesk", "https://a.zendesk.com", {"token": "x"}, rules={"topics": TRACKED})
    history.seed(store, inst.id, utcnow(), ["1", "2"], rng=random.Random(5))
    app = create_app(Settings(database_url=store.url, secret_key=KEY), store=store, queue=NoQueue())
    server = Server(app, port=free_port())
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        token = issue(app.config["SECRET_KEY"], Identity(inst.id, "7", "Ada", "admin", "zendesk"))
        page.goto(f"{server.url}/console/analytics?s={token}")
        page.locator("#headline").wait_for()
        conversations = page.locator("#headline-conversations").inner_text()
        with_bot, handed, kept = (int(x) for x in re.match(
            r"\d+: (\d+) with a bot \((\d+) handed over, (\d+) kept with the bot\)", conversations).groups())
        assert with_bot == handed + kept
        assert page.locator("#headline-handoff").inner_text().startswith(f"{handed} of {with_bot} conversations")
        assert page.locator("#headline-over").inner_text().split(" handed over")[0].endswith(f"of {handed}")
        assert page.locator("#headline-under").inner_text().split(" kept with")[0].endswith(f"of {kept}")

        def column(table: str, n: int) -> list[str]:
            return page.locator(f"#table-{table} tbody tr").evaluate_all(
                f"rows => rows.map(r => r.children[{n}].innerText)")

        categories = column("handoff_categories", 0)
        assert sum(int(x) for x in column("handoff_categories", 1)) == with_bot
        assert sum(int(x) for x in column("handoff_categories", 2)) == handed
        assert "invoices and receipts" in categories and "refund" in categories
        assert not any("_" in c for c in categories)  # labels, not keys
        assert any(r not in ("100.0%", "0.0%") for r in column("handoff_categories", 3))
        over = dict(zip(column("over_by_category", 0), column("over_by_category", 1)))
        assert int(over["all"]) == handed
        under = dict(zip(column("under_by_category", 0), column("under_by_category", 1)))
        assert int(under["all"]) == kept
        page.screenshot(path=str(tmp_path / "analytics.png"), full_page=False)
    finally:
        context.close()
        server.stop()
        store.engine.dispose()
