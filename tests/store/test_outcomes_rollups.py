"""The analytics' rollups (integration/service/store/outcomes_rollups.py, issue 22): the report summed from the
closed days' rollups and the open days' outcomes is the report of the outcomes themselves, on a
hand-built history and after what changes a closed day (a late rating, a reopen, a solve, the
agents' feedback, a new answer, a new category, a conversation recorded late, the retention), on
SQLite and PostgreSQL; the rollups kept up to date are the ones a rebuild counts; the command."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from integration.core import analytics
from integration.core.tally import NO_CATEGORY, Tally
from integration.service.reports import handoff_report, topic_labels
from integration.service.store import Store, outcomes_rollups, rollup_marks
from integration.service.store import rollups as rollup_rows

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
CUT = NOW - timedelta(days=7)  # conversations nobody answered first seen by then are abandoned
CATEGORIES = ["billing", "refund", "outage", None]
ANSWERS = ["Refunded order 1234.", "refunded order 98765.", "Explained the invoice.", "Known incident INC-7."]
TOPICS = topic_labels(None)  # the default topics: what an installation made without rules has
SINCES = [None, NOW - timedelta(days=30), NOW - timedelta(days=10, hours=5), NOW - timedelta(days=3),
          datetime(2026, 11, 20, tzinfo=UTC), CUT]


def history(store: Store, inst_id: str, n: int = 160, seed: int = 7) -> None:
    """``n`` conversations first seen over the 20 days before NOW: with and without a bot, handed
    over or kept, assigned, answered, solved with an answer, reopened, rated, with suggestions and
    the bot's verdicts; and unanswered ones on each side of the abandonment cut."""
    rng = random.Random(seed)
    for i in range(n):
        at = NOW - timedelta(minutes=rng.randint(0, 20 * 24 * 60))
        bot = rng.random() < 0.8
        escalated = bot and rng.random() < 0.45
        values = dict(bot_involved=bot, escalated=escalated, category=rng.choice(CATEGORIES),
                      reasons=rng.sample(["sentiment", "explicit_request", "loop", "risky_topic:refund"], rng.randint(0, 2)),
                      bot_verdict=rng.choice([None, None, "escalated", "resolved_confirmed"]) if bot else None,
                      asked_for_human_later=bot and not escalated and rng.random() < 0.1)
        if escalated:
            assigned = at + timedelta(minutes=rng.uniform(1, 30))
            values.update(escalated_at=at, assigned_at=assigned, suggested=rng.choice(["refund issued", None]),
                          first_agent_reply_at=assigned + timedelta(minutes=rng.uniform(0.5, 40)))
        if rng.random() < 0.7 and at < NOW - timedelta(hours=2):
            values.update(solved_at=at + timedelta(minutes=rng.uniform(2, 900)),
                          resolution=rng.choice(["refund issued", "how-to answered", None]),
                          answer_text=rng.choice(ANSWERS) if escalated else None)
        if rng.random() < 0.3:
            values.update(csat=rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]))
        if rng.random() < 0.08:
            values.update(reopens=1)
        store.outcomes.record(inst_id, f"t{i}", values, at)
    for name, at in (("cut", CUT), ("after-cut", CUT + timedelta(hours=1)), ("before-cut", CUT - timedelta(hours=1)),
                     ("today", NOW - timedelta(hours=1))):
        store.outcomes.record(inst_id, name, {"bot_involved": True, "category": "refund"}, at)


def raw(store: Store, inst_id: str, since: datetime | None) -> analytics.Report:
    topics = topic_labels(store.installations.get(inst_id))
    return analytics.report(store.outcomes.rows(inst_id), NOW, since, topics=topics)


def assert_same(store: Store, inst_id: str) -> None:
    """For every period: the report from the rollups is the report from the outcomes, table by table."""
    for since in SINCES:
        summed, counted = handoff_report(store, inst_id, NOW, since), raw(store, inst_id, since)
        assert analytics.tables(summed) == analytics.tables(counted), since
        assert analytics.knowledge_json(summed) == analytics.knowledge_json(counted), since
        assert summed.conversations == counted.conversations


