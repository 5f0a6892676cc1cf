"""Handoff metrics: what became of the conversations Baton watched (README, *Handoff metrics*).

The one place the console's analytics page, its CSV export, ``python -m integration report`` and
the demo take the metrics from. Three pure modules make them, along the way a figure is made:
:mod:`integration.core.tally` counts conversations per UTC day and category (what the store keeps
as rollups for closed days), :mod:`integration.core.figures` makes every figure of a period from
those counts (``summarize``; ``report`` from outcome rows), and this module says them in words:
labels, ``tables`` (what the page shows beside its charts, the CSV and the CLI print), the
knowledge export, CSV and aligned text. Its names are the metrics' public names.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from integration.core.figures import (ALL, BOT_VERDICTS, GAP_LIMIT, GAP_MIN_RESOLVED, GAP_MINUTES, MIN_RATINGS,
                                      NO_BOT_VERDICT, OVER_CAUSES, SMALL_SAMPLE, UNDER_CAUSES, Z95, Answer, BotVerdict,
                                      Csat, Duration, Gap, HandoffRates, HitRate, Knowledge, Misjudged, Misjudgements,
                                      Rate, Report, iso_week, percentile, quantiles, report, summarize, weeks_between,
                                      wilson)
from integration.core.tally import (ABANDONED_AFTER, BAD_RATING, HOWTO, NO_CATEGORY, NO_REASON, QUICK_HANDOFF,
                                    SATISFIED, SIGNAL_CATEGORIES, Row, Tally, as_topic, over_causes, tally,
                                    under_causes, with_bot)

__all__ = ["ABANDONED_AFTER", "ALL", "BAD_RATING", "BOT_VERDICTS", "GAP_LIMIT", "GAP_MIN_RESOLVED", "GAP_MINUTES",
           "HOWTO", "MIN_RATINGS", "NO_BOT_VERDICT", "NO_CATEGORY", "NO_REASON", "OVER_CAUSES", "QUICK_HANDOFF",
           "SATISFIED", "SMALL_SAMPLE", "UNDER_CAUSES", "Z95", "Answer", "BotVerdict", "Csat", "Duration", "Gap",
           "HandoffRates", "HitRate", "Knowledge", "Misjudged", "Misjudgements", "Rate", "Report", "Row", "Tally",
           "SIGNAL_CATEGORIES", "as_topic",
           "iso_week", "over_causes", "percentile", "quantiles", "report", "summarize", "tally", "under_causes",
           "weeks_between", "wilson", "with_bot", "PERIODS", "REASONS", "NO_CATEGORY_LABEL", "category_label",
           "reason_label", "Ratings", "RATINGS", "GENERIC_RATINGS", "ratings", "period", "Column", "Table", "tables",
           "TABLES", "knowledge_json", "shown", "to_csv", "to_text"]

PERIODS = {"7d": 7, "30d": 30, "90d": 90}  # the console's choices of period

# the signals of a decision (``outcomes.reasons``) as an admin reads them; a topic is "topic: <its label>"
REASONS = {"explicit_request": "the customer asked for a person", "sentiment": "frustration",
           "loop": "going in circles", "segment": "priority customer", "repeat_contact": "contacted again and again",
           "bot_confidence": "the bot was unsure of its answer", "language": "a language the bot does not answer in",
           "model": "the model's judgement", NO_REASON: "no signal"}
NO_CATEGORY_LABEL = "no topic found"


def category_label(key: str, topics: Mapping[str, str] | None = None) -> str:
    """A category (a topic of the installation's taxonomy) in the words its label gives."""
    if key == NO_CATEGORY:
        return NO_CATEGORY_LABEL
    return (topics or {}).get(key) or key.replace("_", " ")


def reason_label(code: str, topics: Mapping[str, str] | None = None) -> str:
    if code.startswith("risky_topic:"):
        return "topic: " + category_label(code.split(":", 1)[1], topics)
    return REASONS.get(code) or code.replace("_", " ")


@dataclass(frozen=True)
class Ratings:
    """What counts as a satisfied and as a bad rating, in the words of the helpdesk's own survey (the
    same thresholds on Baton's 0–1 scale: at least SATISFIED, under BAD_RATING)."""

    satisfied: str
    bad: str


RATINGS = {
    "zendesk": Ratings("rated “good” (Zendesk asks good or bad)", "rated “bad”"),
    "freshdesk": Ratings("answered “very happy” or “extremely happy” (“awesome” on the three-answer survey)",
                         "answered unhappy, very unhappy or extremely unhappy (“not good” on the three-answer survey)"),
    "intercom": Ratings("rated 4 or 5 of 5 (“great” or “amazing”)", "rated 1 or 2 of 5 (“terrible” or “bad”)"),
}
GENERIC_RATINGS = Ratings("rated 4 or 5 of 5", "rated 1 or 2 of 5")


def ratings(provider: str | None) -> Ratings:
    """The rating words of a helpdesk (``Installation.provider``); the 1–5 wording for any other."""
    return RATINGS.get(provider or "", GENERIC_RATINGS)


def period(text: str, most: int = 3650) -> timedelta:
    """``"30d"`` → 30 days (1 … ``most`` days); anything else is a ValueError saying what is wanted."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*d\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= most:
        raise ValueError(f"a period is a number of days from 1 to {most} followed by d, e.g. 30d (got {text!r})")
    return timedelta(days=int(match.group(1)))


# the figures as tables: the page shows them beside the charts, the CSV export and the CLI print them

@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"  # text | count | share (0..1) | minutes | time | key (the CSV's only: a stored key)

    @property
    def shown(self) -> bool:
        """On the page and in the CLI; a key column is for the CSV (beside the words it stands for)."""
        return self.kind != "key"


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def total(self, column: str, first: str = ALL) -> Any:
        """The value of ``column`` in the row whose first cell is ``first`` (the all row)."""
        i = [c.title for c in self.columns].index(column)
        return next((row[i] for row in self.rows if row[0] == first), None)


def _cols(*spec: str) -> tuple[Column, ...]:
    """``"title:kind"`` each (kind text when left out)."""
    return tuple(Column(*s.split(":")) for s in spec)


def tables(rep: Report, topics: Mapping[str, str] | None = None) -> dict[str, Table]:
    """Every figure of the report as a named table (the names of ``/console/analytics.csv?table=``).
    ``topics``: the installation's topic labels by key, so a category reads as its label (the CSV
    keeps the key in the column beside it)."""
    h, over, under = rep.handoff, rep.over, rep.under

    def cat(key: str) -> tuple[str, str]:
        return (ALL if key == ALL else category_label(key, topics)), key

    def why(key: str) -> tuple[str, str]:
        return (ALL if key == ALL else reason_label(key, topics)), key

    def rates(name: str, title: str, first: tuple[str, ...], rows: Iterable[Rate], key: Any) -> Table:
        return Table(name, title,
                     _cols(*first, "conversations with a bot:count", "handed over:count", "handoff rate:share"),
                     tuple((*key(r), r.conversations, r.escalated, r.rate) for r in rows))

    def durations(name: str, title: str, rows: tuple[Duration, ...]) -> Table:
        return Table(name, title, _cols("category", "category key:key", "n:count", "median (min):minutes",
                                        "p90 (min):minutes"),
                     tuple((*cat(d.category), d.n, d.median, d.p90) for d in rows))

    def misjudged(name: str, title: str, by: str, m: Misjudgements, rows: tuple[Misjudged, ...]) -> Table:
        base = "handed over" if m.kind == "over" else "kept with the bot"
        label = cat if by == "category" else why
        return Table(name, title, _cols(by, f"{by} key:key", f"{base}:count", f"{m.kind}-escalated:count",
                                        "share:share", *(f"{text}:count" for text in m.causes.values())),
                     tuple((*label(x.key), x.base, x.count, x.share, *(x.causes.get(c, 0) for c in m.causes))
                           for x in rows))

    out = [
        rates("handoff_weeks", "Handoff rate per week", ("week",), h.weekly, lambda r: (r.week,)),
        rates("handoff_categories", "Handoff rate by category", ("category", "category key:key"), h.by_category,
              lambda r: cat(r.category)),
        rates("handoff", "Handoff rate by category and week", ("category", "category key:key", "week"),
              h.by_category_week, lambda r: (*cat(r.category), r.week)),
        durations("resolution", "Resolution time after handoff (handoff → solved)", rep.resolution),
        durations("preparation", "Preparation time (assigned → first agent reply)", rep.preparation),
        Table("csat", "CSAT: AI → human against human only",
              _cols("group", "ratings:count", "satisfied:count", "CSAT:share", "95 % low:share", "95 % high:share",
                    "summary"),
              tuple((c.group, c.ratings, c.satisfied, c.share, *(c.interval or (None, None)), c.summary)
                    for c in rep.csat)),
        misjudged("over_by_category", "Over-escalations by category", "category", over, over.by_category),
        misjudged("over_by_reason", "Over-escalations by reason (each signal of a handoff counted)", "reason", over,
                  over.by_reason),
        misjudged("under_by_category", "Under-escalations by category", "category", under, under.by_category),
        misjudged("under_by_reason", "Under-escalations by reason (each signal counted)", "reason", under,
                  under.by_reason),
        Table("suggestions", "Suggested resolution hit rate",
              _cols("category", "category key:key", "suggested:count", "resolution known:count", "hits:count",
                    "hit rate:share"),
              tuple((*cat(s.category), s.suggested, s.judged, s.hits, s.rate) for s in rep.suggestions)),
        Table("knowledge", "Resolved handoffs by intent, with the agents' answers",
              _cols("category", "category key:key", "resolved:count", "median resolution (min):minutes", "answer",
                    "times:count", "resolution types", "last solved:time"),
              tuple((*cat(k.category), k.resolved, k.median_minutes, a.text, a.times, ", ".join(a.resolutions),
                     a.last_solved_at) for k in rep.knowledge for a in k.answers)),
        Table("bot_verdicts", "The bot's own verdict beside Baton's decision (conversations with a bot)",
              _cols("the bot …", "conversations:count", "Baton handed over:count", "Baton kept with the bot:count"),
              tuple((v.label, v.conversations, v.escalated, v.kept) for v in rep.bot_verdicts)),
        Table("gaps", f"Knowledge gaps: handed over often, resolved in a median under {GAP_MINUTES:.0f} min",
              _cols("category", "category key:key", "handed over:count", "resolved:count",
                    "median resolution (min):minutes", "most frequent answer"),
              tuple((*cat(g.category), g.escalations, g.resolved, g.median_minutes, g.answer or "")
                    for g in rep.gaps)),
    ]
    return {t.name: t for t in out}


TABLES: tuple[str, ...] = tuple(tables(report([], datetime(2000, 1, 3, tzinfo=timezone.utc))))  # their names


def knowledge_json(rep: Report, topics: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The knowledge view as JSON-ready data (the export for the bot's knowledge base): each intent
    with the agents' answers and what they said the bot should have known, and the gaps."""
    return {
        "since": rep.since.astimezone(timezone.utc).isoformat() if rep.since else None,
        "generated_at": rep.now.astimezone(timezone.utc).isoformat(), "gap_minutes": GAP_MINUTES,
        "categories": [{"category": k.category, "label": category_label(k.category, topics), "resolved": k.resolved,
                        "median_resolution_minutes": _round(k.median_minutes, 1),
                        "answers": [{"text": a.text, "times": a.times, "resolution_types": list(a.resolutions),
                                     "last_solved_at": a.last_solved_at.astimezone(timezone.utc).isoformat()}
                                    for a in k.answers],
                        "missing_knowledge": list(k.missing)} for k in rep.knowledge],
        "gaps": [{"category": g.category, "label": category_label(g.category, topics), "handed_over": g.escalations, "resolved": g.resolved,
                  "median_resolution_minutes": _round(g.median_minutes, 1), "answer": g.answer} for g in rep.gaps]}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def shown(value: Any, kind: str) -> str:
    """A cell as a person reads it."""
    if value is None or value == "":
        return "–"
    if kind == "share":
        return f"{value:.1%}"
    if kind == "minutes":
        return f"{value:,.1f}"
    if kind == "time":
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    return str(value)


