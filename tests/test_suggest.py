"""Suggested resolutions: a handed-over conversation gets the installation's most similar resolved
escalation (its resolution type, the gist of the answer, a link), never another installation's,
nothing when no case is similar enough; the replay measures how often the suggested type was right."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import OperationalError

from integration.core import suggest as core
from integration.core.model import Conversation, Message, Role
from integration.service.suggestions import Suggester, case_from_row

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ZENDESK = "https://acme.zendesk.com/agent/tickets/{}"


def resolved(store, inst, ticket, words, resolution, answer=None, *, escalated_h=0, solved_h=1):
    store.outcomes.record(inst, ticket, {
        "escalated": True, "escalated_at": T0 + timedelta(hours=escalated_h),
        "solved_at": T0 + timedelta(hours=solved_h), "query_text": words, "answer_text": answer,
        "resolution": resolution}, now=T0 + timedelta(hours=escalated_h))


def conversation(*said: str, ticket="900", url=None) -> Conversation:
    messages = []
    for text in said:
        messages += [Message(Role.CUSTOMER, text), Message(Role.BOT, "Let me look into that for you.")]
    return Conversation(ticket, tuple(messages), url=url if url is not None else ZENDESK.format(ticket))


def history(store, inst="i1"):
    resolved(store, inst, "101", "Hi, I was charged twice for my subscription this month", "refund issued",
             "Refunded the duplicate charge; it shows on your card in 5-10 days.")
    resolved(store, inst, "102", "The password reset email never arrives, I cannot log in", "account change",
             "Unlocked the account and sent a new reset link.")
    resolved(store, inst, "103", "My parcel has not been delivered after two weeks", "policy exception",
             "Reshipped the order free of charge.")


def test_a_similar_resolved_case_is_suggested_with_its_resolution_type_and_link(store):
    history(store)
    asked = conversation("hello", "You charged me twice for the subscription this month!!")
    found = Suggester(store).suggest("i1", asked)
    assert [s.ticket_id for s in found] == ["101"]
    best = found[0]
    assert best.resolution == "refund issued" and best.url == ZENDESK.format("101")
    assert core.FLOOR <= best.score <= 1
    assert core.note_text(found) == ("Similar case #101 (refund issued): Refunded the duplicate charge; it shows on "
                                     "your card in 5-10 days. — https://acme.zendesk.com/agent/tickets/101")


def test_a_case_sharing_a_word_or_two_is_below_the_floor(store):
    history(store)
    suggester = Suggester(store)
    assert suggester.suggest("i1", conversation("My subscription page shows the wrong language since yesterday")) == []
    assert suggester.suggest("i1", conversation("How do I export my invoices to a spreadsheet for my accountant")) == []


def test_another_installations_case_is_never_suggested_even_with_the_same_words(store):
    resolved(store, "i2", "201", "I was charged twice for my subscription this month", "refund issued", "Refunded.")
    suggester = Suggester(store)
    asked = conversation("I was charged twice for my subscription this month")
    assert [s.ticket_id for s in suggester.suggest("i2", asked)] == ["201"]
    assert suggester.suggest("i1", asked) == []  # i1 has no history at all
    history(store, "i1")
    suggester.refresh("i1")
    assert [s.ticket_id for s in suggester.suggest("i1", asked)] == ["101"]


def test_nothing_without_history_and_nothing_for_an_empty_or_very_short_question(store):
    suggester = Suggester(store)
    assert suggester.suggest("i1", conversation("I was charged twice for my subscription this month")) == []
    history(store)
    suggester.refresh("i1")
    for said in ("", "   ", "human please", "refund!!", "charged?"):
        assert suggester.suggest("i1", conversation(said)) == [], said
    assert suggester.suggest("i1", Conversation("900", (Message(Role.BOT, "charged twice subscription month"),))) == []


def test_only_solved_handovers_are_suggested_and_never_the_conversation_itself(store):
    words = "The invoice shows the wrong company name and VAT number"
    store.outcomes.record("i1", "301", {"escalated": True, "query_text": words, "resolution": "billing adjustment"})
    store.outcomes.record("i1", "302", {"escalated": False, "solved_at": T0, "query_text": words})
    resolved(store, "i1", "900", words, "billing adjustment", "Corrected the invoice.")  # reopened: it is asked again
    assert Suggester(store).suggest("i1", conversation(words, ticket="900")) == []


def test_typing_mistakes_still_find_the_case(store):
    resolved(store, "i1", "401", "I want a refund for my annual subscription", "refund issued", "Refunded.")
    resolved(store, "i1", "402", "please refund the subscription, I never used it", "refund issued", "Refunded.")
    resolved(store, "i1", "403", "how do I export my data to a spreadsheet", "how-to answered", "See the article.")
    found = Suggester(store).suggest("i1", conversation("I want a refnud for my subscriptoin"))
    assert found and found[0].ticket_id == "401" and found[0].resolution == "refund issued"


def test_the_link_follows_each_helpdesks_address_and_is_left_out_when_unknown(store):
    history(store)
    said = "I was charged twice for my subscription this month"
    freshdesk = conversation(said, ticket="77", url="https://acme.freshdesk.com/a/tickets/77")
    intercom = conversation(said, ticket="77", url="https://app.intercom.com/a/inbox/abc/inbox/conversation/77")
    suggester = Suggester(store)
    assert suggester.suggest("i1", freshdesk)[0].url == "https://acme.freshdesk.com/a/tickets/101"
    assert suggester.suggest("i1", intercom)[0].url == "https://app.intercom.com/a/inbox/abc/inbox/conversation/101"
    nowhere = suggester.suggest("i1", conversation(said, url=""))
    assert nowhere[0].url is None and core.note_text(nowhere).endswith("in 5-10 days.")


def test_the_note_names_at_most_two_cases_with_a_short_gist():
    long = core.Suggestion("5", None, "word " * 100, None, 0.9)
    other = core.Suggestion("6", "how-to answered", None, ZENDESK.format(6), 0.8)
    third = core.Suggestion("7", "refund issued", "Refunded.", None, 0.7)
    text = core.note_text([long, other, third])
    assert text is not None and text.startswith("Similar case #5: word word") and "#7" not in text
    assert len(long.note_text()) <= len("Similar case #5: ") + core.GIST_CHARS
    assert text.endswith("Similar case #6 (how-to answered) — https://acme.zendesk.com/agent/tickets/6")
    assert core.note_text([]) is None


def test_the_index_is_rebuilt_when_old_or_asked_and_at_most_m_are_kept(store):
    now = [0.0]
    suggester = Suggester(store, max_age=600, installations=2, clock=lambda: now[0])
    asked = conversation("The password reset email never arrives, I cannot log in")
    assert suggester.suggest("i1", asked) == []
    history(store)
    now[0] = 599
    assert suggester.suggest("i1", asked) == []  # still the index of an empty history
    now[0] = 600
    assert [s.ticket_id for s in suggester.suggest("i1", asked)] == ["102"]
    for inst in ("i2", "i3"):
        suggester.suggest(inst, asked)
    assert suggester.cached() == ["i2", "i3"]  # i1, the least recently used, went


def test_concurrent_handoffs_build_one_index(store, monkeypatch):
    history(store)
    reads = []
    real = store.outcomes.resolved_escalations

    def counted(inst_id, limit):
        reads.append(inst_id)
        return real(inst_id, limit)

    monkeypatch.setattr(store.outcomes, "resolved_escalations", counted)
    suggester = Suggester(store)
    start = threading.Barrier(8)
    results: list[list[str]] = []

    def handoff():
        start.wait()
        found = suggester.suggest("i1", conversation("charged twice for my subscription"))
        results.append([s.ticket_id for s in found])

    threads = [threading.Thread(target=handoff) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == ["i1"] and results == [["101"]] * 8


def test_a_history_that_cannot_be_read_gives_no_suggestion_and_no_error():
    class Down:
        def resolved_escalations(self, inst_id, limit):
            raise OperationalError("SELECT …", {}, Exception("connection refused"))

    class Store:
        outcomes = Down()

    assert Suggester(Store()).suggest("i1", conversation("I was charged twice for my subscription")) == []


def test_the_replay_hit_rate_of_a_small_history(store):
    """Each resolved escalation, in the order handed over, looked up among those solved before:
    A (nothing solved yet: no suggestion) · B (A: refund = refund, hit) · F (only A solved at that
    moment: refund, but the panel says billing adjustment: miss) · C (nothing about passwords yet:
    no suggestion) · D (C: account change ≠ how-to answered: miss) · E has no resolution type and is
    not judged · G (A, B refund against F billing and E untyped: refund, hit). 2 hits, 4 suggested, 6 judged."""
    charged = "I was charged twice for my order"
    resolved(store, "i1", "A", charged, "refund issued", escalated_h=0, solved_h=1)
    resolved(store, "i1", "B", "charged twice for my order", "refund issued", escalated_h=2, solved_h=3)
    resolved(store, "i1", "F", charged, "refund issued", escalated_h=3, solved_h=10)
    store.decisions.record_feedback("i1", "F", author_id="7", author_name="Ana", verdict="right", resolution="billing adjustment",
                                    missing_knowledge=None)
    resolved(store, "i1", "C", "password reset email never arrives", "account change", escalated_h=4, solved_h=5)
    resolved(store, "i1", "D", "the password reset email never arrives", "how-to answered", escalated_h=6, solved_h=7)
    resolved(store, "i1", "E", "I was charged twice on my card", None, escalated_h=8, solved_h=9)
    resolved(store, "i1", "G", charged, "refund issued", escalated_h=12, solved_h=13)
    resolved(store, "i2", "X", "password reset email never arrives", "how-to answered", escalated_h=0, solved_h=1)

    measured = core.hit_rate(case_from_row(r) for r in store.outcomes.resolved_escalations("i1"))
    assert measured == core.Replay(escalations=6, suggested=4, hits=2)
    assert measured.hit_rate == pytest.approx(2 / 6) and measured.coverage == pytest.approx(4 / 6)
    assert measured.precision == 0.5
    assert core.hit_rate([]) == core.Replay(0, 0, 0) and core.hit_rate([]).hit_rate == 0.0
