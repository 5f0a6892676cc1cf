"""The write-back plan: the note's size is never in the customer's hands."""
from __future__ import annotations

from integration.core import plan
from integration.core.contract import TicketSnapshot
from integration.core.model import AddNote, Conversation, Evidence, Message, Reason, Role
from integration.core.routing import Route
from tests.test_handoff import decision

ROUTE = Route(group_id="360", agent_id=None, live=True, opens_at=None, wait_minutes=None, candidates=(),
              explanation="billing_dispute goes to its specialists", customer_message="")


def flood(n: int = 10_000) -> tuple[TicketSnapshot, object]:
    text = "I was charged twice and nobody answers me " * 40
    msgs = tuple(Message(Role.CUSTOMER if i % 2 else Role.BOT, f"{i} {text}") for i in range(n))
    conv = Conversation("42", msgs, url="https://acme.zendesk.com/agent/tickets/42")
    evidence = tuple(Evidence(i, text * 3, 1.0, 0.5, "repeats") for i in range(0, n, 2))
    d = decision(reasons=(Reason("loop", "The customer keeps asking the same thing.", evidence),))
    return TicketSnapshot(conv), d


def _note(limit: int) -> AddNote:
    snapshot, d = flood()
    (note,) = [a for a in plan.handoff(snapshot, d, ROUTE, rules(), "k-1", limit).actions if isinstance(a, AddNote)]
    return note


def rules():
    from integration.core.rules import DEFAULT_RULES

    return DEFAULT_RULES


def test_ten_thousand_messages_give_a_note_under_the_helpdesks_limit():
    note = _note(plan.NOTE_LIMIT)
    assert len(note.html) <= plan.NOTE_LIMIT and len(note.text) <= plan.NOTE_LIMIT
    assert "earlier messages omitted: the whole conversation is at https://acme.zendesk.com/agent/tickets/42" in note.text
    assert "9999 I was charged twice" in note.text  # the newest message is there
    assert note.text.count("“") <= 3 + 5  # three quotes for the reason, and the headline's few
    assert "(and 4997 more places like these)" in note.text
    assert "Baton ref k-1" in note.html and "Baton ref k-1" in note.brief.html


def test_a_tight_limit_still_gets_a_note_and_the_brief_is_shorter_still():
    note = _note(12_000)
    assert len(note.html) <= 12_000
    assert note.brief is None or len(note.brief.html) < len(note.html)
    loose = _note(plan.NOTE_LIMIT)
    assert len(loose.brief.html) < len(loose.html) and "Baton ref k-1" in loose.brief.text


def test_caught_up_adds_what_was_written_after_the_handoff_once():
    """The helpdesk lists the messages of the handoff's last second again (it stamps whole
    seconds): they are not new; a message in that same second that Baton never saw is."""
    from datetime import datetime, timezone

    from integration.core.model import Conversation, Message, Role
    from integration.core.plan import caught_up
    t = datetime(2026, 5, 1, 12, 0, 7, 400_000, tzinfo=timezone.utc)
    stored = Conversation("1", (Message(Role.CUSTOMER, "charged twice", t.replace(second=1)),
                                Message(Role.BOT, "let me check", t), Message(Role.CUSTOMER, "a human now", t)))
    fresh = [Message(Role.BOT, "let me check", t.replace(microsecond=0)),
             Message(Role.CUSTOMER, "please, a human now", t.replace(microsecond=0)),
             Message(Role.CUSTOMER, "hello?", t.replace(microsecond=0))]
    merged = caught_up(stored, fresh, t)
    assert [m.text for m in merged.messages[len(stored.messages):]] == ["hello?"]
