"""The handoff metrics (integration/core/analytics.py) on small hand-built histories whose answers
are known: empty, one sample, times given in other zones, reopens, the n < 10 rule for CSAT, the
Wilson interval, over- and under-escalations, the suggestion hit rate, the knowledge view and gaps."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from integration.core import analytics
from integration.core.analytics import ALL, NO_CATEGORY, NO_REASON, report, tables

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday of ISO week 2026-W48
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the Monday of that week
NEW_YORK = timezone(timedelta(hours=-5))
PARIS = timezone(timedelta(hours=1))


def row(ticket: str = "1", at: datetime = T0, **values) -> dict:
    """One ``OutcomeRepository.rows`` dict: a conversation with a bot that was not handed over, unless
    the values say otherwise."""
    base = dict(ticket_id=ticket, created_at=at, updated_at=at, channel="messaging", bot_involved=True,
                escalated=False, escalated_at=None, category=None, reasons=[], asked_for_human_later=False,
                assigned_at=None, assignee_id=None, first_agent_reply_at=None, solved_at=None, reopens=0,
                csat=None, csat_at=None, verdict=None, resolution=None, suggested=None, query_text=None,
                answer_text=None)
    base.update(values)
    return base


def handed(ticket: str, category: str = "billing", minutes: float | None = 60, at: datetime = T0, **values) -> dict:
    """A conversation handed over at ``at`` and solved ``minutes`` later (None: not solved)."""
    solved = at + timedelta(minutes=minutes) if minutes is not None else None
    return row(ticket, at, escalated=True, escalated_at=at, category=category, solved_at=solved,
               first_agent_reply_at=at + timedelta(minutes=1), **values)


def human(ticket: str, **values) -> dict:
    """An email ticket no bot took part in (the human-only baseline)."""
    return row(ticket, **{"bot_involved": False, "channel": "email", "first_agent_reply_at": T0 + timedelta(hours=1),
                          **values})


# empty and one sample

def test_an_empty_history_gives_every_figure_with_nothing_in_it():
    rep = report([], NOW, NOW - timedelta(days=30))
    assert (rep.conversations, rep.bot_involved, rep.escalated) == (0, 0, 0)
    assert rep.handoff.weeks == ("2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48")
    assert [r.rate for r in rep.handoff.weekly] == [None] * 5 and rep.handoff.by_category == ()
    assert rep.resolution == (analytics.Duration(ALL, 0, None, None),)
    assert rep.preparation == (analytics.Duration(ALL, 0, None, None),)
    assert [c.summary for c in rep.csat] == ["too few ratings (n=0)", "too few ratings (n=0)"]
    assert (rep.over.total.count, rep.over.total.share, rep.under.total.count) == (0, None, 0)
    assert rep.suggestions == (analytics.HitRate(ALL, 0, 0, 0),) and rep.suggestions[0].rate is None
    assert rep.knowledge == () and rep.gaps == ()
    assert set(tables(rep)) == set(analytics.TABLES)
    assert analytics.to_csv(tables(rep)["gaps"]) == (
        "category,category key,handed over,resolved,median resolution (min),most frequent answer\r\n")


def test_one_handoff_is_its_own_median_and_p90():
    rep = report([handed("1", minutes=42, assigned_at=T0)], NOW)
    assert rep.resolution[0] == analytics.Duration(ALL, 1, 42.0, 42.0)
    assert rep.resolution[1] == analytics.Duration("billing", 1, 42.0, 42.0)
    assert rep.preparation[0] == analytics.Duration(ALL, 1, 1.0, 1.0)
    assert rep.handoff.weeks == ("2026-W48",)
    assert rep.handoff.weekly == (analytics.Rate(ALL, "2026-W48", 1, 1),)


# the handoff rate

def test_handoff_rate_per_category_per_week_counts_only_conversations_with_a_bot():
    last_week = T0 - timedelta(days=7)
    rows = [handed("1", "billing"), row("2", category="billing"), row("3", category="billing"),
            handed("4", "billing", at=last_week), row("5", at=last_week), human("6"), human("7", escalated=False)]
    rep = report(rows, NOW)
    assert rep.handoff.weeks == ("2026-W47", "2026-W48")
    assert [(r.week, r.conversations, r.escalated) for r in rep.handoff.weekly] == [("2026-W47", 2, 1),
                                                                                   ("2026-W48", 3, 1)]
    assert [(r.category, r.conversations, r.escalated) for r in rep.handoff.by_category] == [
        ("billing", 4, 2), (NO_CATEGORY, 1, 0)]
    assert rep.handoff.overall == analytics.Rate(ALL, ALL, 5, 2) and rep.handoff.overall.rate == 0.4
    cells = {(r.category, r.week): r.rate for r in rep.handoff.by_category_week}
    assert cells == {("billing", "2026-W47"): 1.0, ("billing", "2026-W48"): pytest.approx(1 / 3),
                     (NO_CATEGORY, "2026-W47"): 0.0}


def test_weeks_are_iso_weeks_in_utc_whatever_zone_the_times_are_given_in():
    sunday_evening_in_new_york = datetime(2026, 11, 22, 23, 30, tzinfo=NEW_YORK)  # Monday 04:30 UTC: W48
    monday_early_in_paris = datetime(2026, 11, 23, 0, 30, tzinfo=PARIS)  # Sunday 23:30 UTC: W47
    rep = report([handed("1", at=sunday_evening_in_new_york), row("2", at=monday_early_in_paris)], NOW)
    assert {r.week: (r.conversations, r.escalated) for r in rep.handoff.weekly} == {"2026-W47": (1, 0),
                                                                                    "2026-W48": (1, 1)}
    assert analytics.iso_week(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-W01"
    assert analytics.iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"  # a Friday of 2026's last week


def test_durations_between_times_in_different_zones_are_the_real_elapsed_time():
    escalated = datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)  # 09:00 UTC
    solved = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
    assigned = datetime(2026, 11, 23, 4, 5, tzinfo=NEW_YORK)  # 09:05 UTC
    replied = datetime(2026, 11, 23, 10, 12, tzinfo=PARIS)  # 09:12 UTC
    rep = report([row("1", at=escalated, escalated=True, escalated_at=escalated, solved_at=solved,
                      assigned_at=assigned, first_agent_reply_at=replied)], NOW)
    assert rep.resolution[0].median == 45.0
    assert rep.preparation[0].median == 7.0


# resolution and preparation times

def test_median_and_p90_of_resolution_times_per_category():
    rows = [handed(str(i), "billing", minutes=i) for i in range(1, 11)] + [handed("x", "refund", minutes=300)]
    rep = report(rows, NOW)
    assert rep.resolution[0] == analytics.Duration(ALL, 11, 6.0, 10.0)
    assert rep.resolution[1] == analytics.Duration("billing", 10, 5.5, 9.0)  # nearest rank: the 9th of 10
    assert rep.resolution[2] == analytics.Duration("refund", 1, 300.0, 300.0)


def test_unsolved_handoffs_and_inconsistent_times_are_left_out_of_the_durations():
    rows = [handed("1", minutes=None), handed("2", minutes=30),
            handed("3", minutes=20, assigned_at=T0 + timedelta(minutes=5))]  # replied at +1, before the assignment
    rep = report(rows, NOW)
    assert (rep.resolution[0].n, rep.resolution[0].median) == (2, 25.0)
    assert rep.preparation[0].n == 0


def test_a_reopened_handoff_counts_until_its_last_solve_and_is_no_under_escalation():
    rep = report([handed("1", minutes=600, reopens=2)], NOW)
    assert rep.resolution[0].median == 600.0
    assert rep.under.total.base == 0 and rep.over.total.count == 0


# CSAT

def test_no_csat_figure_under_ten_ratings():
    rows = [handed(str(i), csat=1.0) for i in range(9)] + [human(f"h{i}", csat=1.0) for i in range(12)]
    ai, people = report(rows, NOW).csat
    assert (ai.group, ai.ratings, ai.share, ai.interval) == ("AI → human", 9, None, None)
    assert ai.summary == "too few ratings (n=9)"
    assert (people.group, people.ratings, people.share) == ("human only", 12, 1.0)
    assert people.summary == "100% satisfied (95 % CI 76%–100%, n=12)"
    rows.append(handed("9", csat=0.0))
    ai = report(rows, NOW).csat[0]
    assert (ai.ratings, ai.satisfied, ai.share) == (10, 9, 0.9)


def test_csat_counts_ratings_of_four_or_five_out_of_five_as_satisfied():
    scores = [1.0, 0.75, 0.5, 0.25, 0.0]  # 5, 4, 3, 2, 1 of 5
    rows = [human(f"{i}-{j}", csat=s) for i, s in enumerate(scores) for j in range(2)]
    people = report(rows, NOW).csat[1]
    assert (people.ratings, people.satisfied, people.share) == (10, 4, 0.4)


def test_csat_ai_to_human_is_every_handoff_and_human_only_has_no_bot_and_no_handoff():
    rows = [handed("1", csat=1.0), row("2", csat=1.0), human("3", csat=0.0),
            row("4", escalated=True, bot_involved=False, csat=0.0)]  # Baton handed it over before the bot replied
    rep = report(rows, NOW)
    ai, people = rep.csat
    assert (ai.ratings, ai.satisfied) == (2, 1)  # the same handoffs as every other handoff figure
    assert (people.ratings, people.satisfied) == (1, 0)
    assert (rep.conversations, rep.bot_involved, rep.escalated, rep.kept, rep.human_only) == (4, 3, 2, 1, 1)
    assert rep.handoff.overall.escalated == rep.over.total.base == 2


def test_wilson_interval_of_known_cases():
    low, high = analytics.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = analytics.wilson(0, 10)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    assert analytics.wilson(0, 0) == (0.0, 1.0)
    ratings = [human(str(i), csat=1.0 if i < 8 else 0.0) for i in range(10)]
    people = report(ratings, NOW).csat[1]
    assert people.interval == analytics.wilson(8, 10)
    assert people.summary == "80% satisfied (95 % CI 49%–94%, n=10)"


# over- and under-escalations

def test_over_escalations_are_said_not_needed_or_how_to_answers_within_ten_minutes():
    rows = [handed("1", "billing", minutes=300, verdict="not_needed", reasons=["sentiment"]),
            handed("2", "howto", minutes=10, resolution="how-to answered", reasons=["explicit_request"]),
            handed("3", "howto", minutes=11, resolution="how-to answered", reasons=["explicit_request"]),
            handed("4", "howto", minutes=3, resolution="refund issued", reasons=["explicit_request"]),
            handed("5", "howto", minutes=2, resolution="how-to answered", verdict="not_needed",
                   reasons=["explicit_request", "sentiment"]),
            handed("6", "billing", minutes=None, verdict="right"),
            row("7", resolution="how-to answered", solved_at=T0 + timedelta(minutes=2))]  # not handed over
    over = report(rows, NOW).over
    assert (over.total.base, over.total.count) == (6, 3)
    assert dict(over.total.causes) == {"not_needed": 2, "quick_howto": 2}
    by_category = {m.key: (m.base, m.count) for m in over.by_category}
    assert by_category == {ALL: (6, 3), "howto": (4, 2), "billing": (2, 1)}
    assert [m.key for m in over.by_category] == [ALL, "howto", "billing"]  # the most over-escalated first
    by_reason = {m.key: (m.base, m.count) for m in over.by_reason}
    assert by_reason == {ALL: (6, 3), "explicit_request": (4, 2), "sentiment": (2, 2), NO_REASON: (1, 0)}


def test_under_escalations_and_the_abandoned_definition():
    rows = [row("asked", category="shipping", asked_for_human_later=True, reasons=["sentiment"]),
            row("reopened", category="shipping", reopens=1, solved_at=T0),
            row("rated", category="billing", csat=0.25, solved_at=T0),
            row("fine", category="billing", csat=0.5, solved_at=T0),  # 3 of 5 is not a bad rating
            row("abandoned", at=NOW - timedelta(days=7)),
            row("young", at=NOW - timedelta(days=6, hours=23)),  # not yet 7 days: not abandoned
            row("answered", at=NOW - timedelta(days=9), first_agent_reply_at=NOW - timedelta(days=9)),
            row("solved", at=NOW - timedelta(days=9), solved_at=NOW - timedelta(days=8)),
            handed("handed", reopens=1, csat=0.0),  # handed over: never an under-escalation
            human("email", at=NOW - timedelta(days=30), first_agent_reply_at=None)]  # no bot: not either
    under = report(rows, NOW).under
    assert (under.total.base, under.total.count) == (8, 4)
    assert dict(under.total.causes) == {"asked_for_human_later": 1, "reopened": 1, "rated_badly": 1, "abandoned": 1}
    assert {m.key: (m.base, m.count) for m in under.by_category} == {
        ALL: (8, 4), "shipping": (2, 2), "billing": (2, 1), NO_CATEGORY: (4, 1)}
    assert {m.key: (m.base, m.count) for m in under.by_reason} == {ALL: (8, 4), "sentiment": (1, 1), NO_REASON: (7, 3)}


def test_reopened_conversations_the_bot_kept_are_under_escalations():
    under = report([row("1", reopens=1, solved_at=T0 + timedelta(hours=2)), row("2", solved_at=T0)], NOW).under
    assert (under.total.base, under.total.count, under.total.causes["reopened"]) == (2, 1, 1)


# the suggestion hit rate

def test_suggestion_hit_rate_among_handoffs_with_a_suggestion_and_a_known_resolution():
    rows = [handed("1", "billing", suggested="refund issued", resolution="refund issued"),
            handed("2", "billing", suggested="refund issued", resolution="billing adjustment"),
            handed("3", "billing", suggested="refund issued"),  # not resolved yet: not judged
            handed("4", "howto", suggested="how-to answered", resolution="how-to answered"),
            handed("5", "howto", resolution="how-to answered")]  # nothing suggested
    hits = {h.category: (h.suggested, h.judged, h.hits, h.rate) for h in report(rows, NOW).suggestions}
    assert hits == {ALL: (4, 3, 2, pytest.approx(2 / 3)), "billing": (3, 2, 1, 0.5), "howto": (1, 1, 1, 1.0)}


# the knowledge view and its gaps

def test_knowledge_groups_resolved_handoffs_by_intent_with_the_agents_answers():
    rows = [handed("1", "billing", minutes=120, answer_text="Refunded order 1234.", resolution="refund issued"),
            handed("2", "billing", minutes=60, answer_text="refunded order  98765.", resolution="refund issued",
                   missing_knowledge="The refund policy page"),
            handed("3", "billing", minutes=30, answer_text="Explained the invoice.", resolution="how-to answered"),
            handed("4", "billing", minutes=None, answer_text="Still looking."),  # not resolved
            handed("5", "outage", minutes=10, answer_text="Known incident.")]
    knowledge = {k.category: k for k in report(rows, NOW).knowledge}
    billing = knowledge["billing"]
    assert (billing.resolved, billing.median_minutes, billing.missing) == (3, 60.0, ("The refund policy page",))
    assert [(a.text, a.times, a.resolutions) for a in billing.answers] == [
        ("Refunded order 1234.", 2, ("refund issued",)), ("Explained the invoice.", 1, ("how-to answered",))]
    assert [k.category for k in report(rows, NOW).knowledge] == ["billing", "outage"]
    exported = analytics.knowledge_json(report(rows, NOW))
    assert exported["categories"][0]["answers"][0] == {
        "text": "Refunded order 1234.", "times": 2, "resolution_types": ["refund issued"],
        "last_solved_at": "2026-11-23T11:00:00+00:00"}


def test_gaps_are_the_most_handed_over_categories_agents_resolve_in_a_median_under_30_minutes():
    rows = ([handed(f"q{i}", "password", minutes=5 + i, answer_text="Sent the reset link.") for i in range(8)]
            + [handed(f"p{i}", "promo", minutes=20) for i in range(5)]
            + [handed(f"f{i}", "few", minutes=1) for i in range(4)]  # fewer than 5 resolved
            + [handed(f"s{i}", "slow", minutes=45) for i in range(9)]
            + [handed("open", "promo", minutes=None)])
    gaps = report(rows, NOW).gaps
    assert [(g.category, g.escalations, g.resolved, g.median_minutes, g.answer) for g in gaps] == [
        ("password", 8, 8, 8.5, "Sent the reset link."), ("promo", 6, 5, 20.0, None)]


# the period, the tables

def test_since_keeps_the_conversations_first_seen_from_then():
    rows = [handed("old", at=NOW - timedelta(days=40)), handed("new", at=NOW - timedelta(days=3))]
    assert report(rows, NOW, NOW - timedelta(days=30)).escalated == 1
    assert report(rows, NOW).escalated == 2
    assert report(rows, NOW).handoff.weeks[0] == analytics.iso_week(NOW - timedelta(days=40))


def test_periods_are_a_number_of_days():
    assert analytics.period("30d") == timedelta(days=30) and analytics.period(" 7d ") == timedelta(days=7)
    for bad in ("0d", "30", "1y", "-3d", "", "99999d"):
        with pytest.raises(ValueError, match="number of days"):
            analytics.period(bad)


def test_csv_gives_fractions_and_never_a_spreadsheet_formula():
    rows = [handed("1", "billing", minutes=15, answer_text="=HYPERLINK(\"http://evil\")"), row("2", category="billing")]
    t = tables(report(rows, NOW))
    assert analytics.to_csv(t["handoff_categories"]).splitlines() == [
        "category,category key,conversations with a bot,handed over,handoff rate", "billing,billing,2,1,0.5000"]
    assert "'=HYPERLINK" in analytics.to_csv(t["knowledge"])
    text = analytics.to_text(t["handoff_categories"])
    assert text.splitlines()[0] == "Handoff rate by category" and "50.0%" in text


def test_fins_own_verdicts_are_counted_beside_batons_decisions():
    """Fin's resolution states (an outcome's bot_verdict) per verdict, with how many of the same
    conversations Baton handed over; conversations with a bot that told none are their own row."""
    rows = [handed("1", bot_verdict="escalated"), handed("2", bot_verdict="escalated"),
            row("3", bot_verdict="escalated"),  # Fin escalated, Baton had kept it: worth a look
            row("4", bot_verdict="resolved_confirmed"), handed("5", bot_verdict="negative_feedback"),
            row("6"), human("7", bot_verdict="resolved_assumed")]  # no bot took part: not counted
    rep = report(rows, NOW)
    assert [(v.verdict, v.conversations, v.escalated, v.kept) for v in rep.bot_verdicts] == [
        ("resolved_confirmed", 1, 0, 1), ("escalated", 3, 2, 1), ("negative_feedback", 1, 1, 0),
        (analytics.NO_BOT_VERDICT, 1, 0, 1)]
    assert rep.bot_verdicts_told == 5
    t = tables(rep)["bot_verdicts"]
    assert [c.title for c in t.columns] == ["the bot …", "conversations", "Baton handed over", "Baton kept with the bot"]
    assert t.rows[1] == ("escalated it to your team", 3, 2, 1)  # words an admin reads, not the stored key


def test_without_any_bot_verdict_there_is_no_verdict_figure():
    """Zendesk and Freshdesk tell no verdict of their bots: no table rows, not a row of 'told no verdict'."""
    rep = report([handed("1"), row("2")], NOW)
    assert rep.bot_verdicts == () and tables(rep)["bot_verdicts"].rows == ()


# the tables agree with each other (issue 20): one definition per figure, on a generated history

def _by_key(table: analytics.Table, key_column: str) -> dict[str, tuple]:
    """The rows of a table by the key in ``key_column`` (the CSV's key column, not the words shown)."""
    i = [c.title for c in table.columns].index(key_column)
    return {row[i]: row for row in table.rows}


def _col(table: analytics.Table, title: str) -> int:
    return [c.title for c in table.columns].index(title)


@pytest.mark.parametrize("seed_value", [3, 11])
def test_every_analytics_table_agrees_with_the_others_on_a_generated_history(tmp_path, seed_value):
    """Thirty days of demo history, its report and its tables as the page, the CSV and ``report``
    show them: each table's totals agree with the headline and with every other table counting the
    same conversations, and a category's handoff rate is its handed-over conversations among all of
    them (not 100 % by construction)."""
    import random

    from cryptography.fernet import Fernet

    from integration.service.reports import handoff_report, topic_labels
    from integration.service.store import Store, Vault
    from integration.tools import history
    from integration.tools.demo import TRACKED

    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(Fernet.generate_key().decode()))
    store.migrate()
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "x"}, rules={"topics": TRACKED})
    history.seed(store, inst.id, NOW, ["1", "2", "3"], rng=random.Random(seed_value))
    rep = handoff_report(store, inst.id, NOW, NOW - timedelta(days=30))
    t = tables(rep, topic_labels(inst))
    store.engine.dispose()

    with_bot, handed = rep.handoff.overall.conversations, rep.handoff.overall.escalated
    assert rep.conversations == rep.bot_involved + rep.human_only and rep.bot_involved == with_bot > 0
    assert rep.escalated == handed and rep.kept == with_bot - handed
    for name in ("handoff_weeks", "handoff_categories", "handoff"):  # the three handoff-rate tables
        rows = t[name].rows
        assert sum(r[_col(t[name], "conversations with a bot")] for r in rows) == with_bot, name
        assert sum(r[_col(t[name], "handed over")] for r in rows) == handed, name
    categories = _by_key(t["handoff_categories"], "category key")
    # over-escalations are counted among the same handed-over conversations, per category too
    for name, base, per in (("over_by_category", "handed over", "handed over"),
                            ("under_by_category", "kept with the bot", None)):
        table = _by_key(t[name], "category key")
        whole = table.pop(ALL)
        assert whole[_col(t[name], base)] == (handed if per else with_bot - handed), name
        assert sum(r[_col(t[name], base)] for r in table.values()) == whole[_col(t[name], base)], name
        assert sum(r[_col(t[name], f"{name[:name.index('_')]}-escalated")] for r in table.values()) == whole[
            _col(t[name], f"{name[:name.index('_')]}-escalated")]
        for key, row in table.items():
            seen, escalated = categories[key][_col(t["handoff_categories"], "conversations with a bot")], categories[key][
                _col(t["handoff_categories"], "handed over")]
            assert row[_col(t[name], base)] == (escalated if per else seen - escalated), (name, key)
    for name in ("over_by_reason", "under_by_reason"):
        assert _by_key(t[name], "reason key")[ALL][2] == _by_key(t[name.replace("reason", "category")], "category key")[ALL][2]
    assert rep.over.total.base == handed and rep.under.total.base == with_bot - handed
    # resolution times, the knowledge view and the gaps count the same solved handoffs
    resolution = _by_key(t["resolution"], "category key")
    solved = resolution.pop(ALL)[_col(t["resolution"], "n")]
    assert sum(r[_col(t["resolution"], "n")] for r in resolution.values()) == solved == sum(k.resolved for k in rep.knowledge)
    for gap in rep.gaps:
        assert gap.resolved == resolution[gap.category][_col(t["resolution"], "n")]
        assert gap.escalations == categories[gap.category][_col(t["handoff_categories"], "handed over")]
    # the suggestion hit rate: its all row is the sum of its categories, among handoffs
    hits = _by_key(t["suggestions"], "category key")
    whole = hits.pop(ALL)
    for column in ("suggested", "resolution known", "hits"):
        assert sum(r[_col(t["suggestions"], column)] for r in hits.values()) == whole[_col(t["suggestions"], column)]
    assert 0 < whole[_col(t["suggestions"], "resolution known")] <= whole[_col(t["suggestions"], "suggested")] <= handed
    ai, people = rep.csat
    assert ai.ratings <= handed and people.ratings <= rep.human_only
    # every conversation has its category: the tracked and the handed-over topics are not all at 100 %
    rates = {key: row[_col(t["handoff_categories"], "handoff rate")] for key, row in categories.items()}
    assert any(0 < r < 1 for r in rates.values()), rates
    assert {"invoices", "refund"} <= set(rates)
    # what a person reads: the topics' labels, never their keys (the CSV keeps the key beside them)
    text = analytics.to_text(t["handoff_categories"])
    assert "invoices and receipts" in text and "refund" in text and "billing_dispute" not in text
    assert "category key" in analytics.to_csv(t["handoff_categories"]).splitlines()[0]


def test_outcomes_recorded_with_the_old_reason_categories_count_under_their_topic():
    """Before every conversation got its topic, a handoff's category was the signal that handed it over
    (explicit_request, frustration …) or the customer's segment (vip): those rows count under the topic
    their reasons name, else under no topic, and the handoff rate by category adds up again."""
    rows = [handed("1", "explicit_request", reasons=["explicit_request", "risky_topic:refund"]),
            handed("2", "frustration", reasons=["sentiment"]),
            handed("3", "vip", reasons=["segment"]),
            handed("4", "refund", reasons=["risky_topic:refund"]),
            row("5", bot_involved=True, category="invoices", reasons=["segment"]),  # a track-only topic: current
            row("6", bot_involved=True, category="refund")]
    rates = {r.category: (r.conversations, r.escalated)
             for r in report(rows, NOW, topics={"refund", "invoices"}).handoff.by_category}
    assert rates == {"refund": (3, 2), "invoices": (1, 0), NO_CATEGORY: (2, 2)}
    old = {r.category for r in report(rows[:3], NOW).handoff.by_category}
    assert old == {"explicit_request", "frustration", "vip"}  # as recorded, without the topics to tell
