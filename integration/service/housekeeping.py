"""What beat runs on a schedule, beside the event path of :mod:`integration.service.pipeline`:
the reconciliation sweep for changes no webhook brought, the handoff SLA's re-routes, the re-read
of outcomes customers rate late, the re-probe of installations flagged for their admin, the roster
refresh and the drain's choice of what to queue again. :class:`Housekeeping` is a part of
:class:`~integration.service.pipeline.Pipeline` (its base): the same store, clients, guards and
clock, so a sweep's writes follow the same rules as an event's.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from integration.core import plan as planning
from integration.core import routing
from integration.core.contract import ApiError, ApiRateLimited, CircuitOpen
from integration.core.model import Event, Installation
from integration.core.rules import Rules, RulesError, load_rules
from integration.service.observe import outcome_values, settled
from integration.service.quota import NONE, ONE, Held
from integration.service.store import Delivery

log = logging.getLogger("baton.pipeline")

RECONCILE_FIRST = timedelta(days=1)  # an installation's first sweep looks this far back (never before its install)
# Each sweep starts this long before the newest change the last one saw: helpdesk clocks and pagination
# are not exact (Zendesk holds back the last minute), and the dedup makes reading a change twice harmless.
RECONCILE_OVERLAP = timedelta(seconds=60)
# Helpdesks stamp changes to the whole second and their clocks and Baton's differ a little: an event
# received up to this long before a change stands for it.
CLOCK_SKEW = timedelta(seconds=2)


class RetryLater(Exception):
    """Transient failure: run the same step again after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay


