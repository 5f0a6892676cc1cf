"""Events and the outbox: the unit of work. The web tier records each delivery once (one
transaction); the worker reads everything a decision needs in one transaction
(:meth:`EventRepository.context`), decides, and writes the outcome in one more
(:meth:`EventRepository.commit`): the event's status, the decision, the conversation's state, the
planned write-back (stored already claimed), the outcome columns and the installation's flags. The
outbox row is written before the helpdesk call and claimed under a lease, so two workers never
both send."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Mapping

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from integration.core import limits
from integration.core.codec import conversation_to_json
from integration.core.model import Conversation, Decision, Event, Installation, Plan, State, utc
from integration.service.store.base import Repository, _insert_or_ignore, _on_conflict, _upsert, plan_from_json, plan_to_json, utcnow
from integration.service.store.decisions import _decision_values
from integration.service.store import outcomes_rollups
from integration.service.store.installations import (_INSTALLATION, Vault, _flag, _rate_limit, _unprefixed,
                                                       installation_from_row)
from integration.service.store.outcomes import _observe
from integration.service.store.tables import conversations, decisions, events, installations, outbox, rosters


@dataclass(frozen=True)
class EventRow:
    id: int
    event: Event
    status: str
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class EventContext:
    """Everything a decision on one event needs from the database, read in one transaction."""

    row: EventRow
    installation: Installation | None
    state: State
    rate_limited_until: datetime | None
    roster: Mapping[str, Any]
    roster_synced_at: datetime | None
    group_stats: Mapping[str, tuple[int, list[float]]]  # group → (waiting, recent first replies in minutes)
    earlier_plans: int  # write-backs already planned for this ticket
    escalated_at: datetime | None = None  # when the conversation was last handed over
    messages_at_handoff: int | None = None  # the customer's messages then: later ones are new to the agent
    recent_writes: int | None = None  # write-backs sent to the ticket since ``writes_since`` (the loop breaker)
    seen_at: datetime | None = None  # the ticket's update stamp as Baton last read it
    conversation_row: bool = True  # the conversation had a row when read (False: its first handoff inserts it)


@dataclass(frozen=True)
class Outcome:
    """What handling one event changed. :meth:`EventRepository.commit` writes all of it in one transaction:
    the event's status, the decision, the planned write-back, the conversation and the
    installation's flags."""

    status: str  # processed | dead | received (waiting for ``not_before``)
    note: str | None = None  # why: a state change, an error, the wait's reason
    not_before: datetime | None = None
    attempt: bool = False  # this try counts toward the dead-letter cap
    state: State | None = None  # the conversation's new state
    escalated_to: str | None = None  # with state ESCALATED: the group it went to
    customer_messages: int | None = None  # with state ESCALATED: the customer's messages so far
    first_reply: bool = False  # a person answered: closes the wait sample
    decision: Decision | None = None
    route: Mapping[str, Any] | None = None
    conversation: Conversation | None = None  # what the decision was made on: the preview replays it
    observed: Mapping[str, Any] | None = None  # outcome columns this event tells (see ``outcomes``)
    plan: Plan | None = None
    flag: str | None = None  # the installation needs its admin, for this reason
    rate_limited_until: datetime | None = None
    # held with its installation after a 429: parked for the drain, which lets one probe go at
    # Retry-After and the rest once it answers (never a countdown, however short the wait)
    held: bool = False
    seen_at: datetime | None = None  # the ticket's update stamp in the read this outcome was decided on


@dataclass(frozen=True)
class OutboxRow:
    id: int
    installation_id: str
    ticket_id: str
    plan: Plan | None
    status: str
    attempts: int
    not_before: datetime | None


@dataclass(frozen=True)
class Delivery:
    """An outbox row claimed for one attempt, with its installation, read in the claiming transaction."""

    row: OutboxRow
    installation: Installation | None
    rate_limited_until: datetime | None
    recent_writes: int | None = None  # write-backs sent to its ticket since ``writes_since``; None: not read


class ConversationMoved(RuntimeError):
    """Another worker changed the conversation's state since this one read it (two events of one
    ticket decided at once): nothing of this outcome is written; decide again on the new state."""