def _raw(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "share":
        return f"{value:.4f}"
    if kind == "minutes":
        return f"{value:.1f}"
    if kind == "time":
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # never a formula in a spreadsheet (agents' and customers' words)
    return value


def to_csv(table: Table) -> str:
    """The table as CSV: a header of column titles, shares as fractions, minutes with one decimal."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.title for c in table.columns])
    for row in table.rows:
        writer.writerow([_raw(v, c.kind) for v, c in zip(row, table.columns)])
    return out.getvalue()


def to_text(table: Table) -> str:
    """The table as aligned plain text (the CLI)."""
    columns = [(i, c) for i, c in enumerate(table.columns) if c.shown]
    head = [c.title for _, c in columns]
    body = [[shown(row[i], c.kind) for i, c in columns] for row in table.rows]
    clip = [[cell if len(cell) <= 60 else cell[:59] + "…" for cell in row] for row in body]
    widths = [max(len(x) for x in col) for col in zip(head, *clip)]
    right = [c.kind != "text" for _, c in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(x.rjust(w) if r else x.ljust(w) for x, w, r in zip(cells, widths, right)).rstrip()

    lines = [table.title, line(head), line(["-" * w for w in widths])] + [line(r) for r in clip]
    if not table.rows:
        lines.append("(none)")
    return "\n".join(lines)
