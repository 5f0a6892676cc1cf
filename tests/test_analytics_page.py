"""The analytics page, its CSV export and the knowledge export through Flask's test client, on
SQLite and PostgreSQL (admins only; one tenant never sees another's outcomes; no script or inline
style in the page), and ``python -m integration report`` / ``knowledge`` on a seeded SQLite database."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from integration.core.analytics import TABLES
from integration.service.console.session import Identity, issue
from integration.service.settings import Settings
from integration.service.store import Store, Vault, utcnow
from integration.service.web import create_app

KEY = Fernet.generate_key().decode()
ROOT = Path(__file__).resolve().parents[1]


class NoQueue:
    def enqueue_event(self, event_id, installation=None):
        pass

    def ping(self):
        pass


def seed(store: Store, inst_id: str, category: str = "billing", answer: str = "Refunded the duplicate charge.",
         handoffs: int = 12) -> None:
    """Yesterday: ``handoffs`` conversations handed over in ``category`` (solved in 20 minutes, half
    rated good), one the bot kept; forty days ago: one more handoff (outside 30 days)."""
    now = utcnow()
    day = now - timedelta(days=1)
    for i in range(handoffs):
        store.outcomes.record(inst_id, f"{category}-{i}", {
            "channel": "messaging", "bot_involved": True, "escalated": True, "escalated_at": day, "category": category,
            "reasons": ["risky_topic:billing_dispute"], "assigned_at": day + timedelta(minutes=1),
            "first_agent_reply_at": day + timedelta(minutes=4), "solved_at": day + timedelta(minutes=20),
            "csat": 1.0 if i % 2 else 0.0, "csat_at": day + timedelta(hours=1), "resolution": "refund issued",
            "suggested": "refund issued", "query_text": "I was charged twice", "answer_text": answer}, day)
    store.outcomes.record(inst_id, f"{category}-kept", {"bot_involved": True, "category": category,
                                                        "asked_for_human_later": True}, day)
    old = now - timedelta(days=40)
    store.outcomes.record(inst_id, f"{category}-old", {"bot_involved": True, "escalated": True, "escalated_at": old,
                                                       "category": "ancient_history"}, old)


@pytest.fixture
def console(store):
    app = create_app(Settings(database_url=store.url, secret_key=KEY), store=store, queue=NoQueue())
    a = store.installations.add("zendesk", "https://a.zendesk.com", {"token": "x"})
    b = store.installations.add("zendesk", "https://b.zendesk.com", {"token": "y"})
    seed(store, a.id)
    seed(store, b.id, category="tenant_b_secret", answer="Tenant B's private answer.", handoffs=3)
    return app, a, b


def get(app, inst, path, role="admin", **query):
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "7", "Ada", role, "zendesk"))
    return app.test_client().get(path, query_string={"s": token, **query})


def test_the_page_renders_charts_and_tables_for_an_admin(console):
    app, a, _ = console
    r = get(app, a, "/console/analytics")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for chart in ("weekly", "categories", "resolution", "preparation", "csat", "over", "under"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") >= 6 and html.count('<table class="c-table figures"') >= 10
    assert 'aria-current="page">last 30 days' in html
    # the figures of the 30 days: 12 handoffs and one kept with the bot; the older one is out
    assert "ancient history" not in html
    assert "13: 13 with a bot (12 handed over, 1 kept with the bot) and 0 human only" in html
    assert "12 of 13 conversations with a bot (92.3%)" in html
    assert "50% satisfied (95 % CI 25%–75%, n=12)" in html
    assert "median 20.0 min, p90 20.0 min (n=12)" in html
    assert "1 of 1 kept with the bot (100.0%)" in html
    assert "Refunded the duplicate charge." in html and "charts.css" in html
    # what the CSP and the Freshdesk embedding demand: no inline style, no inline script
    assert not re.search(r"\sstyle=", html) and "<style" not in html
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


def test_fins_own_verdict_shows_in_words_beside_batons_decisions(console, store):
    """An Intercom installation: Fin's verdicts read as sentences under "Fin's own verdict" (never
    the stored keys); a Zendesk one says its helpdesk told none."""
    app, a, _ = console
    fin = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "x"})
    day = utcnow() - timedelta(days=1)
    for i, (verdict, escalated) in enumerate([("escalated", True), ("escalated", False), ("procedure_handoff", True),
                                              ("resolved_confirmed", False), ("negative_feedback", True)]):
        store.outcomes.record(fin.id, f"c{i}", {"bot_involved": True, "escalated": escalated, "bot_verdict": verdict,
                                                "escalated_at": day if escalated else None}, day)
    html = get(app, fin, "/console/analytics").get_data(as_text=True)
    assert "Fin's own verdict" in html and "Fin told a verdict on 5 of 5 conversations with a bot." in html
    table = html[html.index('id="table-bot_verdicts"'):]
    table = table[:table.index("</table>")]
    cells = [re.sub(r"<[^>]+>", "|", r).strip("|").split("||") for r in re.findall(r"<tr class=\"c-table__row\">(.*?)</tr>", table)]
    assert cells == [["Fin resolved it, and the customer confirmed", "1", "0", "1"],
                     ["Fin escalated it to your team", "2", "1", "1"],
                     ["Fin handed it over at the end of a procedure", "1", "1", "0"],
                     ["Fin got negative feedback from the customer", "1", "1", "0"]]
    assert not re.search(r"resolved_confirmed|procedure_handoff|negative_feedback|bot_verdict\b", html.replace(
        "table=bot_verdicts", ""))
    csv_rows = list(csv.reader(io.StringIO(get(app, fin, "/console/analytics.csv", table="bot_verdicts")
                                           .get_data(as_text=True))))
    assert csv_rows[2] == ["escalated it to your team", "2", "1", "1"]
    zendesk = get(app, a, "/console/analytics").get_data(as_text=True)
    assert "The bot's own verdict" in zendesk and 'id="no-bot-verdicts"' in zendesk


def test_the_period_selector_and_a_bad_period(console):
    app, a, _ = console
    html = get(app, a, "/console/analytics", since="90d").get_data(as_text=True)
    assert "ancient history" in html and 'aria-current="page">last 90 days' in html
    r = get(app, a, "/console/analytics", since="1y")
    assert r.status_code == 400 and "since must be one of 7d, 30d, 90d" in r.get_data(as_text=True)
    for hostile in ("\x00", "7d\n", "∞", "9" * 5000, "../30d", "30D", "all"):
        for path in ("/console/analytics", "/console/analytics.csv"):
            assert get(app, a, path, since=hostile, table=hostile).status_code == 400


def test_too_few_ratings_show_no_csat_figure(console, store):
    app, _, b = console
    html = get(app, b, "/console/analytics").get_data(as_text=True)
    assert "too few ratings (n=3)" in html and "too few ratings (n=0)" in html


def test_csv_export_of_each_table(console):
    app, a, _ = console
    r = get(app, a, "/console/analytics.csv", table="handoff_categories")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="baton-handoff_categories-30d.csv"'
    assert list(csv.reader(io.StringIO(r.get_data(as_text=True)))) == [
        ["category", "category key", "conversations with a bot", "handed over", "handoff rate"],
        ["billing", "billing", "13", "12", "0.9231"]]
    rows = list(csv.DictReader(io.StringIO(get(app, a, "/console/analytics.csv", table="csat").get_data(as_text=True))))
    assert [(x["group"], x["ratings"], x["CSAT"], x["95 % low"]) for x in rows] == [
        ("AI → human", "12", "0.5000", "0.2538"), ("human only", "0", "", "")]
    old = get(app, a, "/console/analytics.csv", table="resolution", since="90d").get_data(as_text=True)
    assert "ancient_history" not in old  # handed over but never solved: no resolution time
    for name in TABLES:
        assert get(app, a, "/console/analytics.csv", table=name).status_code == 200
    r = get(app, a, "/console/analytics.csv", table="secrets")
    assert r.status_code == 400 and "table must be one of handoff_weeks" in r.get_data(as_text=True)
    assert get(app, a, "/console/analytics.csv").status_code == 400
    assert get(app, a, "/console/analytics.csv", table="csat", since="forever").status_code == 400


def test_knowledge_export_as_json_and_csv(console):
    app, a, _ = console
    r = get(app, a, "/console/knowledge.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = json.loads(r.get_data(as_text=True))
    assert body["installation"] == a.id and body["since"] is None and body["gap_minutes"] == 30.0
    [billing] = body["categories"]
    assert billing["category"] == "billing" and billing["resolved"] == 12
    assert billing["answers"][0]["text"] == "Refunded the duplicate charge." and billing["answers"][0]["times"] == 12
    assert body["gaps"] == [{"category": "billing", "label": "billing", "handed_over": 12, "resolved": 12,
                             "median_resolution_minutes": 20.0, "answer": "Refunded the duplicate charge."}]
    lines = get(app, a, "/console/knowledge.csv", since="7d").get_data(as_text=True).splitlines()
    assert lines[0].startswith("category,category key,resolved,median resolution (min),answer,times")
    assert lines[1].startswith("billing,billing,12,20.0,Refunded the duplicate charge.,12,refund issued,")
    assert get(app, a, "/console/knowledge.xml").status_code == 404
    assert get(app, a, "/console/knowledge.json", since="1y").status_code == 400


def test_agents_are_refused_and_sessions_are_required(console):
    app, a, _ = console
    for path in ("/console/analytics", "/console/analytics.csv", "/console/knowledge.json", "/console/knowledge.csv"):
        r = get(app, a, path, role="agent", table="csat")
        assert r.status_code == 403 and "administrators can use Baton" in r.get_data(as_text=True)
        assert app.test_client().get(path, query_string={"table": "csat"}).status_code == 401


def test_another_tenants_outcomes_are_never_shown(console):
    app, a, b = console
    pages = [get(app, a, "/console/analytics", since="90d"), get(app, a, "/console/knowledge.json"),
             get(app, a, "/console/knowledge.csv"),
             *(get(app, a, "/console/analytics.csv", table=n, since="90d") for n in TABLES)]
    for page in pages:
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "tenant_b_secret" not in text and "tenant b secret" not in text and "Tenant B" not in text
        assert b.id not in text
    assert "tenant b secret" in get(app, b, "/console/analytics").get_data(as_text=True)


def test_the_report_and_knowledge_commands_print_the_same_tables(tmp_path):
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/baton.db"
    store = Store(url, Vault(key))
    store.migrate()
    inst = store.installations.add("zendesk", "https://a.zendesk.com", {"token": "x"})
    seed(store, inst.id)
    store.engine.dispose()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "BATON_SECRET_KEY": key}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=120)

    p = run("report", "--installation", inst.id, "--since", "30d")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.startswith(f"handoff metrics of {inst.id} (Zendesk https://a.zendesk.com): 13 conversations first "
                          "seen since ")
    assert "13 with a bot: 12 handed over, 1 kept with the bot; 0 human only" in out
    assert "CSAT counts those who rated “good” (Zendesk asks good or bad) among those who rated" in out
    assert "suggestion hit rate: 100% (12 of 12 handoffs whose suggested and final resolution types are known)" in out
    assert "CSAT AI → human: 50% satisfied (95 % CI 25%–75%, n=12)" in out
    assert "CSAT human only: too few ratings (n=0)" in out
    assert re.search(r"^billing\s+13\s+12\s+92\.3%$", out, re.M)  # handoff rate by category (its key only in the CSV)
    assert re.search(r"^all\s+12\s+20\.0\s+20\.0$", out, re.M)  # resolution time
    assert "Under-escalations by category" in out and "ancient history" not in out
    assert "ancient history" in run("report", "--installation", inst.id, "--since", "90d").stdout

    k = run("knowledge", "--installation", inst.id, "--format", "json")
    assert k.returncode == 0 and json.loads(k.stdout)["categories"][0]["answers"][0]["times"] == 12
    c = run("knowledge", "--installation", inst.id, "--format", "csv")
    assert c.stdout.splitlines()[1].startswith("billing,billing,12,20.0,Refunded the duplicate charge.,12,")

    bad = run("report", "--installation", inst.id, "--since", "soon")
    assert bad.returncode == 2 and "--since: a period is a number of days" in bad.stderr
    missing = run("report", "--installation", "nobody")
    assert missing.returncode == 2 and "no installation 'nobody' (python -m integration installations lists them)" in (
        missing.stderr)


def test_bars_keep_each_whisker_with_its_bar_and_the_line_breaks_on_an_empty_week():
    from integration.service.console.analytics import bars, line

    chart = bars("t", [("a", 10.0, "10"), ("b", None, "–"), ("c", 20.0, "20")], [40.0, None, 30.0])
    assert [(b.label, b.y, b.width, b.whisker) for b in chart.bars] == [("a", 0.0, 52.0, 208.0),
                                                                          ("c", 34.0, 104.0, 156.0)]
    assert bars("t", [], empty="None.").bars == ()
    weekly = line("t", [("2026-W01", 0.2, "a"), ("2026-W02", None, "b"), ("2026-W03", 0.4, "c")])
    assert [[(p.x, p.y) for p in s] for s in weekly.segments] == [[(40.0, 66.0)], [(308.0, 12.0)]]
    assert [label for _, label in weekly.grid] == ["0%", "20%", "40%"]


def test_small_samples_are_marked_and_each_helpdesk_has_its_own_rating_words(console, store):
    """A week of 3 conversations is a hollow point with a note, not a spike like any other; the CSAT
    and under-escalation definitions use the helpdesk's own survey words."""
    app, a, _ = console
    quiet = utcnow() - timedelta(days=20)
    for i in range(3):
        store.outcomes.record(a.id, f"quiet-{i}", {"bot_involved": True, "escalated": i == 0,
                                                   "escalated_at": quiet if i == 0 else None}, quiet)
    html = get(app, a, "/console/analytics").get_data(as_text=True)
    assert html.count('class="dot dot--small"') >= 1 and "only 3 conversations: too few to compare" in html
    assert "A hollow point is a week with fewer than 10 conversations with a bot" in html
    assert 'class="bar bar--small"' in html or "small sample" in html
    assert "rated “good” (Zendesk asks good or bad)" in html
    fin = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "x"})
    intercom = get(app, fin, "/console/analytics").get_data(as_text=True)
    assert "rated 4 or 5 of 5 (“great” or “amazing”)" in intercom and "rated 1 or 2 of 5" in intercom
    assert "Zendesk" not in intercom
    desk = store.installations.add("freshdesk", "https://acme.freshdesk.com", {"api_key": "x"})
    assert "“very happy” or “extremely happy”" in get(app, desk, "/console/analytics").get_data(as_text=True)