class EventRepository(Repository):
    def __init__(self, engine: Engine, vault: Vault):
        super().__init__(engine, vault)
        self._rosters: dict[str, tuple[datetime, Mapping[str, Any]]] = {}  # installation → (synced_at, data)

    # events: the web tier's one transaction per delivery

    def receive(self, ev: Event, now: datetime | None = None) -> tuple[int, str, bool]:
        """Record the event once per (installation, key), as queued: the caller queues it next and
        calls :meth:`unqueue` if it cannot. Returns (row id, status, whether it is new)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            rid = _insert_or_ignore(conn, events, ("installation_id", "key"), dict(
                installation_id=ev.installation_id, key=ev.key, kind=ev.kind, ticket_id=ev.ticket_id,
                actor_id=ev.actor_id, status="enqueued", attempts=0, received_at=now, queued_at=now,
                changed_at=ev.changed_at))
            if rid is not None:
                return rid, "enqueued", True
            row = conn.execute(select(events.c.id, events.c.status).where(
                events.c.installation_id == ev.installation_id, events.c.key == ev.key)).one()
        return int(row[0]), row[1], False

    def unqueue(self, event_id: int) -> None:
        """The queue refused it: leave it for the drain, which queues what was received and not queued."""
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id, events.c.status == "enqueued")
                         .values(status="received", queued_at=None))

    def get(self, event_id: int) -> EventRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(events, installations.c.provider)
                             .join(installations, installations.c.id == events.c.installation_id)
                             .where(events.c.id == event_id)).mappings().first()
        return _event_row(r) if r else None

    def fail(self, event_id: int, error: str, max_attempts: int) -> int:
        """Count a failed attempt on an event that could not even be read; dead at ``max_attempts``.
        Returns the attempts so far."""
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id)
                         .values(attempts=events.c.attempts + 1, error=error))
            attempts = int(conn.execute(select(events.c.attempts).where(events.c.id == event_id)).scalar() or 0)
            if attempts >= max_attempts:
                conn.execute(update(events).where(events.c.id == event_id).values(status="dead", processed_at=utcnow()))
        return attempts

    def replay(self, inst_id: str) -> tuple[int, int]:
        """Give an installation's dead events and dead write-backs another chance (after the admin
        fixed what killed them): they start again with no attempts. Returns (events, writes)."""
        with self.engine.begin() as conn:
            n_events = conn.execute(update(events).where(events.c.installation_id == inst_id, events.c.status == "dead")
                                    .values(status="received", attempts=0, not_before=utcnow(), queued_at=None,
                                            processed_at=None)).rowcount
            n_writes = conn.execute(update(outbox).where(outbox.c.installation_id == inst_id, outbox.c.status == "dead",
                                                         outbox.c.plan.is_not(None))
                                    .values(status="parked", attempts=0, not_before=utcnow(), lease_until=None)).rowcount
        return int(n_events), int(n_writes)

    def unfinished(self) -> list[int]:
        """Events received or queued and not processed yet, whose wait (if any) is over: what an
        in-memory queue lost when its process ended."""
        now = utcnow()
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(events.c.id).where(
                events.c.status.in_(("received", "enqueued")),
                events.c.not_before.is_(None) | (events.c.not_before <= now)).order_by(events.c.id))]

    def mark_enqueued(self, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id, events.c.status.in_(("received", "enqueued")))
                         .values(status="enqueued", queued_at=utcnow()))

    def stranded(self, older_than: timedelta, now: datetime | None = None,
                 requeue_after: timedelta = timedelta(minutes=15)) -> list[int]:
        """Events to queue (again): recorded while the broker was down, parked until a long
        Retry-After, or queued so long ago that their task must be lost (a worker killed mid-task
        waits for the broker's visibility timeout; Redis without AOF forgets). Processing an event
        twice is harmless, losing one is not."""
        return [eid for eid, _, _ in self.due(older_than, now, requeue_after)]

    def due(self, older_than: timedelta, now: datetime | None = None,
            requeue_after: timedelta = timedelta(minutes=15)) -> list[tuple[int, str, datetime | None]]:
        """:meth:`stranded` as (id, installation, parked until): the time a parked event
        waited for (Retry-After, a backoff), None for one stranded or lost. Oldest first."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            return [(r[0], r[1], utc(r[2]) if r[3] == "received" else None) for r in conn.execute(
                select(events.c.id, events.c.installation_id, events.c.not_before, events.c.status).where(
                    ((events.c.status == "received")
                     & ((events.c.not_before.is_(None) & (events.c.received_at <= now - older_than))
                        | (events.c.not_before <= now)))
                    | ((events.c.status == "enqueued") & (events.c.queued_at <= now - requeue_after)))
                .order_by(events.c.id))]

    def backlog(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Per helpdesk: events not processed yet, and dead events and write-backs (for /metrics)."""
        with self.engine.connect() as conn:
            depth = dict(conn.execute(select(installations.c.provider, func.count())
                                      .select_from(events.join(installations, installations.c.id == events.c.installation_id))
                                      .where(events.c.status.in_(("received", "enqueued")))
                                      .group_by(installations.c.provider)).all())
            dead = {(p, "event"): n for p, n in conn.execute(
                select(installations.c.provider, func.count())
                .select_from(events.join(installations, installations.c.id == events.c.installation_id))
                .where(events.c.status == "dead").group_by(installations.c.provider))}
            dead.update({(p, "write"): n for p, n in conn.execute(
                select(installations.c.provider, func.count())
                .select_from(outbox.join(installations, installations.c.id == outbox.c.installation_id))
                .where(outbox.c.status == "dead").group_by(installations.c.provider))})
        return depth, dead

    # the worker's unit of work: one read, a pure decision, one commit

    def context(self, event_id: int, *, for_decision: bool = True,
                writes_since: datetime | None = None) -> EventContext | None:
        """The event, its installation, the conversation's state, the 429 hold, the roster and
        the wait statistics (only ``for_decision``), and the write-backs sent to the ticket since
        ``writes_since``, in one read transaction."""
        stmt = _CONTEXT if writes_since is None else _CONTEXT_WRITES
        with self.engine.connect() as conn:
            r = conn.execute(stmt, {"event_id": event_id, "writes_since": writes_since}).mappings().first()
            if r is None:
                return None
            row = _event_row(r)
            inst = installation_from_row(self.vault, _unprefixed(r)) if r["provider"] is not None else None
            state = State(r["conversation_state"]) if r["conversation_state"] else State.BOT
            stats: dict[str, tuple[int, list[float]]] = {}
            earlier, roster = 0, MappingProxyType({})
            if for_decision and inst is not None and state not in (State.ESCALATED, State.ASSIGNED):
                roster = self._roster_as_of(conn, inst.id, utc(r["roster_synced_at"]))
                stats = _group_stats(conn, inst.id)
                earlier = r["earlier_plans"]
            recent = r["recent_writes"] if writes_since is not None and inst is not None else None
        return EventContext(row, inst, state, utc(r["i_rate_limited_until"]), roster,
                            utc(r["roster_synced_at"]), stats, int(earlier), utc(r["conversation_escalated_at"]),
                            r["conversation_customer_messages"], recent, utc(r["conversation_seen_at"]),
                            r["conversation_state"] is not None)

    def _roster_as_of(self, conn: Connection, inst_id: str, synced: datetime | None) -> Mapping[str, Any]:
        """The installation's roster as synced at ``synced``, read from the database only when this
        process has not kept that version: a sync writes a new ``synced_at``, so the kept copy is
        never older than the row (and the sync itself runs when it is older than ROSTER_FRESH)."""
        if synced is None:
            return {}
        kept = self._rosters.get(inst_id)
        if kept is None or kept[0] != synced:
            data = conn.execute(_ROSTER, {"b_inst": inst_id}).scalar()
            kept = self._rosters[inst_id] = (synced, MappingProxyType(dict(data or {})))
        return kept[1]  # shared by this process's events: read, never changed (routing builds its own)

    def commit(self, ctx: EventContext, outcome: Outcome, now: datetime, lease: timedelta) -> OutboxRow | None:
        """Write one event's outcome in one transaction. A new plan is stored already claimed by the
        caller (sending, with a lease) and returned for delivery at once; a plan whose key exists
        belongs to whoever stored it first, and None is returned."""
        ev = ctx.row.event
        with self.engine.begin() as conn:
            values: dict[str, Any] = {"b_id": ctx.row.id, "status": outcome.status, "error": outcome.note,
                                      "not_before": outcome.not_before}
            if outcome.status in ("processed", "dead"):
                values["processed_at"] = now
            conn.execute(_EVENT_TRIED if outcome.attempt else _EVENT_DONE, values)
            if outcome.observed:
                _observe(conn, ev.installation_id, ev.ticket_id, outcome.observed, now)
            if outcome.flag:
                _flag(conn, ev.installation_id, outcome.flag)
            if outcome.rate_limited_until:
                _rate_limit(conn, ev.installation_id, outcome.rate_limited_until)
            key = dict(installation_id=ev.installation_id, ticket_id=ev.ticket_id)
            seen = {"seen_at": outcome.seen_at} if outcome.seen_at else {}
            if outcome.state is not None:
                state: dict[str, Any] = {"state": outcome.state.value, "updated_at": now, **seen}
                if outcome.state is State.ESCALATED:
                    state.update(group_id=outcome.escalated_to, escalated_at=now, first_reply_at=None,
                                 customer_messages=outcome.customer_messages)
                    _hand_over(conn, key, ctx.state, state, ctx.conversation_row)
                else:
                    _upsert(conn, conversations, ("installation_id", "ticket_id"), key, state)
            elif seen:  # the state stays; the next event of a change this read saw reads nothing
                _upsert(conn, conversations, ("installation_id", "ticket_id"), key, {**seen, "updated_at": now},
                        insert_only={"state": ctx.state.value})
            if outcome.first_reply:
                conn.execute(_FIRST_REPLY, {"b_inst": ev.installation_id, "b_ticket": ev.ticket_id, "first_reply_at": now})
                outcomes_rollups.first_reply(conn, ev.installation_id, ev.ticket_id, now)  # until the helpdesk's figure
            decision_id = None
            if outcome.decision is not None:
                decision_id = conn.execute(_DECISION, dict(
                    **_decision_values(ev.installation_id, ev.ticket_id, ctx.row.id, outcome.decision, outcome.route),
                    conversation=conversation_to_json(limits.kept(outcome.conversation)) if outcome.conversation else None,
                    rules_version=ctx.installation.rules_version if ctx.installation else None,
                    created_at=now)).inserted_primary_key[0]
            if outcome.plan is None:
                return None
            plan = outcome.plan
            oid = _insert_or_ignore(conn, outbox, ("key",), dict(
                installation_id=ev.installation_id, ticket_id=plan.ticket_id, decision_id=decision_id, key=plan.key,
                plan=plan_to_json(plan), status="sending", attempts=1, lease_until=now + lease, created_at=now))
        return OutboxRow(oid, ev.installation_id, plan.ticket_id, plan, "sending", 1, None) if oid else None

    # conversations

    def state(self, inst_id: str, ticket_id: str) -> State:
        with self.engine.connect() as conn:
            s = conn.execute(_STATE, {"b_inst": inst_id, "b_ticket": ticket_id}).scalar()
        return State(s) if s else State.BOT

    def set_state(self, inst_id: str, ticket_id: str, state: State) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, conversations, ("installation_id", "ticket_id"),
                    dict(installation_id=inst_id, ticket_id=ticket_id), {"state": state.value, "updated_at": utcnow()})

    def group_stats(self, inst_id: str) -> dict[str, tuple[int, list[float]]]:
        with self.engine.connect() as conn:
            return _group_stats(conn, inst_id)

    # handoff SLA

    def waiting_handoffs(self, inst_id: str) -> list[dict[str, Any]]:
        """Handed-over conversations nobody answered yet and not re-routed for their SLA, with the
        category and route of their handoff decision."""
        latest = (select(decisions.c.ticket_id, func.max(decisions.c.id).label("id"))
                  .where(decisions.c.installation_id == inst_id, decisions.c.action == "escalate")
                  .group_by(decisions.c.ticket_id).subquery())
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(conversations.c.ticket_id, conversations.c.group_id, conversations.c.escalated_at,
                       decisions.c.category, decisions.c.route)
                .join(latest, latest.c.ticket_id == conversations.c.ticket_id)
                .join(decisions, decisions.c.id == latest.c.id)
                .where(conversations.c.installation_id == inst_id, conversations.c.state == State.ESCALATED.value,
                       conversations.c.first_reply_at.is_(None), conversations.c.sla_at.is_(None),
                       conversations.c.escalated_at.is_not(None))).mappings().all()
        return [{**r, "escalated_at": utc(r["escalated_at"])} for r in rows]

    def plan_sla(self, inst_id: str, plan: Plan, now: datetime, lease: timedelta) -> OutboxRow | None:
        """Mark the conversation re-routed for its SLA and store the write-back already claimed, in
        one transaction (None: it was marked already)."""
        with self.engine.begin() as conn:
            marked = conn.execute(update(conversations).where(
                conversations.c.installation_id == inst_id, conversations.c.ticket_id == plan.ticket_id,
                conversations.c.sla_at.is_(None)).values(sla_at=now)).rowcount
            if not marked:
                return None
            oid = _insert_or_ignore(conn, outbox, ("key",), dict(
                installation_id=inst_id, ticket_id=plan.ticket_id, key=plan.key, plan=plan_to_json(plan),
                status="sending", attempts=1, lease_until=now + lease, created_at=now))
        return OutboxRow(oid, inst_id, plan.ticket_id, plan, "sending", 1, None) if oid else None

    # outbox

    def claim(self, outbox_id: int, lease: timedelta, now: datetime | None = None,
              writes_since: datetime | None = None) -> Delivery | None:
        """Take the row for one delivery attempt, or None if it is sent, dead, parked for later or
        held by a live lease. The conditional UPDATE makes two workers never both send; the row
        and its installation are read in the same transaction."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            if not conn.execute(_CLAIM, {"b_id": outbox_id, "b_now": now, "lease_until": now + lease}).rowcount:
                return None
            r = conn.execute(_DELIVERY, {"b_id": outbox_id}).mappings().one()
            recent = (_writes_to_ticket(conn, r["installation_id"], r["ticket_id"], writes_since)
                      if writes_since is not None else None)
        inst = installation_from_row(self.vault, _unprefixed(r)) if r["i_id"] is not None else None
        return Delivery(_outbox_row(r), inst, utc(r["i_rate_limited_until"]), recent)

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(outbox).where(outbox.c.id == outbox_id)).mappings().first()
        return _outbox_row(r) if r else None

    def finish(self, outbox_id: int, status: str, error: str | None = None, not_before: datetime | None = None,
               refund: bool = False, *, flag: tuple[str, str] | None = None,
               rate_limited: tuple[str, datetime] | None = None) -> None:
        """End a delivery attempt in one transaction; ``refund`` does not count it (a wait the
        helpdesk asked for); ``flag`` and ``rate_limited`` also mark the installation."""
        values: dict[str, Any] = {"b_id": outbox_id, "status": status, "last_error": error, "lease_until": None,
                                  "not_before": not_before}
        if status == "sent":
            values.update(sent_at=utcnow(), plan=None)
        with self.engine.begin() as conn:
            conn.execute(_FINISH_REFUNDED if refund else _FINISH, values)
            if flag:
                _flag(conn, *flag)
            if rate_limited:
                _rate_limit(conn, *rate_limited)

    def due_outbox(self, now: datetime | None = None, pending_for: timedelta = timedelta(seconds=30)) -> list[int]:
        """Writes to (re)send: parked ones whose time has come, ones whose sender died (lease
        expired), and ones left pending because their task was never enqueued."""
        return [oid for oid, _, _ in self.due_writes(now, pending_for)]

    def due_writes(self, now: datetime | None = None,
                   pending_for: timedelta = timedelta(seconds=30)) -> list[tuple[int, str, datetime | None]]:
        """:meth:`due_outbox` as (id, installation, parked until): the time a parked write waited
        for, None for one whose sender died or was never queued. Oldest first."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            return [(r[0], r[1], utc(r[2]) if r[3] == "parked" else None) for r in conn.execute(
                select(outbox.c.id, outbox.c.installation_id, outbox.c.not_before, outbox.c.status).where(
                    ((outbox.c.status == "parked") & (outbox.c.not_before <= now))
                    | ((outbox.c.status == "sending") & (outbox.c.lease_until <= now))
                    | ((outbox.c.status == "pending") & (outbox.c.created_at <= now - pending_for)))
                .order_by(outbox.c.id))]

    # the loop breaker: how often Baton wrote to one ticket lately (pipeline LOOP_CAP)

    def writes_to_ticket(self, inst_id: str, ticket_id: str, since: datetime) -> int:
        """Write-backs sent to one ticket since ``since``; :meth:`claim` and :meth:`context`
        read the same in their own transaction when given ``writes_since``."""
        with self.engine.connect() as conn:
            return _writes_to_ticket(conn, inst_id, ticket_id, since)


def _context_statement(writes: bool) -> Any:
    """The event with its installation, conversation and roster stamp, and the ticket's
    write-backs counted in the same statement (the outbox's ticket index): planned ones for the
    handoff key, sent ones since ``writes_since`` for the loop breaker. Built once (store/base.py)."""
    ticket = (outbox.c.installation_id == events.c.installation_id) & (outbox.c.ticket_id == events.c.ticket_id)
    counts = [select(func.count()).where(ticket).scalar_subquery().label("earlier_plans")]
    if writes:
        counts.append(select(func.count()).where(ticket, outbox.c.status == "sent",
                                                 outbox.c.sent_at >= bindparam("writes_since", type_=outbox.c.sent_at.type))
                      .scalar_subquery().label("recent_writes"))
    return (select(events, installations.c.provider, *_INSTALLATION, conversations.c.state.label("conversation_state"),
                   conversations.c.escalated_at.label("conversation_escalated_at"),
                   conversations.c.customer_messages.label("conversation_customer_messages"),
                   conversations.c.seen_at.label("conversation_seen_at"),
                   rosters.c.synced_at.label("roster_synced_at"), *counts)
            .outerjoin(installations, installations.c.id == events.c.installation_id)
            .outerjoin(conversations, (conversations.c.installation_id == events.c.installation_id)
                       & (conversations.c.ticket_id == events.c.ticket_id))
            .outerjoin(rosters, rosters.c.installation_id == events.c.installation_id)
            .where(events.c.id == bindparam("event_id", type_=events.c.id.type)))


_CONTEXT, _CONTEXT_WRITES = _context_statement(False), _context_statement(True)

# The rest of the worker's per-event statements, built once too (store/base.py, "Built once"): the
# WHERE takes parameters named b_…, and an UPDATE sets the columns its other parameters name.
_EVENT_DONE = update(events).where(events.c.id == bindparam("b_id"))
_EVENT_TRIED = _EVENT_DONE.values(attempts=events.c.attempts + 1)  # the try counts toward the dead-letter cap
_DECISION = insert(decisions)
_ROSTER = select(rosters.c.data).where(rosters.c.installation_id == bindparam("b_inst"))
_TICKET = (conversations.c.installation_id == bindparam("b_inst")) & (conversations.c.ticket_id == bindparam("b_ticket"))
_STATE = select(conversations.c.state).where(_TICKET)
_HAND_OVER = update(conversations).where(_TICKET, conversations.c.state == bindparam("b_state"))  # compare-and-set
_FIRST_REPLY = update(conversations).where(_TICKET, conversations.c.escalated_at.is_not(None),
                                           conversations.c.first_reply_at.is_(None))
_GROUP_STATS = (select(conversations.c.group_id, conversations.c.escalated_at, conversations.c.first_reply_at,
                       conversations.c.state)
                .where(conversations.c.installation_id == bindparam("b_inst"), conversations.c.group_id.is_not(None),
                       conversations.c.escalated_at >= bindparam("b_since"))
                .order_by(conversations.c.first_reply_at.desc()))
_CLAIM = update(outbox).where(  # claimable: pending, parked until before b_now, or its sender's lease expired
    outbox.c.id == bindparam("b_id"),
    (outbox.c.status == "pending") | ((outbox.c.status == "parked") & (outbox.c.not_before <= bindparam("b_now")))
    | ((outbox.c.status == "sending") & (outbox.c.lease_until <= bindparam("b_now")))
).values(status="sending", attempts=outbox.c.attempts + 1)
_DELIVERY = (select(outbox, *_INSTALLATION).outerjoin(installations, installations.c.id == outbox.c.installation_id)
             .where(outbox.c.id == bindparam("b_id")))
_FINISH = update(outbox).where(outbox.c.id == bindparam("b_id"))
_FINISH_REFUNDED = _FINISH.values(attempts=outbox.c.attempts - 1)  # a wait the helpdesk asked for does not count
_WRITES = select(func.count()).select_from(outbox).where(
    outbox.c.installation_id == bindparam("b_inst"), outbox.c.ticket_id == bindparam("b_ticket"),
    outbox.c.status == "sent", outbox.c.sent_at >= bindparam("b_since"))


def _writes_to_ticket(conn: Connection, inst_id: str, ticket_id: str, since: datetime) -> int:
    """Write-backs sent to one ticket since ``since`` (the outbox's ticket index)."""
    return int(conn.execute(_WRITES, {"b_inst": inst_id, "b_ticket": ticket_id, "b_since": since}).scalar_one())


def _event_row(r: Mapping[str, Any]) -> EventRow:
    ev = Event(r["provider"] or "", r["installation_id"], r["key"], r["kind"], r["ticket_id"], r["actor_id"],
               changed_at=utc(r["changed_at"]))
    return EventRow(r["id"], ev, r["status"], r["attempts"], utc(r["received_at"]))  # type: ignore[arg-type]


def _outbox_row(r: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(r["id"], r["installation_id"], r["ticket_id"], plan_from_json(r["plan"]) if r["plan"] else None,
                     r["status"], r["attempts"], utc(r["not_before"]))


STATS_WINDOW = timedelta(days=30)  # wait statistics look at handoffs this recent: the read stays bounded


def _group_stats(conn: Connection, inst_id: str, samples: int = 50) -> dict[str, tuple[int, list[float]]]:
    """Per group: conversations waiting for a first reply, and the latest first-reply times in
    minutes (at most ``samples``), over the handoffs of the last STATS_WINDOW (read with every
    decision, so it must not grow with the installation's history)."""
    rows = conn.execute(_GROUP_STATS, {"b_inst": inst_id, "b_since": utcnow() - STATS_WINDOW}).all()
    out: dict[str, tuple[int, list[float]]] = {}
    for group, escalated, replied, state in rows:
        depth, waits = out.get(group, (0, []))
        if replied is None and state == State.ESCALATED.value:
            depth += 1
        elif replied is not None and escalated is not None and len(waits) < samples:
            waits.append((utc(replied) - utc(escalated)).total_seconds() / 60)  # type: ignore[operator]
        out[group] = (depth, waits)
    return out


def _hand_over(conn: Connection, key: Mapping[str, str], seen: State, values: Mapping[str, Any],
               had_row: bool = True) -> None:
    """Move the conversation to ESCALATED only from the state the decision was made on. Two events
    of one ticket decided at once (a helpdesk often sends two webhooks for one change) both see
    "bot"; under PostgreSQL's read committed, the second may even count the first one's write-back
    and so plan a second handoff under another key. The compare-and-set lets one of them win:
    the loser's UPDATE waits for the winner's row lock, then finds the state changed. A
    conversation that had no row when read (``had_row`` False, so ``seen`` is "bot") is inserted
    first: one statement instead of three; a row another worker inserted meanwhile makes the
    insert do nothing, and the compare-and-set decides as before."""
    if not had_row and seen is State.BOT and _insert_or_ignore_row(conn, key, values):
        return
    where = {"b_inst": key["installation_id"], "b_ticket": key["ticket_id"]}
    if conn.execute(_HAND_OVER, {**values, **where, "b_state": seen.value}).rowcount:
        return
    exists = conn.execute(_STATE, where).first()
    if not (exists is None and seen is State.BOT and _insert_or_ignore_row(conn, key, values)):
        raise ConversationMoved(f"conversation {key['ticket_id']} is no longer {seen.value}")


def _insert_or_ignore_row(conn: Connection, key: Mapping[str, str], values: Mapping[str, Any]) -> bool:
    """Insert the conversation's row unless it exists: whether it was inserted."""
    row = {**key, **values}
    return bool(conn.execute(_on_conflict(conn, conversations, tuple(key), tuple(row), (), returning=False), row).rowcount)