def cells(store: Store, inst_id: str) -> dict[tuple, Tally]:
    with store.engine.connect() as conn:
        return {(d, c): Tally.from_json(d, c, f) for d, c, f in conn.execute(
            select(rollup_rows.c.day, rollup_rows.c.category, rollup_rows.c.figures)
            .where(rollup_rows.c.installation_id == inst_id))}


@pytest.fixture
def installed(store):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "x"})
    history(store, inst.id)
    return store, inst.id


def test_the_report_from_rollups_is_the_report_from_the_outcomes(installed):
    store, inst_id = installed
    assert_same(store, inst_id)
    with store.engine.connect() as conn:  # the closed days are rows now, up to NOW's day
        assert conn.execute(select(rollup_marks.c.through)).scalar().date() == NOW.date()
    counted = cells(store, inst_id)
    assert len(counted) > 40 and max(day for day, _ in counted) == NOW.date() - timedelta(days=1)
    closed = [r for r in store.outcomes.rows(inst_id) if r["created_at"].date() < NOW.date()]
    assert sum(t.conversations for t in counted.values()) == len(closed) > 100  # all but today's


def test_what_changes_a_closed_day_changes_its_rollup(installed):
    """A late rating, a reopen, a solve with an answer, the panel's feedback, a new answer wording,
    a new category, a first reply and a conversation recorded late: each moves its closed day's
    rollup in its own transaction, exactly as counting the day again would."""
    store, inst_id = installed
    before = handoff_report(store, inst_id, NOW, None)  # counts the closed days
    rows = {r["ticket_id"]: r for r in store.outcomes.rows(inst_id)}
    old = [r for r in rows.values() if r["created_at"] < NOW - timedelta(days=2)]
    kept = next(r for r in old if r["bot_involved"] and not r["escalated"] and r["csat"] is None and not r["reopens"])
    store.outcomes.record(inst_id, kept["ticket_id"], {"csat": 0.0}, NOW)  # a late bad rating
    other = next(r for r in old if r["bot_involved"] and not r["escalated"] and r["ticket_id"] != kept["ticket_id"]
                 and not r["reopens"] and not (r["csat"] is not None and r["csat"] < 0.5) and not r["asked_for_human_later"])
    store.outcomes.record(inst_id, other["ticket_id"], {"reopens": 1}, NOW)
    open_handoff = next(r for r in old if r["escalated"] and r["solved_at"] is None)
    store.outcomes.record(inst_id, open_handoff["ticket_id"], {
        "solved_at": open_handoff["escalated_at"] + timedelta(minutes=5), "resolution": "how-to answered",
        "answer_text": "Sent the reset link to order 55."}, NOW)
    answered = next(r for r in old if r["escalated"] and r["answer_text"])
    store.decisions.record_feedback(inst_id, answered["ticket_id"], author_id="7", author_name="Sam", verdict="not_needed",
                                    resolution="policy exception", missing_knowledge="The refund  policy page")
    latest = max((r for r in old if r["escalated"] and r["answer_text"]), key=lambda r: r["solved_at"])
    store.outcomes.record(inst_id, latest["ticket_id"], {"answer_text": "A new wording altogether."}, NOW)
    twins = NOW - timedelta(days=9)  # one answer said twice on a closed day; its latest wording changes
    for name, minutes, order in (("twin-a", 10, 1), ("twin-b", 20, 2)):
        store.outcomes.record(inst_id, name, {"bot_involved": True, "escalated": True, "category": "twins",
                                              "escalated_at": twins, "solved_at": twins + timedelta(minutes=minutes),
                                              "answer_text": f"Twin answer for order {order}."}, twins)
    store.outcomes.record(inst_id, "twin-b", {"answer_text": "Something else entirely."}, NOW)
    moved = next(r for r in old if r["escalated"] and r["category"] == "billing")
    store.outcomes.record(inst_id, moved["ticket_id"], {"category": "brand_new_topic"}, NOW)
    unreplied = next((r for r in old if r["escalated"] and r["first_agent_reply_at"] is None), None)
    if unreplied is None:
        store.outcomes.record(inst_id, "late-handoff", {"bot_involved": True, "escalated": True, "category": "outage",
                                                        "escalated_at": NOW - timedelta(days=4)}, NOW - timedelta(days=4))
        unreplied = {"ticket_id": "late-handoff"}
    with store.engine.begin() as conn:
        outcomes_rollups.first_reply(conn, inst_id, unreplied["ticket_id"], NOW)
    store.outcomes.record(inst_id, "recorded-late", {"bot_involved": True, "escalated": True, "category": "refund",
                                                     "escalated_at": NOW - timedelta(days=6)}, NOW - timedelta(days=6))

    assert_same(store, inst_id)
    after = handoff_report(store, inst_id, NOW, None)
    assert after.csat[0].ratings + after.csat[1].ratings >= before.csat[0].ratings + before.csat[1].ratings
    assert after.under.total.causes["rated_badly"] == before.under.total.causes["rated_badly"] + 1
    assert after.under.total.causes["reopened"] == before.under.total.causes["reopened"] + 1
    assert after.conversations == before.conversations + 3 + (unreplied["ticket_id"] == "late-handoff")
    twin = {k.category: k for k in after.knowledge}["twins"]
    assert [(a.text, a.times) for a in twin.answers] == [("Something else entirely.", 1), ("Twin answer for order 1.", 1)]
    assert "brand_new_topic" in {r.category for r in after.handoff.by_category}
    assert any("The refund policy page" in k.missing for k in after.knowledge)
    assert any(a.text == "A new wording altogether." for k in after.knowledge for a in k.answers)
    incremental = cells(store, inst_id)
    outcomes_rollups.rebuild(store.engine, inst_id, NOW.date(), TOPICS)
    assert cells(store, inst_id) == incremental  # what the changes left is what counting again gives


