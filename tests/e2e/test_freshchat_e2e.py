"""Freshchat on a real Redis and a real Celery worker, beyond the shared suite (which runs on it
too): its deliveries are RSA-signed over the body alone, so a retry is the same bytes with the same
signature and only X-Retry-Count changes. Every delivery of a handoff sent again, before and after
Baton processed it, must change nothing."""
from __future__ import annotations

import threading

import pytest

from integration.tools.local import wait_for
from tests.e2e.harness import Harness

BOT = "Orders can be changed until they are packed: Orders → Edit."
HUMAN = "It's already packed and it's the wrong size. I want a refund, please get me a real person."


def twice_at_once(desk, indexes: list[int]) -> None:
    """Each delivery sent again twice, all at the same time (Freshchat's retries crossing each other)."""
    threads = [threading.Thread(target=desk.redeliver, args=(i,)) for i in indexes for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def refunds_to_billing(desk) -> dict:
    """Refunds go to Billing, where one agent is online: the handoff assigns, and its echo comes back."""
    billing = desk.add_group("Billing")
    desk.add_agent("Sam", billing)
    return {"routing": {"categories": {"refund": {"group": billing}}}}


@pytest.fixture
def freshchat(tmp_path):
    h = Harness(tmp_path, f"sqlite:///{tmp_path}/baton.db", "freshchat", rules=refunds_to_billing)
    yield h
    h.close()


def test_every_rsa_signed_delivery_of_a_handoff_sent_again_changes_nothing(freshchat):
    h, desk = freshchat, freshchat.helpdesk
    h.worker.stop()  # the copies reach the web tier before anything is processed
    cid = desk.new_conversation("Can I change the size of my order before it ships?")
    desk.say(cid, BOT, role="bot")
    desk.say(cid, HUMAN)
    desk.wait_for_deliveries(timeout=15)
    messages = desk.deliveries_for(cid)
    rows = len(h.events(cid))
    twice_at_once(desk, messages)
    assert len(h.events(cid)) == rows == 3  # three messages, each recorded once
    h.worker.start()
    wait_for(lambda: desk.notes(cid), timeout=60)
    h.quiet()
    # now every delivery so far again: the messages, and the echoes of Baton's assignment and private note
    everything = desk.deliveries_for(cid)
    assert {desk.sandbox.deliveries[i]["action"] for i in everything} == {"message_create", "conversation_assignment"}
    rows = len(h.events(cid))
    for i in everything:
        assert desk.redeliver(i) == 200
    twice_at_once(desk, everything)
    h.quiet()
    assert len(h.events(cid)) == rows
    assert len(desk.notes(cid)) == 1 and len([w for w in desk.writes(cid) if w["method"] == "PUT"]) == 1
    assert desk.names[desk.view(cid).group_id] == "Billing" and desk.names[desk.assignee(cid)] == "Sam"
    assert [d["action"] for d in h.store.decisions.for_ticket(h.inst.id, cid)].count("escalate") == 1
    # they were retries as Freshchat sends them: the same signature over the same bytes, counted up
    for i in messages:
        first = desk.sandbox.deliveries[i]
        again = [d for d in desk.sandbox.deliveries if d["body"] == first["body"]]
        assert {d["signature"] for d in again} == {first["signature"]}
        assert sorted(d["retry_count"] for d in again) == list(range(len(again)))
