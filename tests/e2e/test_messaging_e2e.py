"""Bot-held Zendesk messaging conversations end to end: the sandbox's Conversations API webhooks
reach Baton's web app on a real port, a real Redis queues them, a real Celery worker hands the
conversation over with passControl and then writes the note on the now-regular ticket; with the
worker killed between the two, with every delivery sent twice, and with a batch carrying one
event Baton cannot read."""
from __future__ import annotations

import json
import threading

import pytest
import requests

from connectors.zendesk import conversations as sunco
from integration.tools.local import wait_for
from tests.e2e.harness import Harness

ASK = "How do I turn my paused subscription back on?"
BOT = "Go to Settings → Subscription and press Resume."
HUMAN = "I pressed Resume and now I've been charged twice for this month. Can I talk to a person please?"
FIELD = "dataCapture.systemField."


def billing_rules(desk) -> dict:
    """Billing disputes go to the Billing group, where one agent is online: the pass captures both."""
    billing = desk.add_group("Billing")
    desk.add_agent("Sam", billing)
    return {"routing": {"categories": {"billing_dispute": {"group": billing}}}}


@pytest.fixture
def messaging(tmp_path):
    h = Harness(tmp_path, f"sqlite:///{tmp_path}/baton.db", "zendesk", messaging=True, rules=billing_rules)
    yield h
    h.close()


def escalating(desk) -> str:
    """A Web Widget conversation Zendesk's AI agent holds, where the customer asks for a person."""
    cid = desk.new_messaging_conversation(ASK)
    desk.say(cid, BOT, role="bot")
    desk.say(cid, HUMAN)
    return cid


def passes(desk, cid: str) -> list[dict]:
    """Every passControl Baton sent for the conversation, answered or not."""
    return [r for r in desk.sandbox.requests_log if r["method"] == "POST" and r["path"].endswith(f"/conversations/{cid}/passControl")]


def ticket_updates(desk, ticket: int) -> list[dict]:
    return [r for r in desk.sandbox.requests_log
            if r["method"] == "PUT" and r["path"].removesuffix(".json") == f"/api/v2/tickets/{ticket}"]


def escalations(h, cid: str) -> int:
    return [d["action"] for d in h.store.decisions.for_ticket(h.inst.id, cid)].count("escalate")


def in_flight(desk) -> list[dict]:
    return [r for r in desk.sandbox.requests_log if r["status"] is None]


def test_the_worker_passes_control_with_the_routing_captured_then_notes_the_now_regular_ticket(messaging):
    h, desk = messaging, messaging.helpdesk
    cid = escalating(desk)
    ticket = desk.ticket_of(cid)
    assert desk.sandbox.is_ai_agent_ticket(ticket)
    wait_for(lambda: desk.notes(cid), timeout=60)
    h.quiet()
    (note,) = desk.notes(cid)
    assert "[Baton handoff]" in note and "talk to a person" in note
    assert desk.control(cid) == sunco.AGENT_WORKSPACE and not desk.sandbox.is_ai_agent_ticket(ticket)
    (passed,) = passes(desk, cid)
    meta = passed["json"]["metadata"]
    billing = next(g for g, name in desk.names.items() if name == "Billing")
    sam = next(a for a, name in desk.names.items() if name == "Sam")
    assert passed["json"]["switchboardIntegration"] == sunco.AGENT_WORKSPACE
    assert (str(meta[FIELD + "group_id"]), str(meta[FIELD + "assignee_id"]), meta[FIELD + "priority"]) == (billing, sam, "high")
    assert {"baton_escalated", "baton_billing_dispute"} <= set(meta[FIELD + "tags"].split(","))
    # nothing reached the AI agent ticket: no write refused while the bot held it, the first update after the pass
    assert desk.sandbox.ai_ticket_writes == []
    assert min(r["at"] for r in ticket_updates(desk, ticket)) > passed["at"]
    view = desk.view(cid)
    assert (view.group_id, view.agent_id, view.priority) == (billing, sam, "high")
    assert escalations(h, cid) == 1