def test_a_change_to_an_open_day_leaves_the_rollups_alone(installed):
    """Today's conversations are counted from the outcomes: writing them touches no rollup row."""
    store, inst_id = installed
    handoff_report(store, inst_id, NOW, None)
    before = cells(store, inst_id)
    store.outcomes.record(inst_id, "today", {"csat": 0.0, "reopens": 2}, NOW)
    store.outcomes.record(inst_id, "brand-new", {"bot_involved": True, "escalated": True}, NOW)
    store.decisions.record_feedback(inst_id, "today", author_id="7", author_name="Sam", verdict="not_needed", resolution=None,
                                    missing_knowledge="x")
    assert cells(store, inst_id) == before
    assert_same(store, inst_id)


def test_the_retention_takes_the_answers_out_of_the_rollups_too(installed):
    store, inst_id = installed
    handoff_report(store, inst_id, NOW, None)
    assert any(t.answers for t in cells(store, inst_id).values())
    store.lifecycle.apply_retention(inst_id, days=5, now=NOW)
    assert_same(store, inst_id)
    for (day, _), t in cells(store, inst_id).items():
        assert not t.answers or day >= (NOW - timedelta(days=6)).date()  # the rows hold no text older than that


def test_a_change_made_while_a_day_is_being_counted_is_not_lost(installed):
    """Counting the closed days waits for a transaction that is changing an outcome of one of them
    (it saw no counted day, so it moves no rollup): the count then includes the change."""
    store, inst_id = installed
    old = next(r for r in store.outcomes.rows(inst_id) if r["created_at"] < NOW - timedelta(days=3) and r["csat"] is None)
    counting = threading.Thread(target=outcomes_rollups.settle, args=(store.engine, inst_id, NOW.date(), TOPICS))
    with store.engine.begin() as conn:
        outcomes_rollups.record(conn, inst_id, old["ticket_id"], {"csat": 0.0}, NOW)
        counting.start()
        counting.join(0.5)
        assert counting.is_alive()  # waiting for this transaction
    counting.join(30)
    assert not counting.is_alive()
    assert_same(store, inst_id)


def test_an_uninstall_takes_the_rollups_with_it(installed):
    store, inst_id = installed
    handoff_report(store, inst_id, NOW, None)
    counts = store.lifecycle.uninstall(inst_id, "test")
    assert counts["rollups"] > 40 and counts["rollup_marks"] == 1 and cells(store, inst_id) == {}


