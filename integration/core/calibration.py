"""Threshold suggestions: candidate rule changes replayed on the conversations Baton decided,
judged against what became of them (the outcome labels of :mod:`integration.core.analytics`):
over-escalations a change would remove, under-escalations it would catch, and — said plainly —
the right handoffs it would lose. Pure: the caller passes the conversations, their labels, the
live rules and ``now``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from integration.core import routing
from integration.core.model import Action, Conversation
from integration.core.preview import outcome
from integration.core.rules import Rules, RulesError, load_rules

OVER, UNDER, RIGHT = "over", "under", "right"  # escalated needlessly · kept but needed a person · escalated rightly
MIN_OVER_FOR_TOPIC = 3  # a topic needs this many over-escalations before Baton suggests offering instead


@dataclass(frozen=True)
class Labeled:
    conversation: Conversation
    label: str | None  # OVER, UNDER, RIGHT, or None (kept with the bot and nothing went wrong)
    category: str | None = None


@dataclass(frozen=True)
class Candidate:
    title: str  # "sentiment threshold 0.5 → 0.6"
    patch: Mapping[str, Any]  # the change, as rules JSON merged over the live rules


@dataclass(frozen=True)
class Effect:
    candidate: Candidate
    conversations: int
    escalations_before: int
    escalations_after: int
    over_removed: int
    over_total: int
    under_caught: int
    under_total: int
    right_lost: int
    right_total: int

    @property
    def benefit(self) -> int:
        """What the change is worth: a lost right handoff (a customer who needed a person and no
        longer gets one) counts twice what a removed needless one does."""
        return self.over_removed + self.under_caught - 2 * self.right_lost

    @property
    def summary(self) -> str:
        change = (self.escalations_after - self.escalations_before) / max(1, self.escalations_before) * 100
        parts = [f"{change:+.0f} % escalations"]
        if self.over_total:
            parts.append(f"{self.over_removed} of {self.over_total} needless handoffs removed")
        if self.under_total:
            parts.append(f"{self.under_caught} of {self.under_total} missed ones caught")
        parts.append(f"{self.right_lost} of {self.right_total} right handoffs lost")
        return f"{self.candidate.title}: " + ", ".join(parts)


def candidates(rules: Rules, labeled: Sequence[Labeled]) -> list[Candidate]:
    """Small, explainable changes around the live rules: the frustration, model and loop
    thresholds a step either way, and offering a person instead of handing over for a topic with
    several needless handoffs."""
    out = []

    def step(path: tuple[str, str], value: float, delta: float, low: float, high: float, fmt: str) -> None:
        new = round(min(high, max(low, value + delta)), 2)
        if new != value:
            out.append(Candidate(f"{path[0].replace('_', ' ')} {path[1].replace('_', ' ')} {value:{fmt}} → {new:{fmt}}",
                                 {path[0]: {path[1]: new}}))

    for delta in (0.1, -0.1):
        step(("sentiment", "threshold"), rules.sentiment.threshold, delta, 0.05, 0.95, ".2f")
        if rules.model.enabled:
            step(("model", "threshold"), rules.model.threshold, delta, 0.05, 0.95, ".2f")
    for delta in (1, -1):
        step(("loop", "rephrases"), rules.loop.rephrases, delta, 1, 6, ".0f")
    over_by_topic: dict[str, int] = {}
    for item in labeled:
        if item.label == OVER and item.category in rules.topics:
            over_by_topic[item.category] = over_by_topic.get(item.category, 0) + 1  # type: ignore[index]
    for topic, n in sorted(over_by_topic.items(), key=lambda kv: -kv[1]):
        if n >= MIN_OVER_FOR_TOPIC and rules.topics[topic].action == "escalate":
            out.append(Candidate(f"topic {topic.replace('_', ' ')}: offer a person instead of handing over",
                                 {"topics": {topic: {"action": "offer_human"}}}))
    return out


def review(labeled: Sequence[Labeled], live: Mapping[str, Any] | None, now: datetime,
           proposals: Iterable[Candidate] | None = None) -> list[Effect]:
    """Each candidate's effect on the labeled conversations, the most useful first; only those
    that help (``benefit`` > 0)."""
    base = load_rules(live, stored=True)
    empty = routing.Roster((), {})
    before = [_escalates(item, base, empty, now) for item in labeled]
    effects = []
    for candidate in proposals if proposals is not None else candidates(base, labeled):
        try:
            rules = load_rules(merged(live or {}, candidate.patch), stored=True)
        except RulesError:
            continue
        after = [_escalates(item, rules, empty, now) for item in labeled]
        count = {label: sum(1 for i in labeled if i.label == label) for label in (OVER, UNDER, RIGHT)}
        effect = Effect(
            candidate, len(labeled), sum(before), sum(after),
            sum(1 for i, b, a in zip(labeled, before, after) if i.label == OVER and b and not a), count[OVER],
            sum(1 for i, b, a in zip(labeled, before, after) if i.label == UNDER and not b and a), count[UNDER],
            sum(1 for i, b, a in zip(labeled, before, after) if i.label == RIGHT and b and not a), count[RIGHT])
        if effect.benefit > 0:
            effects.append(effect)
    return sorted(effects, key=lambda e: (-e.benefit, e.escalations_after))


def _escalates(item: Labeled, rules: Rules, roster: routing.Roster, now: datetime) -> bool:
    """A handoff, not an offer the customer may decline."""
    return outcome(item.conversation, rules, roster, item.conversation.as_of or now).action is Action.ESCALATE


def merged(live: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``patch`` over ``live``, object by object (what a draft opened from a suggestion holds)."""
    out = dict(live)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


