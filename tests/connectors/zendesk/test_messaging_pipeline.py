"""Bot-held Zendesk messaging conversations, end to end on the sandbox: Baton hears the conversation
while the AI agent holds it, hands it over with passControl (group, priority and tags captured),
notes the now-regular ticket once, and never writes to the AI agent ticket before control passed,
whether Zendesk refuses such writes or drops them, across retries and crashes."""
from __future__ import annotations

import random

import pytest

from connectors.zendesk import conversations as sunco
from connectors.zendesk.messaging import ZendeskMessagingClient
from connectors.zendesk.sandbox import ZendeskDriver
from integration.core.contract import ApiTimeoutError
from integration.core.model import Event, State
from integration.service.pipeline import Pipeline, RetryLater
from integration.service.store import outbox
from integration.tools.local import install_into
from tests.test_pipeline import HUMAN, Clock
from integration.service.settings import Settings
from integration.service.web import create_app
from tests.test_web import FakeQueue

ASK = "I was charged twice for my subscription"


class Messaging:
    def __init__(self, store, receiver):
        self.driver = ZendeskDriver()
        self.driver.enable_messaging()
        self.driver.start()
        self.billing = self.driver.add_group("Billing")
        self.store, self.receiver = store, receiver
        self.inst = install_into(self.driver, store, receiver.url.removesuffix("/hook"),
                                 rules={"routing": {"categories": {"billing_dispute": {"group": self.billing}}}})
        self.clock = Clock()
        self.pipe = Pipeline(store, clock=self.clock, rng=random.Random(1))
        self.keys = iter(range(1, 10_000))

    @property
    def sandbox(self):
        return self.driver.sandbox

    def event(self, cid: str) -> int:
        return self.store.events.receive(Event("zendesk", self.inst.id, f"evt-{next(self.keys)}", "comment_added", cid))[0]

    def escalating(self) -> str:
        """A conversation the AI agent holds, where the customer asks for a person."""
        cid = self.driver.new_messaging_conversation(ASK)
        self.driver.say(cid, "Charges settle within 3 days; nothing to worry about.", role="bot")
        self.driver.say(cid, HUMAN)
        return cid

    def passes(self, cid: str) -> list[dict]:
        return [r for r in self.sandbox.requests_log
                if r["method"] == "POST" and r["path"].endswith(f"/conversations/{cid}/passControl") and r["status"] == 200]

    def writes_while_the_bot_held_it(self) -> list[dict]:
        return [w for w in self.sandbox.ai_ticket_writes if w["control"] != sunco.AGENT_WORKSPACE]


@pytest.fixture
def desk(store, receiver):
    desk = Messaging(store, receiver)
    yield desk
    desk.driver.stop()


def test_install_with_a_conversations_key_adds_baton_to_the_switchboard_on_standby_with_every_event(desk):
    (hook,) = desk.sandbox.sunco_webhooks()
    assert hook["target"] == f"{desk.receiver.url.removesuffix('/hook')}/webhooks/zendesk/{desk.inst.id}"
    assert {"conversation:message", "switchboard:passControl"} <= set(hook["triggers"])
    (baton,) = [m for m in desk.sandbox.switchboard_members() if m["name"] == "baton"]
    assert baton["deliverStandbyEvents"] and baton["id"] == desk.inst.settings["sunco_switchboard_integration_id"]
    assert desk.inst.credentials[sunco.WEBHOOK_SECRET] == hook["secret"]  # kept with the credentials, encrypted


def test_baton_hears_every_message_while_the_ai_agent_holds_the_conversation(desk):
    cid = desk.escalating()
    assert desk.driver.wait_for_deliveries()
    texts = [e["payload"]["message"]["content"]["text"] for body in desk.receiver.bodies() if "events" in body
             for e in body["events"] if e["type"] == "conversation:message"]
    assert texts == [ASK, "Charges settle within 3 days; nothing to worry about.", HUMAN]
    assert desk.driver.control(cid) == "zd:answerBot"
    assert all(h["X-API-Key"] == desk.inst.credentials[sunco.WEBHOOK_SECRET]
               for h, body in desk.receiver.requests if b'"events"' in body)