def test_rollups_another_version_counted_are_counted_again(installed):
    """A new version of Baton that counts differently never sums an older version's rows with its own."""
    store, inst_id = installed
    handoff_report(store, inst_id, NOW, None)
    with store.engine.begin() as conn:
        conn.execute(update(rollup_rows).values(figures={"v": 0, "n": 1}))
    old = next(r for r in store.outcomes.rows(inst_id) if r["created_at"] < NOW - timedelta(days=3))
    store.outcomes.record(inst_id, old["ticket_id"], {"csat": 1.0}, NOW)  # its day's row is counted again
    assert_same(store, inst_id)
    assert all(t.conversations for t in cells(store, inst_id).values())


def test_old_reason_categories_count_under_their_topic_and_a_change_of_topics_counts_again(store):
    """Outcomes recorded before every conversation got its topic (their category the signal or the
    segment) count under the topic their reasons name; rollups counted with other topics than the
    installation's now are counted again (a topic named as an old category changes where it counts)."""
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "x"})
    day = NOW - timedelta(days=4)
    for name, category, reasons in (("1", "explicit_request", ["explicit_request", "risky_topic:refund"]),
                                    ("2", "frustration", ["sentiment"]), ("3", "vip", ["segment"]),
                                    ("4", "refund", ["risky_topic:refund"])):
        store.outcomes.record(inst.id, name, {"bot_involved": True, "escalated": True, "escalated_at": day,
                                              "category": category, "reasons": reasons}, day)
    rates = {r.category: r.escalated for r in handoff_report(store, inst.id, NOW, None).handoff.by_category}
    assert rates == {"refund": 2, NO_CATEGORY: 2}
    assert_same(store, inst.id)
    store.installations.update(inst.id, rules={"topics": {"vip": {"label": "VIP", "phrases": ["vip"], "action": "ignore"}}})
    rates = {r.category: r.escalated for r in handoff_report(store, inst.id, NOW, None).handoff.by_category}
    assert rates == {"refund": 2, "vip": 1, NO_CATEGORY: 1}
    assert_same(store, inst.id)


def test_abandoned_is_decided_to_the_instant_on_the_cut_day(store):
    """Kept with the bot, nobody answered: abandoned once seven days old, to the instant, though the
    closed days' rollups count whole days (the cut's day is counted from its outcomes, split there)."""
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "x"})
    for name, at in (("cut", CUT), ("after-cut", CUT + timedelta(hours=1)), ("before-cut", CUT - timedelta(hours=1)),
                     ("day-before", CUT - timedelta(days=1)), ("day-after", CUT + timedelta(days=1))):
        store.outcomes.record(inst.id, name, {"bot_involved": True, "category": "refund"}, at)
    outcomes_rollups.settle(store.engine, inst.id, NOW.date(), TOPICS)
    under = handoff_report(store, inst.id, NOW, None).under.total
    assert (under.base, under.count, under.causes["abandoned"]) == (5, 3, 3)


def test_a_report_of_an_installation_without_outcomes_marks_today_and_counts_nothing(store):
    inst = store.installations.add("zendesk", "https://empty.zendesk.com", {"token": "x"})
    rep = handoff_report(store, inst.id, NOW, NOW - timedelta(days=30))
    assert (rep.conversations, rep.escalated) == (0, 0)
    assert cells(store, inst.id) == {}


def test_the_rollups_command_rebuilds_and_says_where_they_end(tmp_path, vault):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    from integration.service.store import Vault

    store = Store(f"sqlite:///{tmp_path}/r.db", Vault(key))
    store.migrate()
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "x"})
    history(store, inst.id, n=40)
    store.engine.dispose()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/r.db", "BATON_SECRET_KEY": key}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "integration", "rollups", *args], capture_output=True, text=True,
                              env=env, cwd=Path(__file__).parents[2])

    assert "no rollups yet" in run().stdout
    done = run("--rebuild", "--installation", inst.id)
    assert done.returncode == 0 and f"{inst.id}: " in done.stdout and "counted again" in done.stdout
    assert "rollup rows, the days before" in run("--installation", inst.id).stdout
    missing = run("--rebuild", "--installation", "nobody")
    assert missing.returncode == 2 and "no installation 'nobody'" in missing.stderr
