"""Steps 4–9 of DESIGN.md as plain functions: load the conversation, decide, plan the write-back,
apply it once, record the outcome. Celery tasks and the embedded queue call these; neither adds
logic of its own.

At-least-once delivery in, effectively-once writes out:
- an event is processed once (its row says so) and a ticket is escalated once (its state says so);
- the plan is stored in the outbox under a key derived from the ticket before any API call, and
  only the worker holding the row's lease sends it;
- after a crash between the call and its record, the next attempt first asks the helpdesk
  whether a note with that key already landed.
"""
from __future__ import annotations

import logging
import os
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import connectors
from connectors.base import ApiError, ApiRateLimited, Connector, Loaded
from integration.engine import evaluate
from integration.handoff import build_package, render_html, render_text
from integration import routing
from integration.model import (Action, AddNote, AddTags, Assign, Decision, Installation, Plan, ReplyToCustomer,
                               SetPriority, State, WriteBack)
from integration.rules import Rules, RulesError, load_rules
from integration.store import Store, outbox, utcnow

log = logging.getLogger("baton.pipeline")

MAX_ATTEMPTS = 8  # then the event or write goes to the dead letters
# an event recorded but not queued this long ago was refused by a down broker: queue it again
STRANDED_AFTER = timedelta(seconds=float(os.environ.get("BATON_STRANDED_SECONDS", 30)))
# an event queued this long ago and still not processed lost its task: queue it again
REQUEUE_AFTER = timedelta(seconds=float(os.environ.get("BATON_REQUEUE_SECONDS", 900)))
ROSTER_FRESH = timedelta(seconds=60)  # events refresh a roster older than this
LEASE = timedelta(seconds=float(os.environ.get("BATON_LEASE_SECONDS", 60)))  # > one API call with timeouts


# Events that move the conversation through bot → escalated → assigned → resolved without a
# decision. A resolved conversation the customer reopens is decided afresh.
LIFECYCLE = {
    "conversation_closed": lambda state: State.RESOLVED,
    "conversation_assigned": lambda state: State.ASSIGNED if state is State.ESCALATED else state,
    "rating_added": lambda state: state,  # kept in the events table; feedback reads it later
}