def test_the_customer_asking_for_a_human_is_handed_over_by_passcontrol_then_noted_once(desk):
    cid = desk.escalating()
    ticket = desk.driver.ticket_of(cid)
    assert desk.sandbox.is_ai_agent_ticket(ticket)
    (held,) = desk.pipe.process_event(desk.event(cid))
    assert desk.pipe.send(held) == "sent"
    assert desk.driver.control(cid) == "zd:agentWorkspace"
    assert not desk.sandbox.is_ai_agent_ticket(ticket)
    view = desk.driver.view(cid)
    (note,) = view.notes
    assert "Baton ref baton-" in note and HUMAN in note
    assert (view.group_id, view.priority) == (desk.billing, "high")
    assert {"baton_escalated", "baton_billing_dispute"} <= set(view.tags)
    (passed,) = desk.passes(cid)
    meta = passed["json"]["metadata"]
    assert passed["json"]["switchboardIntegration"] == "zd:agentWorkspace"
    assert meta["dataCapture.systemField.group_id"] == int(desk.billing)
    assert meta["dataCapture.systemField.priority"] == "high"
    assert "baton_escalated" in meta["dataCapture.systemField.tags"].split(",")
    assert meta["first_message_id"] == desk.sandbox.conversation(cid)["messages"][0]["id"]
    assert desk.sandbox.ai_ticket_writes == []  # nothing ever reached the AI agent ticket
    assert desk.store.events.state(desk.inst.id, cid) is State.ESCALATED


@pytest.mark.parametrize("refusal", [403, 422, None], ids=["403", "422", "silently-dropped"])
def test_a_ticket_zendesk_converts_late_gets_the_note_once_whether_it_refuses_or_drops_writes(desk, refusal):
    desk.sandbox.ai_ticket_refusal = refusal
    desk.sandbox.convert_at_once = False
    cid = desk.escalating()
    (held,) = desk.pipe.process_event(desk.event(cid))
    with pytest.raises(RetryLater):
        desk.pipe.send(held)  # control passed, the ticket is not editable yet: try again later
    assert desk.driver.control(cid) == "zd:agentWorkspace"
    assert desk.driver.notes(cid) == [] and desk.writes_while_the_bot_held_it() == []
    assert desk.store.installations.status(desk.inst.id)[0] == "active"  # a refusal is not broken credentials
    desk.sandbox.finish_conversion(cid)
    desk.clock.advance(3600)
    assert desk.pipe.deliver(held.row.id) == "sent"
    assert len(desk.driver.notes(cid)) == 1 and len(desk.passes(cid)) == 1
    assert desk.writes_while_the_bot_held_it() == []


def test_the_note_call_failing_after_passcontrol_ends_with_one_pass_and_one_note(desk, monkeypatch):
    cid = desk.escalating()
    (held,) = desk.pipe.process_event(desk.event(cid))
    real = ZendeskMessagingClient._write
    failures = iter([ApiTimeoutError("PUT /api/v2/tickets: timed out")])

    def flaky(self, plan):
        if (e := next(failures, None)) is not None:
            raise e
        return real(self, plan)

    monkeypatch.setattr(ZendeskMessagingClient, "_write", flaky)
    with pytest.raises(RetryLater):
        desk.pipe.send(held)
    assert desk.driver.control(cid) == "zd:agentWorkspace" and desk.driver.notes(cid) == []
    desk.clock.advance(3600)
    assert desk.pipe.deliver(held.row.id) == "sent"
    assert len(desk.driver.notes(cid)) == 1 and len(desk.passes(cid)) == 1
    assert desk.sandbox.ai_ticket_writes == []


def test_a_worker_dying_right_after_passcontrol_ends_with_one_pass_and_one_note(desk):
    cid = desk.escalating()
    (held,) = desk.pipe.process_event(desk.event(cid))
    client = ZendeskMessagingClient(desk.store.installations.get(desk.inst.id))
    client.sunco.pass_control(cid, client._captured(held.row.plan))  # what the worker did before it died
    assert desk.pipe.deliver(held.row.id) == "skipped"  # its lease still holds
    desk.clock.advance(3600)
    assert desk.pipe.deliver(held.row.id) == "sent"
    assert len(desk.driver.notes(cid)) == 1 and len(desk.passes(cid)) == 1
    assert desk.driver.control(cid) == "zd:agentWorkspace"
    (row,) = desk.store.rows(outbox)
    assert row["status"] == "sent"


