"""A draft of the rules replayed on an installation's last conversations against its live rules:
the console's preview and ``python -m integration backtest`` both call :func:`backtest`."""
from __future__ import annotations

from typing import Any, Mapping

from integration.core import preview
from integration.core.codec import conversation_from_json
from integration.core.model import Installation
from integration.core.rules import RulesError, load_rules
from integration.service.store import Store, utcnow

DEFAULT_COUNT = 500  # conversations replayed unless asked otherwise
MAX_COUNT = 5000


def live_rules(inst: Installation) -> Any:
    """The rules in force (an installation whose stored rules no longer validate runs on the defaults)."""
    try:
        return load_rules(inst.rules, stored=True)
    except RulesError:
        return load_rules(None)


def backtest(store: Store, inst: Installation, draft: Mapping[str, Any], count: int = DEFAULT_COUNT,
             ticket: str | None = None) -> preview.Report:
    """Replay ``draft`` (rules JSON; RulesError if invalid) on the ``count`` conversations most
    recently decided (or on one ``ticket``), against the live rules."""
    after = load_rules(draft)
    rows = store.decisions.decided_conversations(inst.id, max(1, min(count, MAX_COUNT)), ticket_id=ticket)
    conversations = [conversation_from_json(r["conversation"]) for r in rows]
    roster, _ = store.installations.roster(inst.id)
    return preview.compare(conversations, live_rules(inst), after, roster, utcnow(), store.events.group_stats(inst.id),
                           keep_unchanged=ticket is not None)


def print_report(report: preview.Report, out: Any = print) -> None:
    out(f"replayed {report.conversations} conversations: handed over {report.escalated_before} with the live rules, "
        f"{report.escalated_after} with the draft")
    for kind, label in preview.KINDS.items():
        out(f"  {label}: {report.by_kind.get(kind, 0)}")
    if report.by_category:
        out("by category:")
        for category, counts in report.by_category.items():
            out(f"  {category}: " + ", ".join(f"{preview.KINDS[k]} {n}" for k, n in counts.items()))
    for ch in report.changes:
        out(f"- {ch.ticket_id} {preview.KINDS.get(ch.kind, ch.kind)}: {ch.before.action.value}"
            f"{' → ' + ch.before.group_id if ch.before.group_id else ''} ⇒ {ch.after.action.value}"
            f"{' → ' + ch.after.group_id if ch.after.group_id else ''}")
        out(f"    live:  {ch.before.explanation}")
        out(f"    draft: {ch.after.explanation}")