class Housekeeping:
    """The scheduled half of the pipeline (see the module's docstring)."""

    if TYPE_CHECKING:  # given by Pipeline
        from integration.service.quota import Guards
        from integration.service.store import Store
        store: Store
        guards: Guards
        lease: timedelta
        stranded_after: timedelta
        requeue_after: timedelta
        clock: Callable[[], datetime]

        def client(self, inst: Installation) -> Any: ...
        def evaluate(self, conversation: Any, rules: Rules, inst_id: str) -> Any: ...
        def send(self, claimed: Delivery) -> str: ...
        def _held(self, until: datetime | None) -> float: ...
        def _until(self, e: ApiRateLimited) -> datetime: ...

    def reread_outcomes(self, days: int = 7, per_installation: int = 200) -> int:
        """Read again what the helpdesk says of recently solved conversations that have no rating
        yet (customers rate after the solve; Zendesk tells nobody). Returns how many were read."""
        read = 0
        since = self.clock() - timedelta(days=days)
        for inst_id in self.store.installations.active():
            inst = self.store.installations.get(inst_id)
            if inst is None or self._held(self.store.installations.rate_limited_until(inst_id)):
                continue
            client = self.client(inst)
            for ticket in self.store.outcomes.unrated_solved(inst_id, since, per_installation):
                try:
                    values = settled(outcome_values(client.outcome(ticket), inst.settings.get("resolution_types")),
                                     self.store.outcomes.get(inst_id, ticket), self.clock())
                except ApiRateLimited as e:
                    if not isinstance(e, Held):
                        self.store.installations.rate_limit(inst_id, self._until(e))
                    break  # this account waits; the next run goes on
                except CircuitOpen:
                    break  # its helpdesk is failing: the next run goes on
                except ApiError:
                    continue
                self.store.outcomes.record(inst_id, ticket, values, self.clock())
                read += 1
        return read

    # the reconciliation: beat sweeps every few minutes for what the webhooks never brought

    def reconcile(self, enqueue: Callable[[int, str], object] | None = None) -> int:
        """Helpdesks drop webhooks (GitHub never retries, Intercom drops throttled notifications,
        Zendesk's circuit breaker pauses a webhook): list, per active installation not asked to wait,
        the conversations changed since its last sweep, and record an event for each change Baton
        never heard of, through the same dedup as webhooks (key ``reconcile:<ticket>:<updated_at>``,
        so two sweeps record one change once), then queue it with ``enqueue(event id, installation)``
        (without one, or when it fails, the drain queues it). A 429 stops that installation's sweep
        until Retry-After; another refusal skips it until the next sweep; one installation's failure
        never stops the others'. Returns how many events it recorded."""
        recorded = 0
        for inst_id in self.store.installations.active():
            try:
                recorded += self._reconcile(inst_id, enqueue)
            except Exception:  # a bug or a database hiccup: this installation waits for the next sweep
                log.exception("pipeline.reconcile-failed", extra={"installation": inst_id})
        return recorded

    def _reconcile(self, inst_id: str, enqueue: Callable[[int, str], object] | None) -> int:
        inst = self.store.installations.get(inst_id)
        if inst is None or self._held(self.store.installations.rate_limited_until(inst_id)):
            return 0
        now = self.clock()
        swept, installed = self.store.lifecycle.sweep_start(inst_id)
        since = swept or max(now - RECONCILE_FIRST, (installed or now) - RECONCILE_OVERLAP)
        try:
            changed = self.client(inst).changed_since(since)
        except ApiRateLimited as e:
            if not isinstance(e, Held):
                self.store.installations.rate_limit(inst_id, self._until(e))
            return 0
        except ApiError as e:
            log.warning("pipeline.reconcile-skipped", extra={"installation": inst_id, "error": type(e).__name__})
            return 0
        heard = self.store.lifecycle.heard_since(inst_id, {t: at - CLOCK_SKEW for t, at in changed})
        recorded = 0
        for ticket, at in changed:
            if ticket in heard:
                continue
            key = f"reconcile:{ticket}:{int(at.timestamp())}"
            rid, _, new = self.store.events.receive(Event(inst.provider, inst_id, key, "comment_added", ticket), now)
            if not new:
                continue
            recorded += 1
            try:
                if enqueue is None:
                    raise LookupError("no queue given: the drain queues it")
                enqueue(rid, inst_id)
            except Exception:  # recorded but not queued: the drain queues what was received and not queued
                self.store.events.unqueue(rid)
        if changed:
            self.store.lifecycle.mark_swept(inst_id, max(at for _, at in changed) - RECONCILE_OVERLAP)
        log.info("pipeline.reconciled", extra={"installation": inst_id, "changed": len(changed), "recorded": recorded})
        return recorded

    # the handoff SLA: beat runs this every minute

    def check_slas(self) -> int:
        """Re-route, once, every handed-over conversation nobody answered within its category's SLA
        (counted in the group's business hours): the next qualified agent, the priority one step
        up, a note saying why. Returns how many were re-routed."""
        done = 0
        for inst_id in self.store.installations.active():
            inst = self.store.installations.get(inst_id)
            if inst is None:
                continue
            try:
                rules = load_rules(inst.rules, stored=True)
            except RulesError:
                continue
            if not rules.routing.sla:
                continue
            data, _ = self.store.installations.roster(inst_id)
            roster = routing.roster_from_json(data, rules.routing, self.store.events.group_stats(inst_id))
            now = self.clock()
            for waiting in self.store.events.waiting_handoffs(inst_id):
                minutes = routing.sla_minutes(rules.routing, waiting["category"])
                group = roster.groups.get(str(waiting["group_id"])) if waiting["group_id"] else None
                if minutes and routing.business_minutes(waiting["escalated_at"], now, group and group.hours) >= minutes:
                    try:
                        done += self._reroute(inst, rules, roster, waiting, minutes, now)
                    except (ApiError, RetryLater) as e:  # this conversation waits for the next minute
                        log.info("pipeline.sla-deferred", extra={"installation": inst_id, "error": type(e).__name__})
        return done

    def _reroute(self, inst: Installation, rules: Rules, roster: routing.Roster, waiting: dict[str, object],
                 minutes: int, now: datetime) -> int:
        snapshot = self.client(inst).load(str(waiting["ticket_id"]))
        conversation = dataclasses.replace(snapshot.conversation, as_of=now)
        if conversation.human_replied:
            return 0  # the reply's own event closes the wait
        decision = self.evaluate(conversation, rules, inst.id)
        first = ((waiting.get("route") or {}).get("agent_id"))  # type: ignore[union-attr]
        others = routing.Roster(tuple(a for a in roster.agents if a.id != first), roster.groups)
        route = routing.route(decision, conversation, others, rules.routing, now)
        key = f"baton-{inst.id}-{conversation.id}-sla"
        plan = planning.sla_reroute(snapshot, route, planning.raised(decision.priority), minutes, key)
        claimed = self.store.events.plan_sla(inst.id, plan, now, self.lease)
        if claimed is not None:
            self.send(Delivery(claimed, inst, self.store.installations.rate_limited_until(inst.id)))
        return 1 if claimed is not None else 0
    def sync_roster(self, inst_id: str) -> bool:
        """Refresh one installation's agents and groups from its helpdesk; False when it could not
        (the previous roster stays: routing on slightly old data beats routing on none)."""
        inst = self.store.installations.get(inst_id)
        if inst is None or inst.status != "active" or self._held(self.store.installations.rate_limited_until(inst_id)):
            return False
        try:
            roster = self.client(inst).roster()
        except ApiError as e:
            # not a reason to stop escalating: a token may write tickets yet lack the right to list agents
            if isinstance(e, ApiRateLimited) and not isinstance(e, Held):
                self.store.installations.rate_limit(inst.id, self._until(e))
            log.warning("pipeline.roster-sync-failed", extra={"installation": inst.id, "error": type(e).__name__})
            return False
        self.store.installations.save_roster(inst.id, roster)
        return True

    def reprobe(self) -> list[str]:
        """Installations flagged for their admin that work again (the credentials answer, the rules
        are valid) are set active; returns their ids."""
        fixed = []
        for inst_id in self.store.installations.flagged():
            inst = self.store.installations.get(inst_id)
            if inst is None:
                continue
            try:
                load_rules(inst.rules, stored=True)
                self.client(inst).probe()
            except (RulesError, ApiError) as e:
                log.info("pipeline.reprobe-failed", extra={"installation": inst_id, "error": type(e).__name__})
                continue
            self.store.installations.reactivate(inst_id)
            log.warning("pipeline.reactivated", extra={"installation": inst_id})
            fixed.append(inst_id)
        return fixed

    def due(self) -> tuple[list[int], list[int]]:
        """Events to enqueue again and parked writes whose time has come (:meth:`released`)."""
        events, writes = self.released()
        return [eid for eid, _ in events], [oid for oid, _ in writes]

    def released(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """What the drain queues now, as (id, installation): events recorded and never queued or
        whose task was lost, writes whose sender died or that were never queued, and parked events
        and writes whose time has come. Of an installation held after a 429 (``Guards.parked``), only
        one parked event or write once Retry-After has passed: the probe, the oldest; the rest stay
        parked, without a call, until it answers (a 429 holds them until the next Retry-After,
        anything else lets them all go). One question to the guards per installation with parked work due."""
        now = self.clock()
        due = [("event", *row) for row in self.store.events.due(self.stranded_after, now, self.requeue_after)]
        due += [("write", *row) for row in self.store.events.due_writes(now)]
        verdict: dict[str, str] = {}
        events: list[tuple[int, str]] = []
        writes: list[tuple[int, str]] = []
        # parked work oldest first (the probe is the longest waiting), then the rest as found
        for kind, rid, inst, parked in sorted(due, key=lambda d: (d[3] is None, d[3] or now)):
            if parked is not None:
                if inst not in verdict:
                    verdict[inst] = self.guards.parked(inst)
                if verdict[inst] == NONE:
                    continue
                if verdict[inst] == ONE:
                    verdict[inst] = NONE
            (events if kind == "event" else writes).append((rid, inst))
        return events, writes
