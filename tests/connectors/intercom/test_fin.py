"""Fin on the Intercom sandbox, end to end through Baton's webhook endpoint and the pipeline: its
replies come on two topics and are one event; they never pass for a teammate's; and Baton's handoff
leaves the conversation with people whether or not an assignment stops Fin (which no public source
settles: connectors/intercom/README.md, "Telling the bot to stop")."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from connectors.intercom import webhook
from connectors.intercom.sandbox import IntercomDriver
from integration.core.model import Installation, State
from integration.service.pipeline import Pipeline
from integration.service.settings import Settings
from integration.service.store import Store, events
from integration.service.web import create_app
from integration.tools.local import install_into

HUMAN = "I was charged twice and I want to talk to a human"


class Queue:
    def __init__(self) -> None:
        self.ids: list[int] = []

    def enqueue_event(self, event_id: int, installation: str | None = None) -> None:
        self.ids.append(event_id)

    def ping(self) -> None:
        pass


@dataclass
class Fin:
    driver: IntercomDriver
    store: Store
    inst: Installation
    billing: str
    receiver: object
    queue: Queue = field(default_factory=Queue)
    replayed: int = 0
    topics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.web = create_app(Settings(database_url=self.store.url), store=self.store, queue=self.queue).test_client()
        self.pipe = Pipeline(self.store)

    def flow(self) -> None:
        """Intercom's notifications reach Baton's endpoint as sent (signed, in order); every event
        queued is processed and its write-back sent; Baton's own writes come back and go round too."""
        while True:
            assert self.driver.wait_for_deliveries()
            new = self.receiver.requests[self.replayed:]
            self.replayed += len(new)
            for headers, body in new:
                self.topics.append(__import__("json").loads(body)["topic"])
                r = self.web.post(f"/webhooks/intercom/{self.inst.id}", data=body,
                                  headers={webhook.SIGNATURE: headers[webhook.SIGNATURE],
                                           "Content-Type": "application/json"})
                assert r.status_code == 200
            queued, self.queue.ids = self.queue.ids, []
            for event_id in queued:
                for held in self.pipe.process_event(event_id):
                    assert self.pipe.send(held) == "sent"
            if not new and not queued:
                return

    def state(self, cid: str) -> State:
        return self.store.events.state(self.inst.id, cid)

    def events(self, cid: str) -> list[dict]:
        return [e for e in self.store.rows(events) if e["ticket_id"] == str(cid)]


@pytest.fixture
def fin(store, receiver) -> Iterator[Fin]:
    driver = IntercomDriver(retry_delays=(0.05,))
    driver.start()
    billing = driver.add_group("Billing")
    inst = install_into(driver, store, receiver.url.removesuffix("/hook"),
                        rules={"routing": {"categories": {"billing_dispute": {"group": billing}}}})
    yield Fin(driver, store, inst, billing, receiver)
    driver.stop()


def test_a_fin_conversation_is_handed_over_once_though_each_fin_reply_arrives_twice(fin):
    cid = fin.driver.new_conversation("How do I download my invoice?")
    fin.flow()
    fin.driver.sandbox.fin_answer(cid, "Go to Settings > Billing and press Download.")
    fin.flow()
    # Fin's reply came on operator.replied and admin.replied: one event, and not a teammate's reply
    assert fin.topics.count("conversation.operator.replied") == fin.topics.count("conversation.admin.replied") == 1
    assert [e["key"] for e in fin.events(cid) if e["key"].startswith("part:")] == [
        f"part:{cid}:{fin.driver.sandbox.get_parts(cid)[-1]['id']}"]
    assert fin.state(cid) is State.BOT and fin.driver.notes(cid) == []

    fin.driver.say(cid, "That link is broken. " + HUMAN)
    fin.flow()
    fin.driver.sandbox.fin_answer(cid, "I'm sorry about that, let me see.")  # Fin stops on assignment here
    fin.flow()
    view = fin.driver.view(cid)
    assert len(view.notes) == 1 and view.group_id == fin.billing and "baton_escalated" in view.tags
    assert len([r for r in fin.driver.writes(cid) if r["path"].endswith("/parts")]) == 1  # one assignment
    assert fin.state(cid) is State.ESCALATED
    row = fin.store.outcomes.get(fin.inst.id, cid)
    assert row["bot_involved"] and row["escalated"]


@pytest.mark.parametrize("fin_stops", [True, False], ids=["fin stops on assignment", "fin keeps answering"])
def test_the_handoff_leaves_the_conversation_with_people_whether_or_not_fin_stops(fin, fin_stops, caplog):
    """Either answer to the open question: the conversation is the team's (assigned, tagged, the
    note), Fin's later answers never make Baton step aside as a teammate's would, Baton says in its
    log and the event's record that Fin kept answering, and the agent reads it in the next note."""
    fin.driver.sandbox.fin_stops_on_assignment = fin_stops
    cid = fin.driver.new_conversation(HUMAN)
    fin.flow()
    assert fin.state(cid) is State.ESCALATED and fin.driver.view(cid).group_id == fin.billing

    with caplog.at_level(logging.WARNING, logger="baton.pipeline"):
        answered = fin.driver.sandbox.fin_answer(cid, "Is there anything else I can help you with?")
        fin.flow()
    assert (answered is None) is fin_stops
    kept = [r for r in caplog.records if r.getMessage() == "pipeline.bot-kept-answering"]
    said = [e["error"] or "" for e in fin.events(cid)]
    if fin_stops:
        assert not kept and not any("the bot answered" in s for s in said)
    else:
        assert len(kept) == 1 and kept[0].answers == 1  # one reply on two topics: one event, one line
        assert any("the bot answered 1 time(s) since: the helpdesk did not stop it" in s for s in said)
    assert fin.state(cid) is State.ESCALATED  # Fin is no teammate

    fin.driver.say(cid, "Hello?? Is a person coming?")
    fin.flow()
    handoff, waiting = fin.driver.notes(cid)
    assert "Is a person coming?" in waiting
    assert ("The bot answered 1 time since the handoff" in waiting) is not fin_stops

    fin.driver.say(cid, "Hi, I'm Alex from billing, looking at it now.", role="agent")
    fin.flow()
    view = fin.driver.view(cid)
    assert fin.state(cid) is State.ASSIGNED and view.group_id == fin.billing and "baton_escalated" in view.tags
    assert len(view.notes) == 2