def test_what_the_customer_writes_while_waiting_reaches_the_agent_and_an_agent_reply_ends_it(desk):
    cid = desk.escalating()
    (held,) = desk.pipe.process_event(desk.event(cid))
    desk.pipe.send(held)
    desk.driver.say(cid, "Hello??? This is unacceptable, I want my money back NOW")
    (waiting,) = desk.pipe.process_event(desk.event(cid))
    assert desk.pipe.send(waiting) == "sent"
    handoff, note = desk.driver.notes(cid)
    assert "wrote again while waiting" in note and "I want my money back NOW" in note
    desk.driver.say(cid, "Hi, I'm Alex from billing, looking at it now.", role="agent")
    assert desk.pipe.process_event(desk.event(cid)) == []
    assert desk.store.events.state(desk.inst.id, cid) is State.ASSIGNED
    assert desk.writes_while_the_bot_held_it() == []


def test_a_routine_question_leaves_the_ai_agent_in_control_and_writes_nothing(desk):
    cid = desk.driver.new_messaging_conversation("What are your opening hours?")
    assert desk.pipe.process_event(desk.event(cid)) == []
    assert desk.driver.control(cid) == "zd:answerBot" and desk.driver.writes(cid) == []


def test_a_webhook_delivered_twice_is_decided_once(desk):
    """The sandbox's own deliveries, through Baton's web tier, each posted twice."""
    cid = desk.escalating()
    assert desk.driver.wait_for_deliveries()
    queue = FakeQueue()
    web = create_app(Settings(database_url=desk.store.url), store=desk.store, queue=queue).test_client()
    for headers, body in desk.receiver.requests * 2:
        auth = {k: v for k, v in headers.items() if k.lower().startswith(("x-api-key", "x-zendesk"))}
        r = web.post(f"/webhooks/zendesk/{desk.inst.id}", data=body, headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 200
    held = [d for event_id in queue.events for d in desk.pipe.process_event(event_id)]
    assert len(held) == 1 and desk.pipe.send(held[0]) == "sent"
    decisions = desk.store.decisions.for_ticket(desk.inst.id, cid)
    assert [d["action"] for d in decisions].count("escalate") == 1
    assert len(queue.events) == 3  # the three messages, each once: the creation and the AI ticket's events add none
    assert len(desk.driver.notes(cid)) == 1 and len(desk.passes(cid)) == 1


def test_a_closed_ticket_resolves_the_conversation_and_the_customer_s_next_session_is_decided_afresh(desk):
    cid = desk.escalating()
    (held,) = desk.pipe.process_event(desk.event(cid))
    desk.pipe.send(held)
    agent = desk.driver.human()
    desk.driver.say(cid, "Refunded, sorry about that.", role="agent")
    first = desk.driver.ticket_of(cid)
    desk.sandbox.update_as(first, int(agent), {"status": "closed"})  # the switchboard releases it: ticketClosed
    assert desk.driver.wait_for_deliveries()
    released = [e for body in desk.receiver.bodies() if "events" in body for e in body["events"]
                if e["type"] == "switchboard:releaseControl"]
    assert [e["payload"]["reason"] for e in released] == ["ticketClosed"]
    closed = desk.store.events.receive(Event("zendesk", desk.inst.id, "closed-1", "conversation_closed", cid))[0]
    assert desk.pipe.process_event(closed) == []
    assert desk.store.events.state(desk.inst.id, cid) is State.RESOLVED
    # weeks later the customer writes again: a new AI agent ticket, the bot holds it, Baton decides on this session
    desk.driver.say(cid, "Charged twice AGAIN. I want to talk to a human now")
    assert desk.driver.ticket_of(cid) != first and desk.driver.control(cid) == "zd:answerBot"
    (again,) = desk.pipe.process_event(desk.event(cid))
    assert desk.pipe.send(again) == "sent"
    assert desk.driver.control(cid) == "zd:agentWorkspace" and len(desk.driver.notes(cid)) == 1  # on the new ticket
    assert desk.writes_while_the_bot_held_it() == []
