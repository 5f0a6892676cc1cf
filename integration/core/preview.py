"""What a draft of the rules would change, replayed on conversations Baton already decided on:
the console's preview and ``python -m integration backtest``. Pure: the caller reads the
conversations, the roster and the wait statistics; both rule sets see the same inputs, at the
moment each conversation was decided."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from integration.core import routing
from integration.core.engine import evaluate
from integration.core.model import Action, Conversation, Decision
from integration.core.rules import Rules

NEWLY = "newly_escalated"
NO_LONGER = "no_longer_escalated"
ELSEWHERE = "routed_elsewhere"
CHANGED = "action_changed"  # offer ↔ escalate
KINDS = {NEWLY: "newly escalated", NO_LONGER: "no longer escalated", ELSEWHERE: "routed elsewhere",
         CHANGED: "offer ↔ handoff"}


@dataclass(frozen=True)
class Outcome:
    """One rule set's verdict on one conversation."""

    action: Action
    category: str | None
    priority: str
    group_id: str | None
    explanation: str
    reasons: tuple[str, ...]
    out_of_scope: str | None = None  # why the scope leaves it alone

    @property
    def hands_over(self) -> bool:
        return self.action is not Action.CONTINUE


@dataclass(frozen=True)
class Change:
    ticket_id: str
    kind: str
    before: Outcome
    after: Outcome
    conversation: Conversation | None = field(default=None, repr=False)

    @property
    def subject(self) -> str:
        return self.conversation.subject if self.conversation else ""

    @property
    def category(self) -> str:
        return self.after.category or self.before.category or "none"


@dataclass(frozen=True)
class Report:
    conversations: int
    changes: tuple[Change, ...]
    escalated_before: int
    escalated_after: int
    by_kind: Mapping[str, int] = field(default_factory=dict)
    by_category: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # category → kind → count


def outcome(conversation: Conversation, rules: Rules, roster: routing.Roster, now: datetime) -> Outcome:
    """``rules``' verdict on ``conversation``, routed as at ``now`` (when it was decided)."""
    if why := rules.scope.excludes(conversation):
        return Outcome(Action.CONTINUE, None, "normal", None, f"Out of scope: {why}.", (), why)
    decision: Decision = evaluate(conversation, rules)
    group = None
    if decision.action is not Action.CONTINUE:
        previous = [c.agent_id for c in conversation.customer.recent_contacts if c.agent_id]
        group = routing.route(decision, conversation, roster, rules.routing, now, previous).group_id
    return Outcome(decision.action, decision.category, decision.priority.value, group, decision.explanation,
                   tuple(r.summary for r in decision.reasons))


def compare(conversations: Iterable[Conversation], before: Rules, after: Rules, roster_json: Mapping[str, object],
            now: datetime, stats: Mapping[str, tuple[int, Sequence[float]]] | None = None,
            keep_unchanged: bool = False) -> Report:
    """Replay ``conversations`` under both rule sets and say what changes, each routed as when it was
    decided (``now`` for one that does not say); ``keep_unchanged`` lists the unchanged ones too."""
    rosters = (routing.roster_from_json(roster_json, before.routing, stats),
               routing.roster_from_json(roster_json, after.routing, stats))
    changes: list[Change] = []
    n = escalated_before = escalated_after = 0
    for c in conversations:
        n += 1
        b = outcome(c, before, rosters[0], c.as_of or now)
        a = outcome(c, after, rosters[1], c.as_of or now)
        escalated_before += b.hands_over
        escalated_after += a.hands_over
        kind = _kind(b, a) or ("unchanged" if keep_unchanged else None)
        if kind:
            changes.append(Change(c.id, kind, b, a, c))
    changed = [ch for ch in changes if ch.kind in KINDS]
    by_kind = Counter(ch.kind for ch in changed)
    by_category: dict[str, Counter[str]] = {}
    for ch in changed:
        by_category.setdefault(ch.category, Counter())[ch.kind] += 1
    return Report(n, tuple(changes), escalated_before, escalated_after, dict(by_kind),
                  {k: dict(v) for k, v in sorted(by_category.items())})


def _kind(b: Outcome, a: Outcome) -> str | None:
    if a.hands_over and not b.hands_over:
        return NEWLY
    if b.hands_over and not a.hands_over:
        return NO_LONGER
    if a.hands_over and b.hands_over:
        if a.action is not b.action:
            return CHANGED
        if a.group_id != b.group_id:
            return ELSEWHERE
    return None
