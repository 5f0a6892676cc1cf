"""The calibration review of one installation: its recent decided conversations labeled by what
became of them, and the rule changes that would have decided them better."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from integration.core import analytics, calibration
from integration.core.codec import conversation_from_json
from integration.core.model import Installation
from integration.core.rules import load_rules
from integration.service.store import Store

REVIEWED = 500  # the most recent decided conversations the suggestions are judged on


def labeled(store: Store, inst: Installation, now: datetime, count: int = REVIEWED) -> list[calibration.Labeled]:
    """The last ``count`` decided conversations, each with its outcome label (analytics' rules)."""
    outcomes = {r["ticket_id"]: r for r in store.outcomes.rows(inst.id)}
    out = []
    for row in store.decisions.decided_conversations(inst.id, count):
        result = outcomes.get(row["ticket_id"])
        out.append(calibration.Labeled(conversation_from_json(row["conversation"]), label(result, now) if result else None,
                                       row["category"]))
    return out


def label(row: dict[str, Any], now: datetime) -> str | None:
    if row.get("escalated"):
        return calibration.OVER if analytics.over_causes(row) else calibration.RIGHT
    return calibration.UNDER if analytics.under_causes(row, now) else None


def proposals(store: Store, inst: Installation, now: datetime) -> list[calibration.Candidate]:
    """The changes the review considers, without replaying them (to open one as a draft)."""
    return calibration.candidates(load_rules(inst.rules, stored=True), labeled(store, inst, now))


def review(store: Store, inst: Installation, now: datetime) -> tuple[list[calibration.Labeled], list[calibration.Effect]]:
    items = labeled(store, inst, now)
    return items, calibration.review(items, inst.rules, now)
