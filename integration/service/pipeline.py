"""Steps 4–9 of DESIGN.md: for each event, one read of what a decision needs, the helpdesk read,
a pure decision, and one transaction for its results; then the write-back, applied once. Celery
tasks and the embedded queue call these; neither adds logic of its own. What beat runs on a
schedule (reconciliation, SLA re-routes, re-probes, the drain) is in
:mod:`integration.service.housekeeping`; the outcome columns a look gives, in
:mod:`integration.service.observe`.

At-least-once delivery in, effectively-once writes out:
- an event is processed once (its row says so) and a ticket is escalated once (its state says so);
- the plan is stored in the outbox under a key derived from the ticket before any API call, and
  only the worker holding the row's lease sends it;
- after a crash between the call and its record, the next attempt first asks the helpdesk
  whether a note with that key already landed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

import requests

import connectors
from connectors.base import epoch_time, iso_time, pooled_session
from integration.core import plan as planning
from integration.core import routing
from integration.core.contract import (ApiError, ApiRateLimited, ApiTooLarge, ApiUnauthorized, CircuitOpen, Connector,
                                       TicketSnapshot)
from integration.core.codec import conversation_from_json
from integration.core.engine import evaluate
from integration.core.model import (Action, AddNote, Assign, Conversation, Decision, Installation, Plan, Priority, Role,
                                    SetPriority, State)
from integration.core.rules import Rules, RulesError, load_rules
from integration.core.suggest import note_text
from integration.service import metrics
from integration.service.housekeeping import Housekeeping, RetryLater
from integration.service.observe import answer_gist, first_reply_after, observed, outcome_values, settled
from integration.service.quota import Guards, Held
from integration.service.suggestions import Suggester
from integration.service.store import ConversationMoved, Delivery, EventContext, Outcome, Store, utcnow

log = logging.getLogger("baton.pipeline")

MAX_ATTEMPTS = 8  # then the event or write goes to the dead letters
ROSTER_FRESH = timedelta(seconds=60)  # events refresh a roster older than this
REPROBE_EVERY = timedelta(minutes=5)  # a flagged installation is tried again this often
GIVE_UP_AFTER = timedelta(days=1)  # events wait this long for a flagged installation's admin
# The loop breaker (L3, O5): one decision is one write, so more than this many writes to one ticket
# within the window is a loop (an echo Baton mistakes for news), never legitimate traffic.
LOOP_CAP = 10  # writes to one ticket (Zendesk allows 30 updates per ticket per 10 minutes)
LOOP_WINDOW = timedelta(minutes=10)
LOOP_REASON = f"loop breaker: more than {LOOP_CAP} writes to this ticket in {LOOP_WINDOW.seconds // 60} minutes"
# CPU seconds one evaluation may take (an ordinary one takes a few milliseconds, bounded by
# integration.core.limits): past it the engine decides on the signals that finished, and the
# decision, a log line and baton_evaluations_out_of_time_total say so. CPU time of this thread, not
# wall time: a busy machine does not cut an evaluation short.
EVALUATION_BUDGET = 0.25

# Events that move the conversation through bot → escalated → assigned → resolved without a
# decision. A resolved conversation the customer reopens is decided afresh.
LIFECYCLE = {
    "conversation_closed": lambda state: State.RESOLVED,
    "conversation_assigned": lambda state: State.ASSIGNED if state is State.ESCALATED else state,
    "rating_added": lambda state: state,  # kept in the events table; feedback reads it later
}
DONE = frozenset({"solved", "resolved", "closed"})  # the helpdesks' words for a finished ticket


def state_now(kind: str, state: State, status: str | None, assignee: str | None) -> State:
    """The conversation's state after an assignment, close or rating event. Helpdesks deliver in
    any order (a close can arrive before the assignment it followed, a reopen before the close), so
    the state follows what the helpdesk says of the ticket now; the event's own word counts only
    when the ticket could not be read (``status`` None)."""
    if status is None:
        return LIFECYCLE[kind](state)
    if status in DONE:
        return State.RESOLVED
    if state is State.RESOLVED:  # closed before, open again: reopened
        return State.ASSIGNED if assignee else State.BOT
    return State.ASSIGNED if state is State.ESCALATED and assignee else state


@dataclass
class Pipeline(Housekeeping):
    store: Store
    park_after: float = 300.0  # waits longer than this are parked in the store, not scheduled
    lease: timedelta = timedelta(seconds=60)  # longer than one API call with its timeouts
    stranded_after: timedelta = timedelta(seconds=30)  # recorded, never queued (the broker was down)
    requeue_after: timedelta = timedelta(seconds=900)  # queued, never processed (the task was lost)
    connector: Callable[[str], Connector] = connectors.get
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)
    guards: Guards = field(default_factory=Guards)  # rate budget and circuit breaker, per installation
    evaluation_budget: float = EVALUATION_BUDGET
    suggester: Suggester = field(init=False)

    def __post_init__(self) -> None:
        self.suggester = Suggester(self.store)  # one index cache per process, per installation

    # steps 4-7: one event → at most one planned write-back, claimed for delivery at once

    def client(self, inst: Installation) -> Any:
        """The helpdesk API of one installation, as every step of the pipeline calls it."""
        return self.connector(inst.provider).client(inst, guard=self.guards.guard(inst))

    def process_event(self, event_id: int) -> list[Delivery]:
        """Decide for the event's conversation and commit the outcome; returns the write-back this
        worker now holds (send it with :meth:`send`). Raises RetryLater for a short wait."""
        try:
            ctx = self.store.events.context(event_id, writes_since=self.clock() - LOOP_WINDOW)
        except Exception as e:  # e.g. a secret the configured key cannot decrypt
            log.exception("pipeline.context-unreadable", extra={"event": event_id})
            attempts = self.store.events.fail(event_id, _reason(e), MAX_ATTEMPTS)
            if attempts >= MAX_ATTEMPTS:
                return []
            raise RetryLater(self._backoff(attempts), _reason(e)) from e
        if ctx is None or ctx.row.status in ("processed", "dead"):
            return []
        try:
            outcome = self._outcome(ctx)
        except Exception as e:  # a bug or a vendor shape nobody expected: counted, recorded, dead-lettered after the cap
            log.exception("pipeline.unexpected", extra={"event": event_id, "installation": ctx.row.event.installation_id})
            outcome = self._failed(ctx, e)
        now = self.clock()
        delay = (outcome.not_before - now).total_seconds() if outcome.not_before else 0.0
        if outcome.status == "received" and delay <= self.park_after and not outcome.held:
            # a short wait goes back to the queue as a countdown; only what must be remembered is committed
            if outcome.attempt or outcome.rate_limited_until:
                self.store.events.commit(ctx, dataclasses.replace(outcome, status="enqueued", not_before=None), now,
                                         self.lease)
            raise RetryLater(delay, outcome.note or "wait")
        try:
            claimed = self.store.events.commit(ctx, outcome, now, self.lease)
        except ConversationMoved as e:  # another worker handed it over meanwhile: look again
            raise RetryLater(0.0, str(e)) from e
        if outcome.decision is not None:
            metrics.DECISIONS.labels(ctx.row.event.provider, outcome.decision.action.value).inc()
            log.info("pipeline.decision", extra={"installation": ctx.row.event.installation_id,
                                                 "ticket": ctx.row.event.ticket_id, "event": event_id,
                                                 "action": outcome.decision.action.value})
        return [Delivery(claimed, ctx.installation, ctx.rate_limited_until, ctx.recent_writes)] if claimed else []

    def _outcome(self, ctx: EventContext) -> Outcome:
        """What to do with the event, given what the database said; reads the helpdesk only when a
        decision is due."""
        ev, inst, state = ctx.row.event, ctx.installation, ctx.state
        if inst is None:
            return Outcome("dead", "installation missing")
        if inst.status == "uninstalled":
            return Outcome("dead", "the app was uninstalled")
        if inst.status != "active":  # it needs its admin: wait for the re-probe to find it working again
            if self.clock() - ctx.row.received_at > GIVE_UP_AFTER:
                return Outcome("dead", f"the installation needed its admin for over {GIVE_UP_AFTER}")
            return self._wait(REPROBE_EVERY.total_seconds(), "waiting for the installation's admin")
        if ev.kind in LIFECYCLE:
            if ev.kind != "rating_added" and self._roster_stale(ctx.roster_synced_at):
                self.sync_roster(inst.id)  # an assignment or a close changed someone's load
            try:
                seen, status = self._after_the_bot(inst, ev.ticket_id, closed=ev.kind == "conversation_closed")
            except ApiError as e:
                if e.transient:
                    return self._failed(ctx, e)
                seen, status = None, None  # the ticket is gone or unreadable: the event's word moves the state
            new = state_now(ev.kind, state, status, (seen or {}).get("assignee_id"))  # type: ignore[arg-type]
            return Outcome("processed", f"state {state.value} → {new.value}", state=new if new is not state else None,
                           observed=seen)
        if state is State.ASSIGNED:
            return Outcome("processed", "a person has the conversation")  # idempotent: no second write
        if _seen(ev, ctx.seen_at):
            return Outcome("processed", "nothing new: Baton's last read of the ticket saw this change")
        if wait := self._held(ctx.rate_limited_until):  # parked for the drain: see :meth:`released`
            return dataclasses.replace(self._wait(wait, "the helpdesk asked us to wait"), held=True)
        try:
            if state is State.ESCALATED and ev.kind == "comment_added" and (follow := self._follow_up(ctx)):
                return follow
            snapshot = self.client(inst).load(ev.ticket_id)
        except ApiError as e:
            return self._failed(ctx, e)
        outcome = self._on_read(ctx, snapshot)
        # Remembered where events tell their stamp (else it would be a write for nothing), and only
        # once decided: a failed or dead-lettered event is read again when retried or replayed.
        stamp = _stamp(snapshot.ticket_fields.get("updated_at")) if ev.changed_at is not None else None
        return dataclasses.replace(outcome, seen_at=stamp) if outcome.status == "processed" and stamp else outcome

    def _on_read(self, ctx: EventContext, snapshot: TicketSnapshot) -> Outcome:
        """What the conversation as read now asks for."""
        inst, state, now = ctx.installation, ctx.state, self.clock()
        assert inst is not None
        if str(snapshot.ticket_fields.get("status") or "").lower() in DONE:  # a late event of a finished ticket
            return Outcome("processed", "the ticket is solved", state=State.RESOLVED if state is not State.RESOLVED else None,
                           observed=observed(snapshot.conversation))
        if snapshot.conversation.human_replied:
            return Outcome("processed", "a human agent already replied", state=State.ASSIGNED, first_reply=True,
                           observed=observed(snapshot.conversation))
        try:
            rules = load_rules(inst.rules, stored=True)
        except RulesError as e:
            return Outcome("dead", str(e), flag=f"invalid rules: {e}")
        snapshot = dataclasses.replace(snapshot, conversation=dataclasses.replace(snapshot.conversation, as_of=now))
        if state is State.ESCALATED:
            waiting = self.while_waiting(ctx, snapshot, rules)
            assert waiting is not None  # read with its ticket: a higher priority is planned
            return waiting
        if why := rules.scope.excludes(snapshot.conversation):  # still counted: the human-only baseline
            return Outcome("processed", f"out of scope: {why}", observed=observed(snapshot.conversation))
        return self.decide(ctx, snapshot, rules, now)

    def _follow_up(self, ctx: EventContext) -> Outcome | None:
        """A message on a conversation handed over and waiting, read with one call: the conversation
        Baton stored with its handoff decision, followed by what the helpdesk lists since its last
        message (``Client.messages_since``), where a full read makes four or more. None: read it all
        (nothing stored to build on, rules that do not load, or a priority to raise, which needs
        the ticket as it is now). A late message on a solved ticket reopens it in every helpdesk,
        and a status change is its own event, so the ticket's status is not needed here."""
        ev, inst = ctx.row.event, ctx.installation
        assert inst is not None
        found = self.store.decisions.decided_conversations(inst.id, 1, ev.ticket_id)
        if ctx.messages_at_handoff is None or not found or found[0]["action"] != Action.ESCALATE.value:
            return None
        stored = conversation_from_json(found[0]["conversation"])
        since = max((m.at for m in stored.messages if m.at is not None), default=None)
        if since is None:
            return None
        try:
            rules = load_rules(inst.rules, stored=True)
        except RulesError:
            return None
        fresh = self.client(inst).messages_since(ev.ticket_id, since, stored.customer.id)
        conversation = dataclasses.replace(planning.caught_up(stored, fresh, since), as_of=self.clock())
        after = len(stored.messages)
        if any(m.role is Role.AGENT and m.public for m in conversation.messages[after:]):
            return Outcome("processed", "a human agent already replied", state=State.ASSIGNED, first_reply=True,
                           observed=observed(conversation))
        return self.while_waiting(ctx, TicketSnapshot(conversation), rules, after, Priority(found[0]["priority"]))

    def while_waiting(self, ctx: EventContext, snapshot: TicketSnapshot, rules: Rules, after: int | None = None,
                      handed_at: Priority | None = None) -> Outcome | None:
        """Handed over, nobody has answered yet: what the customer writes meanwhile reaches the
        agent as a short note (once per new message), and a customer who grows angrier gets a
        higher priority. Nothing else is written: one escalation, one handoff. ``after``: where the
        messages since the handoff start (else counted from the customer's messages then);
        ``handed_at``: the handoff's priority, for a conversation read without its ticket, which
        then gets a note only (None when it needs a higher priority: read the ticket for that)."""
        conversation = snapshot.conversation
        before = ctx.messages_at_handoff
        if after is None:
            said = [i for i, m in enumerate(conversation.messages) if m.role is Role.CUSTOMER]
            if before is None or len(said) < before:
                return Outcome("processed", "already handed over")
            after = said[before - 1] + 1 if before else 0  # the first message after the one Baton handed over on
        since = conversation.messages[after:]
        new = [m for m in since if m.role is Role.CUSTOMER]
        if not new:
            if answered := sum(1 for m in since if m.role is Role.BOT):
                # The handoff did not stop the bot (an Intercom assignment may not end a running Fin
                # step: connectors/intercom/README.md). The conversation is still the team's; the
                # agent reads these answers in the next while-waiting note; the admin reads it here.
                log.warning("pipeline.bot-kept-answering", extra={"installation": ctx.row.event.installation_id,
                                                                  "ticket": conversation.id, "answers": answered})
                return Outcome("processed", f"handed over, but the bot answered {answered} time(s) since: "
                                            "the helpdesk did not stop it")
            return Outcome("processed", "already handed over")
        key = f"baton-{ctx.row.event.installation_id}-{conversation.id}-while-waiting-{(before or 0) + len(new)}"
        decision = self.evaluate(conversation, rules, ctx.row.event.installation_id)
        plan = planning.while_waiting(snapshot, decision, new, after, key)
        if handed_at is not None:
            if decision.priority.rank > handed_at.rank:
                return None
            plan = dataclasses.replace(plan, actions=tuple(a for a in plan.actions if not isinstance(a, SetPriority)))
        return Outcome("processed", f"{len(new)} new customer message(s) since the handoff", plan=plan)

    def evaluate(self, conversation: Conversation, rules: Rules, inst_id: str) -> Decision:
        """The engine within EVALUATION_BUDGET: past it, decided on what finished, never retried into
        the same wall."""
        deadline = time.thread_time() + self.evaluation_budget
        decision = evaluate(conversation, rules, out_of_time=lambda: time.thread_time() > deadline)
        skipped = [f.signal for f in decision.findings if f.details.get("skipped")]
        if skipped or time.thread_time() > deadline:
            metrics.OUT_OF_TIME.inc()
            log.warning("engine.out-of-time", extra={"installation": inst_id, "skipped": skipped,
                                                     "messages": len(conversation.messages)})
        return decision

    def decide(self, ctx: EventContext, snapshot: TicketSnapshot, rules: Rules, now: datetime) -> Outcome:
        """Steps 5-7, pure: engine, routing, write-back plan."""
        decision = self.evaluate(snapshot.conversation, rules, ctx.row.event.installation_id)
        seen = observed(snapshot.conversation, decision, now)
        if decision.action is Action.CONTINUE:
            return Outcome("processed", decision=decision, conversation=snapshot.conversation, observed=seen)
        roster = routing.roster_from_json(ctx.roster, rules.routing, ctx.group_stats)
        previous = [c.agent_id for c in snapshot.conversation.customer.recent_contacts if c.agent_id]
        route = routing.route(decision, snapshot.conversation, roster, rules.routing, now, previous)
        recorded = routing.route_to_json(route)
        if decision.action is Action.OFFER_HUMAN:
            offer = planning.offer(snapshot, decision, route, rules, ctx.row.event.installation_id)
            return Outcome("processed", decision=decision, route=recorded, plan=offer,
                           conversation=snapshot.conversation, observed=seen)
        key = planning.handoff_key(ctx.row.event.installation_id, snapshot.conversation.id, ctx.earlier_plans)
        limit = self.connector(ctx.installation.provider).descriptor.note_limit if ctx.installation else planning.NOTE_LIMIT
        found = self.suggester.suggest(ctx.row.event.installation_id, snapshot.conversation)
        if found and found[0].resolution:
            seen["suggested"] = found[0].resolution  # the suggestion hit rate compares it with the outcome
        return Outcome("processed", decision=decision, route=recorded, state=State.ESCALATED,
                       conversation=snapshot.conversation, observed=seen,
                       escalated_to=route.group_id,
                       plan=planning.handoff(snapshot, decision, route, rules, key, limit, note_text(found)),
                       customer_messages=sum(1 for m in snapshot.conversation.messages if m.role is Role.CUSTOMER))

    def _after_the_bot(self, inst: Installation, ticket_id: str, closed: bool) -> tuple[dict[str, object], str | None]:
        """What the helpdesk says became of the conversation (assignment, first reply, solved,
        reopens, satisfaction, verdict and resolution tags) and its status now (None: not told);
        on a close, also the agent's resolving answer and, for a conversation Baton never decided
        on, the customer's words."""
        client = self.client(inst)
        before = self.store.outcomes.get(inst.id, ticket_id)
        now = client.outcome(ticket_id)
        seen = settled(outcome_values(now, inst.settings.get("resolution_types")), before, self.clock())
        if closed:
            conversation = client.load(ticket_id).conversation
            seen.update(observed(conversation), answer_text=answer_gist(conversation))
            handed = (before or {}).get("escalated_at")
            if handed is not None and "first_agent_reply_at" not in seen:
                seen["first_agent_reply_at"] = first_reply_after(conversation, handed)
        return {k: v for k, v in seen.items() if v is not None}, now.status.lower() or None

    def _failed(self, ctx: EventContext, e: Exception) -> Outcome:
        """The scope of a failure: a 429 waits for the whole account; 401/403 need the admin; any
        other refusal (404 ticket gone, 422 …) fails this event only; the rest is retried."""
        reason = _reason(e)
        if isinstance(e, Held):  # no call made, held after a 429: parked for the drain (see :meth:`released`)
            return dataclasses.replace(self._wait(self._delay(e), reason), held=True)
        if isinstance(e, ApiRateLimited):  # waiting as asked is not failing: it never dead-letters
            metrics.RATE_LIMIT_WAITS.labels(ctx.row.event.provider).inc()
            return dataclasses.replace(self._wait(self._delay(e), reason), rate_limited_until=self._until(e))
        if isinstance(e, CircuitOpen):  # no call was made: waiting for the breaker's probe is not failing
            return self._wait(self._delay(e), reason)
        if isinstance(e, ApiError) and not e.transient:
            return Outcome("dead", reason, attempt=True, flag=reason if isinstance(e, ApiUnauthorized) else None)
        attempts = ctx.row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return Outcome("dead", reason, attempt=True)
        log.info("pipeline.retry", extra={"installation": ctx.row.event.installation_id, "event": ctx.row.id,
                                          "error": type(e).__name__})
        return dataclasses.replace(self._wait(self._backoff(attempts), reason), attempt=True)

    def _wait(self, delay: float, why: str) -> Outcome:
        return Outcome("received", why, not_before=self.clock() + timedelta(seconds=delay))

    def _held(self, until: datetime | None) -> float:
        """Seconds until the helpdesk accepts calls again after a 429 (0 when it does now)."""
        return max(0.0, (until - self.clock()).total_seconds()) if until else 0.0

    # steps 8-9: apply a planned write-back once

    def deliver(self, outbox_id: int) -> str:
        """Claim one outbox row and send it. Returns its status; raises RetryLater for a short wait."""
        claimed = self.store.events.claim(outbox_id, self.lease, self.clock(), writes_since=self.clock() - LOOP_WINDOW)
        if claimed is None or claimed.row.plan is None:
            return "skipped"  # sent, dead, parked for later, or another worker holds it
        return self.send(claimed)

    def send(self, claimed: Delivery) -> str:
        """Send a write-back this worker holds the lease of (claimed by :meth:`deliver`, or stored
        claimed with its decision by :meth:`process_event`); counted by result for /metrics."""
        helpdesk = claimed.installation.provider if claimed.installation else "unknown"
        try:
            result = self._send(claimed)
        except RetryLater:
            metrics.WRITEBACKS.labels(helpdesk, "retry").inc()
            raise
        metrics.WRITEBACKS.labels(helpdesk, result).inc()
        return result

    def _send(self, claimed: Delivery) -> str:
        row, inst = claimed.row, claimed.installation
        assert row.plan is not None
        if inst is None:
            self.store.events.finish(row.id, "dead", "installation missing")
            return "dead"
        if inst.status == "uninstalled":
            self.store.events.finish(row.id, "dead", "the app was uninstalled")
            return "dead"
        if inst.status != "active":  # it needs its admin; the re-probe sets it active again
            self.store.events.finish(row.id, "parked", "waiting for the installation's admin",
                                     self.clock() + REPROBE_EVERY, refund=True)
            return "parked"
        if wait := self._held(claimed.rate_limited_until):  # parked for the drain: see :meth:`released`
            self.store.events.finish(row.id, "parked", "the helpdesk asked us to wait",
                                     self.clock() + timedelta(seconds=wait), refund=True)
            return "parked"
        recent = claimed.recent_writes  # read with the claim; else (an SLA re-route) read now
        if recent is None:
            recent = self.store.events.writes_to_ticket(inst.id, row.ticket_id, self.clock() - LOOP_WINDOW)
        if recent >= LOOP_CAP:
            # a loop, not a decision: this write stops (the console's dead write-backs can retry it);
            # the installation's other tickets go on
            self.store.events.finish(row.id, "dead", LOOP_REASON)
            metrics.LOOP_BREAKS.labels(inst.provider).inc()
            log.warning("baton.loop-breaker", extra={"installation": inst.id, "ticket": row.ticket_id})
            return "dead"
        client = self.client(inst)
        try:
            if row.attempts > 1 and client.applied(row.plan):
                self.store.events.finish(row.id, "sent", "found already applied")
                return "sent"
            try:
                client.apply(row.plan)
            except ApiTooLarge:
                if not (brief := _briefer(row.plan)):
                    raise
                client.apply(brief)  # a shorter note beats a lost escalation
        except Exception as e:
            return self._write_failed(claimed, e)
        self.store.events.finish(row.id, "sent")
        if row.plan.handoff and inst.settings.get("handoff_webhook_url"):
            self.tell_the_bot(inst, row.plan)
        return "sent"

    def tell_the_bot(self, inst: Installation, plan: Plan) -> bool:
        """The optional outbound ``handoff`` webhook for a third-party bot: signed, without customer
        text, tried twice; the bot deduplicates on ``key``. Returns whether the bot took it."""
        assign = next((a for a in plan.actions if isinstance(a, Assign)), None)
        body = json.dumps({"type": "baton.handoff", "key": plan.key, "installation": inst.id,
                           "helpdesk": inst.provider, "ticket_id": plan.ticket_id,
                           "group_id": assign.group_id if assign else None,
                           "agent_id": assign.agent_id if assign else None}).encode()
        stamp = str(int(self.clock().timestamp()))
        signature = hmac.new(handoff_webhook_key(inst).encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Baton-Timestamp": stamp, "X-Baton-Signature": f"sha256={signature}"}
        for _ in range(2):
            try:
                # a pooled session: the address it reaches is checked like a helpdesk's (S12), so a
                # tenant's URL never reaches the metadata service or the private network
                url = inst.settings["handoff_webhook_url"]
                r = pooled_session(url).post(url, data=body, headers=headers, timeout=(2, 5), allow_redirects=False)
                if r.status_code < 300:
                    return True
            except requests.RequestException:
                pass
        log.warning("pipeline.handoff-webhook-failed", extra={"installation": inst.id, "key": plan.key})
        return False

    def _write_failed(self, claimed: Delivery, e: Exception) -> str:
        row, inst = claimed.row, claimed.installation
        assert inst is not None
        reason = _reason(e)
        # waiting as asked, or for the breaker's probe, is not failing: never dead-letters
        limited = isinstance(e, (ApiRateLimited, CircuitOpen))
        permanent = isinstance(e, ApiError) and not e.transient
        if not isinstance(e, ApiError):
            log.exception("pipeline.unexpected", extra={"installation": inst.id, "outbox": row.id})
        if permanent or (row.attempts >= MAX_ATTEMPTS and not limited):
            flag = (inst.id, reason) if isinstance(e, ApiUnauthorized) else None  # only credentials need the admin
            self.store.events.finish(row.id, "dead", reason, flag=flag)
            log.warning("pipeline.dead-letter", extra={"installation": inst.id, "outbox": row.id,
                                                       "error": type(e).__name__})
            return "dead"
        delay = self._delay(e) if isinstance(e, (ApiRateLimited, CircuitOpen)) else self._backoff(row.attempts)
        # parked with not_before: nothing, not even the drain, sends before the helpdesk allows. The
        # attempt counts even when it was only a wait (a limited one never dead-letters, above): the
        # next attempt then first asks the helpdesk whether this plan already landed, since a 429, a
        # hold or an open breaker can stop a plan of several calls after its note was written. Held
        # (no call made: the installation waits for Retry-After or its probe's answer) is parked for
        # the drain, and leaves the installation's 429 hold as it is.
        held = isinstance(e, Held)
        self.store.events.finish(row.id, "parked", reason, self.clock() + timedelta(seconds=delay),
                                 rate_limited=(inst.id, self._until(e)) if isinstance(e, ApiRateLimited) and not held else None)
        if held or delay > self.park_after:
            return "parked"
        raise RetryLater(delay, reason) from e

    def _until(self, e: ApiRateLimited) -> datetime:
        return self.clock() + timedelta(seconds=e.retry_after)

    def _delay(self, e: ApiRateLimited | CircuitOpen) -> float:
        return e.retry_after + self.rng.uniform(0.05, 1.0)  # never before Retry-After

    def _backoff(self, attempts: int) -> float:
        return self.rng.uniform(0, min(600.0, 2.0 * 2 ** attempts))  # full jitter

    def _roster_stale(self, synced: datetime | None) -> bool:
        return synced is None or self.clock() - synced > ROSTER_FRESH

def _seen(ev: Event, seen_at: datetime | None) -> bool:
    """Baton's last read of the ticket already saw the change this event tells of. One change often
    comes twice (Freshdesk's automation rule and its app's event), or after Baton read the ticket
    for an earlier event. Stamps are whole seconds, so a stamp equal to the read's may be another
    change in the same second (the customer's next message): only a creation, which happens once,
    is taken as seen at an equal stamp; any other change is seen only when strictly older."""
    if ev.changed_at is None or seen_at is None:
        return False
    return ev.changed_at < seen_at or (ev.kind == "ticket_created" and ev.changed_at == seen_at)


def _stamp(value: object) -> datetime | None:
    """A ticket's ``updated_at`` as the helpdesk gave it (ISO text, or Unix seconds) as a time."""
    return iso_time(value) or epoch_time(value)


def handoff_webhook_key(inst: Installation) -> str:
    """The key that signs the outbound handoff webhook: derived from the installation's webhook
    secret for this one purpose, so the bot never learns the secret that authenticates the helpdesk."""
    return hmac.new(inst.webhook_secret.encode(), b"baton:handoff-webhook", hashlib.sha256).hexdigest()


def _reason(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def _briefer(plan: Plan) -> Plan | None:
    """The plan with its note's brief version, or None when it has none."""
    if not any(isinstance(a, AddNote) and a.brief for a in plan.actions):
        return None
    return dataclasses.replace(plan, actions=tuple(a.brief if isinstance(a, AddNote) and a.brief else a
                                                   for a in plan.actions))
