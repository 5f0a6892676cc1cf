"""Signals from who the customer is: segment (VIP, enterprise, churn risk), repeat contacts,
and the bot's own confidence."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from integration.core.model import Conversation, Evidence, Finding, utc
from integration.core.rules import ConfidenceRule, RepeatContactRule, SegmentRule


def segment(conversation: Conversation, rule: SegmentRule) -> Finding:
    c = conversation.customer
    wanted = {t.lower() for t in rule.tiers}
    marks: dict[str, str] = {}  # one line per segment value, however many fields carry it
    for kind, values in (("tier", (c.tier,)), ("plan", (c.plan,)), ("tag", c.tags)):
        for v in values:
            if v and v.lower() in wanted:
                marks.setdefault(v.lower(), f"{kind}: {v}")
    evidence = [Evidence(None, m, 1.0, None, "segment") for m in marks.values()]
    if c.churn_risk is not None and c.churn_risk >= rule.churn_risk:
        evidence.append(Evidence(None, f"churn risk {c.churn_risk:.2f}", c.churn_risk, rule.churn_risk, "churn risk"))
    if not evidence:
        return Finding("segment", False, 0.0, 1.0, "No priority segment.")
    what = ", ".join(e.quote for e in evidence)
    # the category names the segment (vip, enterprise …), so tags and reports say what it is
    segment_name = next(iter(marks), "churn_risk")
    return Finding("segment", True, 1.0, 1.0, f"Priority customer ({what}).", tuple(evidence), category=segment_name)


def repeat_contact(conversation: Conversation, rule: RepeatContactRule) -> Finding:
    """Contacts within ``rule.days`` of the conversation's ``as_of`` (else of its latest message;
    with no time at all, every contact the helpdesk called recent counts)."""
    contacts = conversation.customer.recent_contacts
    reference = utc(conversation.as_of) or _latest(conversation)
    since = reference - timedelta(days=rule.days) if reference else None
    recent = [c for c in contacts if since is None or c.at is None or utc(c.at) >= since]
    fired = len(recent) >= rule.contacts
    summary = (
        f"The customer has contacted us {len(recent)} times in the last {rule.days} days."
        if recent else "No recent contacts."
    )
    evidence = tuple(
        Evidence(None, f"#{c.id} {c.subject}".strip() + (f" ({c.at:%Y-%m-%d})" if c.at else ""), 1.0, None,
                 "previous contact" + (", escalated" if c.escalated else ""))
        for c in recent[:5]
    )
    return Finding("repeat_contact", fired, len(recent) / rule.contacts, 1.0, summary, evidence if fired else ())


def reported_confidence(conversation: Conversation, rule: ConfidenceRule) -> float | None:
    """The bot's confidence in its last answer: as the conversation reports it, else from the
    ticket field or the tag the rules name (0–1, or a percentage)."""
    if conversation.bot_confidence is not None:
        return conversation.bot_confidence
    raw: Any = conversation.fields.get(rule.field) if rule.field else None
    if raw is None and rule.tag_prefix:
        raw = next((t[len(rule.tag_prefix):] for t in conversation.tags if t.startswith(rule.tag_prefix)), None)
    try:
        value = float(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None
    if value is None or not math.isfinite(value) or not 0 <= value <= 100:
        return None
    return value / 100 if value > 1 else value


def bot_confidence(conversation: Conversation, rule: ConfidenceRule) -> Finding:
    value = reported_confidence(conversation, rule)
    if value is None:
        return Finding("bot_confidence", False, 0.0, rule.threshold, "The bot reported no confidence.")
    fired = value < rule.threshold
    summary = (
        f"The bot is unsure of its answer (confidence {value:.2f} < {rule.threshold:.2f})." if fired
        else f"The bot is confident (confidence {value:.2f})."
    )
    ev = (Evidence(None, f"bot confidence {value:.2f}", value, rule.threshold, "low confidence"),)
    return Finding("bot_confidence", fired, 1.0 - value, 1.0 - rule.threshold, summary, ev if fired else ())


def _latest(conversation: Conversation) -> datetime | None:
    times = [utc(m.at) for m in conversation.messages if m.at]
    return max(times) if times else None  # type: ignore[type-var]