class RetryLater(Exception):
    """Transient failure: run the same step again after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay


@dataclass
class Pipeline:
    store: Store
    park_after: float = 300.0  # waits longer than this are parked in the store, not scheduled
    connector: Callable[[str], Connector] = connectors.get
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)

    # step 4-7: one event → at most one planned write-back

    def process_event(self, event_id: int) -> list[int]:
        """Decide for the event's conversation; returns the outbox rows to deliver."""
        row = self.store.event(event_id)
        if row is None or row.status in ("processed", "dead"):
            return []
        ev = row.event
        inst = self.store.installation(ev.installation_id)
        if inst is None or inst.status != "active":
            self.store.mark_event(event_id, "dead", "installation missing or broken")
            return []
        state = self.store.state(inst.id, ev.ticket_id)
        if ev.kind not in LIFECYCLE and (wait := self._held(inst)):
            return self._event_wait(event_id, wait, "the helpdesk asked us to wait")
        if ev.kind in LIFECYCLE:
            new = LIFECYCLE[ev.kind](state)
            if new is not state:
                self.store.set_state(inst.id, ev.ticket_id, new)
            if ev.kind != "rating_added" and self._roster_stale(inst.id):
                self.sync_roster(inst.id)  # an assignment or a close changed someone's load
            self.store.mark_event(event_id, "processed", f"state {state.value} → {new.value}")
            return []
        if state in (State.ESCALATED, State.ASSIGNED):
            self.store.mark_event(event_id, "processed", "already handed over")  # idempotent: no second write
            return []
        try:
            loaded = self.connector(inst.provider).client(inst).load(ev.ticket_id)
        except ApiError as e:
            return self._event_failed(event_id, inst, e)
        if loaded.human_replied:
            self.store.first_reply(inst.id, ev.ticket_id, self.clock())
            self.store.mark_event(event_id, "processed", "a human agent already replied")
            return []
        try:
            rules = load_rules(inst.rules)
        except RulesError as e:
            self.store.flag_installation(inst.id, f"invalid rules: {e}")
            self.store.mark_event(event_id, "dead", str(e))
            return []
        decision = evaluate(loaded.conversation, rules)
        where = self.route(inst, loaded, decision, rules) if decision.action is not Action.CONTINUE else None
        decision_id = self.store.record_decision(inst.id, ev.ticket_id, event_id, decision,
                                                 routing.route_to_json(where) if where else None)
        log.info("pipeline.decision", extra={"installation": inst.id, "ticket": ev.ticket_id,
                                             "action": decision.action.value, "event": event_id})
        if decision.action is Action.OFFER_HUMAN and where and rules.routing.notify_customer:
            # one offer per conversation: the key is the same however often the customer hesitates
            offer = routing.message(rules.routing, "offer", decision.language, decision.category, team=where.team)
            plan = Plan(f"baton-{inst.id}-{ev.ticket_id}-offer", ev.ticket_id, (ReplyToCustomer(offer),), loaded.remote)
            outbox_id, new = self.store.add_outbox(inst.id, decision_id, plan)
            self.store.mark_event(event_id, "processed")
            return [outbox_id] if new else []
        if decision.action is not Action.ESCALATE or where is None:
            self.store.mark_event(event_id, "processed")
            return []
        plan = self.plan(inst, loaded, decision, where, rules)
        outbox_id, _ = self.store.add_outbox(inst.id, decision_id, plan)
        self.store.escalated(inst.id, ev.ticket_id, where.group_id, self.clock())
        self.store.mark_event(event_id, "processed")
        return [outbox_id]

    def _event_failed(self, event_id: int, inst: Installation, e: ApiError) -> list[int]:
        if isinstance(e, ApiRateLimited):  # waiting as asked is not failing: it never dead-letters
            return self._event_wait(event_id, self._delay(e, 0, inst), str(e))
        attempts = self.store.count_attempt(event_id)
        if not e.transient or attempts >= MAX_ATTEMPTS:
            self.store.mark_event(event_id, "dead", f"{type(e).__name__}: {e}")
            if not e.transient:
                self.store.flag_installation(inst.id, f"{type(e).__name__}: {e}")
            return []
        return self._event_wait(event_id, self._delay(e, attempts, inst), str(e))

    def _event_wait(self, event_id: int, delay: float, why: str) -> list[int]:
        if delay > self.park_after:
            self.store.park_event(event_id, self.clock() + timedelta(seconds=delay), why)
            return []
        raise RetryLater(delay, why)

    def _held(self, inst: Installation) -> float:
        """Seconds until the helpdesk accepts calls again after a 429 (0 when it does now)."""
        until = self.store.rate_limited_until(inst.id)
        return max(0.0, (until - self.clock()).total_seconds()) if until else 0.0

    def route(self, inst: Installation, loaded: Loaded, decision: Decision, rules: Rules) -> routing.Route:
        """Step 6: group, agent and customer notice from the synced roster and the rules."""
        roster = routing.roster_from_json(self.store.roster(inst.id)[0], rules.routing, self.store.group_stats(inst.id))
        previous = [c.agent_id for c in loaded.conversation.customer.recent_contacts if c.agent_id]
        return routing.route(decision, loaded.conversation, roster, rules.routing, self.clock(), previous)

    def plan(self, inst: Installation, loaded: Loaded, decision: Decision, where: routing.Route,
             rules: Rules) -> Plan:
        ticket = loaded.conversation.id
        earlier = len(self.store.rows(outbox, installation_id=inst.id, ticket_id=ticket))
        key = f"baton-{inst.id}-{ticket}-{earlier + 1}"  # the same for two workers racing on one ticket
        package = build_package(loaded.conversation, decision, route=_route_text(where), now=self.clock())
        ref = f"Baton ref {key}"
        actions: list[WriteBack] = [
            AddNote(render_html(package) + f"<p><i>{ref}</i></p>", render_text(package) + f"\n\n{ref}\n"),
            # two tags: every tag is one more call on Intercom; the tier is in the note
            AddTags((_tag("baton_escalated"), _tag(f"baton_{decision.category or 'other'}"))),
            SetPriority(decision.priority),
        ]
        if where.group_id or where.agent_id:
            actions.append(Assign(where.group_id, where.agent_id, where.explanation))
        if rules.routing.notify_customer and where.customer_message:
            actions.append(ReplyToCustomer(where.customer_message))
        return Plan(key, ticket, tuple(actions), loaded.remote)

    # step 8-9: apply a planned write-back once

    def deliver(self, outbox_id: int) -> str:
        """Send one outbox row. Returns its status; raises RetryLater for a short wait."""
        row = self.store.claim(outbox_id, LEASE, self.clock())
        if row is None or row.plan is None:
            return "skipped"  # sent, dead, parked for later, or another worker holds it
        inst = self.store.installation(row.installation_id)
        if inst is None:
            self.store.finish(outbox_id, "dead", "installation missing")
            return "dead"
        if wait := self._held(inst):
            self.store.finish(outbox_id, "parked", "the helpdesk asked us to wait",
                              self.clock() + timedelta(seconds=wait), refund=True)
            if wait > self.park_after:
                return "parked"
            raise RetryLater(wait, "rate limited")
        client = self.connector(inst.provider).client(inst)
        try:
            if row.attempts > 1 and client.applied(row.plan):
                self.store.finish(outbox_id, "sent", "found already applied")
                return "sent"
            client.apply(row.plan)
        except ApiError as e:
            limited = isinstance(e, ApiRateLimited)  # waiting as asked is not failing: never dead-letters
            if not e.transient or (row.attempts >= MAX_ATTEMPTS and not limited):
                self.store.finish(outbox_id, "dead", f"{type(e).__name__}: {e}")
                if not e.transient:
                    self.store.flag_installation(inst.id, f"{type(e).__name__}: {e}")
                log.warning("pipeline.dead-letter", extra={"installation": inst.id, "outbox": outbox_id,
                                                           "error": type(e).__name__})
                return "dead"
            delay = self._delay(e, row.attempts, inst)
            # parked with not_before: nothing, not even the drain, sends before the helpdesk allows
            self.store.finish(outbox_id, "parked", str(e), self.clock() + timedelta(seconds=delay), refund=limited)
            if delay > self.park_after:
                return "parked"
            raise RetryLater(delay, str(e)) from e
        self.store.finish(outbox_id, "sent")
        return "sent"

    def _delay(self, e: ApiError, attempts: int, inst: Installation) -> float:
        if isinstance(e, ApiRateLimited):
            self.store.rate_limit(inst.id, self.clock() + timedelta(seconds=e.retry_after))
            return e.retry_after + self.rng.uniform(0.05, 1.0)  # never before Retry-After
        return self.rng.uniform(0, min(600.0, 2.0 * 2 ** attempts))  # full jitter backoff

    # housekeeping, on a schedule

    def _roster_stale(self, inst_id: str) -> bool:
        synced = self.store.roster(inst_id)[1]
        return synced is None or self.clock() - synced > ROSTER_FRESH

    def sync_roster(self, inst_id: str) -> bool:
        """Refresh one installation's agents and groups from its helpdesk; False when it could not
        (the previous roster stays: routing on slightly old data beats routing on none)."""
        inst = self.store.installation(inst_id)
        if inst is None or inst.status != "active" or self._held(inst):
            return False
        try:
            roster = self.connector(inst.provider).client(inst).roster()
        except ApiError as e:
            # not a reason to stop escalating: a token may write tickets yet lack the right to list agents
            if isinstance(e, ApiRateLimited):
                self._delay(e, 0, inst)
            log.warning("pipeline.roster-sync-failed", extra={"installation": inst.id, "error": type(e).__name__})
            return False
        self.store.save_roster(inst.id, roster)
        return True

    def due(self) -> tuple[list[int], list[int]]:
        """Events to enqueue again and parked writes whose time has come."""
        return (self.store.stranded_events(STRANDED_AFTER, self.clock(), REQUEUE_AFTER),
                self.store.due_outbox(self.clock()))


def _route_text(where: routing.Route) -> str:
    """What the agent reads under "Route": where it went, why, and who was passed over."""
    lines = [where.explanation]
    if where.wait_minutes is not None:
        lines.append(f"expected first reply in about {round(where.wait_minutes)} min")
    passed = [f"{c.agent_id}: {c.why}" for c in where.candidates if not c.chosen][:5]
    if passed:
        lines.append("passed over — " + "; ".join(passed))
    return " · ".join(lines)


def _tag(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower())[:80]