@pytest.mark.parametrize("kill_at", ["inside passControl", "after passControl, before the note"])
def test_a_worker_killed_between_passcontrol_and_the_note_ends_with_one_pass_and_one_note(messaging, kill_at):
    """SIGKILL the worker once the pass is sent (while the helpdesk still works on it, or after it
    answered and before the note's update): the helpdesk completes what it was sent, nobody
    notes the ticket, and the next worker writes the note without passing control again."""
    h, desk = messaging, messaging.helpdesk
    desk.sandbox.delay(2, "POST")  # the pass is the handoff's first POST (the rules tell the customer nothing)
    cid = escalating(desk)
    wait_for(lambda: [r for r in passes(desk, cid) if r["status"] is None], timeout=60)
    if kill_at == "after passControl, before the note":
        desk.sandbox.delay(4, "GET")  # what the worker reads next (the conversation's ticket) is held
        wait_for(lambda: passes(desk, cid)[0]["status"] == 200 and [
            r for r in in_flight(desk) if r["method"] == "GET" and r["at"] > passes(desk, cid)[0]["at"]], timeout=30)
    h.worker.kill()
    desk.sandbox.delay(0, "POST")
    desk.sandbox.delay(0, "GET")
    wait_for(lambda: not in_flight(desk), timeout=30)  # the helpdesk finishes the calls the dead worker made
    # the crash left control with the agents and no note anywhere
    assert desk.control(cid) == sunco.AGENT_WORKSPACE and desk.notes(cid) == []
    h.worker.start()
    wait_for(lambda: [o for o in h.outbox() if o["ticket_id"] == cid and o["status"] == "sent"], timeout=90)
    h.quiet()
    assert len(passes(desk, cid)) == 1 and len(desk.notes(cid)) == 1
    assert desk.sandbox.ai_ticket_writes == [] and escalations(h, cid) == 1


def test_every_conversations_api_delivery_sent_twice_is_decided_once(messaging):
    """Each delivery twice at once while the worker is down (both copies reach the web tier before
    anything is processed), then each once more after the handoff."""
    h, desk = messaging, messaging.helpdesk
    h.worker.stop()
    cid = escalating(desk)
    desk.wait_for_deliveries(timeout=15)
    sent = [i for i in desk.deliveries_for(cid) if desk.sandbox.deliveries[i]["sunco"]]
    assert sent and all(desk.status_of(i) == 200 for i in sent)
    rows = len(h.events(cid))
    threads = [threading.Thread(target=desk.redeliver, args=(i,)) for i in sent for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(h.events(cid)) == rows  # a second copy is recognised, not recorded
    h.worker.start()
    wait_for(lambda: desk.notes(cid), timeout=60)
    h.quiet()
    for i in sent:
        assert desk.redeliver(i) == 200
    h.quiet()
    assert escalations(h, cid) == 1 and len(passes(desk, cid)) == 1 and len(desk.notes(cid)) == 1
    # the conversation's three messages (the customer's two, the bot's one), each recorded once
    assert len([e for e in h.events(cid) if e["key"].startswith("sunco:")]) == 3


def test_a_batch_with_one_event_baton_cannot_read_records_and_acts_on_the_others(messaging):
    """One delivery carrying two conversations' messages and, among them, an event with no message
    in it: the unreadable one is named and skipped, the others are recorded, the customer who asked
    for a person is handed over, and the routine question is decided and left to the bot."""
    h, desk = messaging, messaging.helpdesk
    desk.drop_deliveries(1.0)  # Zendesk sends nothing on its own: this test delivers the events, batched
    cid = escalating(desk)
    routine = desk.new_messaging_conversation("What are your opening hours on Saturdays?")
    desk.wait_for_deliveries(timeout=15)
    desk.drop_deliveries(0.0)  # Baton's own pass and messages come back as usual
    batches = [json.loads(d["body"]) for d in desk.sandbox.dropped if b'"events"' in d["body"]]
    good = [e for b in batches for e in b["events"]]
    bad = {**good[0], "id": "5f74a0d52b5315fcbadbad00", "type": "conversation:message",
           "payload": {"conversation": good[0]["payload"]["conversation"]}}  # no message: cannot be read
    body = json.dumps({**batches[0], "events": [*good[:2], bad, *good[2:]]}).encode()
    answer = requests.post(f"{h.baton_url}/webhooks/zendesk/{h.inst.id}", data=body, timeout=10, headers={
        "Content-Type": "application/json", sunco.API_KEY: h.inst.credentials[sunco.WEBHOOK_SECRET]})
    assert answer.status_code == 200
    assert any(reason.startswith("event 2: ") for reason in answer.json()["reasons"])
    messages = {f"sunco:{e['id']}" for e in good if e["type"] == "conversation:message"}
    assert {e["key"] for e in h.events() if e["key"].startswith("sunco:")} == messages  # the good ones, all of them
    wait_for(lambda: desk.notes(cid), timeout=60)
    wait_for(lambda: {e["status"] for e in h.events(routine)} == {"processed"}, timeout=60)
    h.quiet()
    assert len(passes(desk, cid)) == 1 and len(desk.notes(cid)) == 1
    assert desk.control(routine) == "zd:answerBot" and desk.writes(routine) == []
