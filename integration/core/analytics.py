"""Handoff metrics: what became of the conversations Baton watched (README, *Handoff metrics*).

Pure: the rows are ``OutcomeRepository.rows`` dicts (one per conversation, the agents' panel feedback
already applied), ``now`` is passed in. Every timestamp is an aware datetime; any zone is read
as the instant it names, and weeks are ISO weeks (Monday to Sunday) in UTC. Every duration is wall
clock (not business hours), in minutes. ``report`` builds every figure at once; ``tables`` gives
them as the tables the console, its CSV export and ``python -m integration report`` all show.
"""
from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Collection, Iterable, Mapping, Sequence

Row = Mapping[str, Any]

ALL = "all"  # the row of a table that counts every category (or reason)
NO_CATEGORY = "uncategorised"
NO_REASON = "no signal"  # a decision on which no signal fired
HOWTO = "how-to answered"  # the resolution type of a quick answer an agent could give from the docs
QUICK_HANDOFF = timedelta(minutes=10)  # solved this soon after the handoff with a how-to: not needed
ABANDONED_AFTER = timedelta(days=7)  # kept with the bot, no human reply and not solved this long after
BAD_RATING = 0.5  # a rating under this is bad (1–2 of 5, Zendesk's "bad")
SATISFIED = 0.75  # a rating at least this is satisfied (4–5 of 5, Zendesk's "good"): what CSAT counts
MIN_RATINGS = 10  # fewer ratings than this: no CSAT figure, only the count
GAP_MINUTES = 30.0  # a category whose handoffs agents resolve in a median under this is a knowledge gap
GAP_MIN_RESOLVED = 5  # … once at least this many of its handoffs were resolved
GAP_LIMIT = 10
SMALL_SAMPLE = 10  # fewer conversations (or ratings, or cases) than this: a chart marks the figure as a small sample
Z95 = 1.959963984540054  # the standard normal quantile of 97.5 %: a two-sided 95 % interval
PERIODS = {"7d": 7, "30d": 30, "90d": 90}  # the console's choices of period

# The helpdesk's AI agent's own verdict (model.BOT_VERDICTS) as an admin reads it: "<the bot> …"
BOT_VERDICTS = {"resolved_confirmed": "resolved it, and the customer confirmed",
                "resolved_assumed": "resolved it, assumed (the customer did not ask for more)",
                "escalated": "escalated it to your team",
                "procedure_handoff": "handed it over at the end of a procedure",
                "negative_feedback": "got negative feedback from the customer",
                "abandoned": "was left by the customer without an answer"}
NO_BOT_VERDICT = "told no verdict"

OVER_CAUSES = {"not_needed": "agent said not needed", "quick_howto": "how-to answered within 10 min"}
UNDER_CAUSES = {"asked_for_human_later": "asked for a person later", "reopened": "reopened",
                "rated_badly": "rated badly", "abandoned": "abandoned (7 days, no reply, not solved)"}

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


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); (0, 1) with no trial."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def iso_week(t: datetime | date) -> str:
    """The ISO week of a day, or of an instant in UTC: ``2026-W01`` (a Sunday 23:30 in New York is
    Monday in UTC)."""
    day = t.astimezone(timezone.utc).date() if isinstance(t, datetime) else t
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(start: datetime, end: datetime) -> tuple[str, ...]:
    """Every ISO week from the one holding ``start`` to the one holding ``end``, in order."""
    first = start.astimezone(timezone.utc)
    monday = datetime(first.year, first.month, first.day, tzinfo=timezone.utc) - timedelta(days=first.weekday())
    out = []
    while monday <= end:
        out.append(iso_week(monday))
        monday += timedelta(days=7)
    return tuple(out)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or under it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# the figures

@dataclass(frozen=True)
class Rate:
    """Handoff rate: conversations handed over among the conversations a bot took part in."""

    category: str  # or ALL
    week: str  # an ISO week, or ALL: the whole period
    conversations: int  # bot-involved
    escalated: int  # of which Baton handed over

    @property
    def rate(self) -> float | None:
        return self.escalated / self.conversations if self.conversations else None

    @property
    def small(self) -> bool:
        """Too few conversations for the rate to be compared with the others (a partial first week)."""
        return 0 < self.conversations < SMALL_SAMPLE


@dataclass(frozen=True)
class HandoffRates:
    weeks: tuple[str, ...]
    overall: Rate  # the whole period, every category
    weekly: tuple[Rate, ...]  # every category, one per week (the line)
    by_category: tuple[Rate, ...]  # the whole period, most handed over first (the bars)
    by_category_week: tuple[Rate, ...]  # category by week (the table)


@dataclass(frozen=True)
class Duration:
    """Minutes, wall clock: how many, the median and the 90th percentile (nearest rank)."""

    category: str  # or ALL
    n: int
    median: float | None
    p90: float | None

    @property
    def small(self) -> bool:
        return 0 < self.n < SMALL_SAMPLE


@dataclass(frozen=True)
class Csat:
    """Share of satisfied ratings (at least SATISFIED) with its 95 % Wilson interval; no figure
    under MIN_RATINGS ratings."""

    group: str
    ratings: int
    satisfied: int

    @property
    def enough(self) -> bool:
        return self.ratings >= MIN_RATINGS

    @property
    def share(self) -> float | None:
        return self.satisfied / self.ratings if self.enough else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.satisfied, self.ratings) if self.enough else None

    @property
    def summary(self) -> str:
        if self.share is None or self.interval is None:
            return f"too few ratings (n={self.ratings})"
        low, high = self.interval
        return f"{self.share:.0%} satisfied (95 % CI {low:.0%}–{high:.0%}, n={self.ratings})"


@dataclass(frozen=True)
class Misjudged:
    """Over- or under-escalations among the conversations sharing a category or a reason."""

    key: str  # a category, a reason code, or ALL
    base: int  # handed over (over) / kept with the bot (under)
    count: int  # of which misjudged
    causes: Mapping[str, int] = field(default_factory=dict)  # per cause (one conversation may have several)

    @property
    def share(self) -> float | None:
        return self.count / self.base if self.base else None

    @property
    def small(self) -> bool:
        return 0 < self.base < SMALL_SAMPLE


@dataclass(frozen=True)
class Misjudgements:
    kind: str  # "over" | "under"
    causes: Mapping[str, str]  # cause → its label, in order
    by_category: tuple[Misjudged, ...]  # ALL first, then the most misjudged
    by_reason: tuple[Misjudged, ...]

    @property
    def total(self) -> Misjudged:
        return self.by_category[0]


@dataclass(frozen=True)
class HitRate:
    """The note's suggested resolution type against the one the agent finally chose."""

    category: str  # or ALL
    suggested: int  # handoffs whose note suggested a resolution
    judged: int  # of which the final resolution type is known
    hits: int  # of which it was the one suggested

    @property
    def rate(self) -> float | None:
        return self.hits / self.judged if self.judged else None

    @property
    def small(self) -> bool:
        return 0 < self.judged < SMALL_SAMPLE


@dataclass(frozen=True)
class Answer:
    text: str  # the latest wording
    times: int
    resolutions: tuple[str, ...]  # resolution types chosen with it, most frequent first
    last_solved_at: datetime


@dataclass(frozen=True)
class Knowledge:
    """An intent's (category's) resolved handoffs and how agents answered them."""

    category: str
    resolved: int
    median_minutes: float | None
    answers: tuple[Answer, ...]  # most frequent first
    missing: tuple[str, ...]  # what agents said the bot should have known, distinct


@dataclass(frozen=True)
class Gap:
    """A category the bot hands over often that agents resolve quickly: the bot lacks the answer."""

    category: str
    escalations: int
    resolved: int
    median_minutes: float
    answer: str | None  # the agents' most frequent answer


@dataclass(frozen=True)
class BotVerdict:
    """Conversations the helpdesk's AI agent judged one way (Fin's resolution state), and what Baton
    decided of the same conversations."""

    verdict: str  # a key of BOT_VERDICTS, or NO_BOT_VERDICT
    conversations: int
    escalated: int  # of which Baton handed over

    @property
    def label(self) -> str:
        return BOT_VERDICTS.get(self.verdict, self.verdict)

    @property
    def kept(self) -> int:
        return self.conversations - self.escalated


@dataclass(frozen=True)
class Report:
    """Every figure of one period. The conversations are of two kinds, each counted once: **with a
    bot** (a bot took part, or Baton handed it over: then it was in the bot's hands, even when Baton
    decided before the bot's first reply), which Baton either handed over or kept with the bot, and
    **human only** (neither). Every figure about handoffs counts the same handed-over conversations,
    every figure about the conversations kept with the bot the same kept ones."""

    now: datetime
    since: datetime | None
    conversations: int
    bot_involved: int  # with a bot: handed over + kept with the bot
    escalated: int  # handed over
    handoff: HandoffRates
    resolution: tuple[Duration, ...]  # ALL first
    preparation: tuple[Duration, ...]  # ALL first
    csat: tuple[Csat, Csat]  # AI → human, human only
    over: Misjudgements
    under: Misjudgements
    suggestions: tuple[HitRate, ...]  # ALL first
    knowledge: tuple[Knowledge, ...]  # most resolved first
    gaps: tuple[Gap, ...]
    bot_verdicts: tuple[BotVerdict, ...] = ()  # in BOT_VERDICTS' order, then NO_BOT_VERDICT; empty: none told

    @property
    def bot_verdicts_told(self) -> int:
        return sum(v.conversations for v in self.bot_verdicts if v.verdict != NO_BOT_VERDICT)

    @property
    def kept(self) -> int:
        """Conversations with a bot that Baton did not hand over."""
        return self.bot_involved - self.escalated

    @property
    def human_only(self) -> int:
        return self.conversations - self.bot_involved


def with_bot(row: Row) -> bool:
    """A bot took part, or Baton handed the conversation over (it was the bot's to hand over)."""
    return bool(row.get("bot_involved") or row.get("escalated"))


# What a handoff's category could be before every conversation got its topic (issue 20): the signal
# that handed it over, or the customer's segment (its reasons then hold "segment")
SIGNAL_CATEGORIES = frozenset({"frustration", "sentiment", "explicit_request", "loop", "repeat_contact",
                               "bot_confidence", "language", "model", "segment", "churn_risk"})


def as_topic(row: Row, topics: Collection[str]) -> Row:
    """An outcome recorded with the old reason-category as the current definition counts it, under its
    topic: the first topic its reasons name, else none (a copy; other rows as they are). ``topics``: the
    installation's topic keys (a track-only topic, which no reason names, is a current category)."""
    category = row.get("category")
    reasons = row.get("reasons") or ()
    if category is None or category in topics or not (category in SIGNAL_CATEGORIES or "segment" in reasons):
        return row
    return {**row, "category": next((code.split(":", 1)[1] for code in reasons if code.startswith("risky_topic:")), None)}


def report(rows: Iterable[Row], now: datetime, since: datetime | None = None,
           topics: Collection[str] | None = None) -> Report:
    """Every figure over the conversations first seen from ``since`` (all when None) to ``now``;
    with ``topics``, outcomes recorded with the old reason-categories count under their topic."""
    kept = [r if topics is None else as_topic(r, topics) for r in rows if since is None or r["created_at"] >= since]
    bot = [r for r in kept if with_bot(r)]
    esc = [r for r in bot if r.get("escalated")]
    start = since or (min(r["created_at"] for r in kept) if kept else now)
    resolved = [(r, m) for r in esc if (m := _minutes(r.get("escalated_at"), r.get("solved_at"))) is not None]
    resolution = _durations(resolved)
    return Report(
        now=now, since=since, conversations=len(kept), bot_involved=len(bot), escalated=len(esc),
        handoff=_handoff(bot, weeks_between(start, now)),
        resolution=resolution,
        preparation=_durations([(r, m) for r in esc
                                if (m := _minutes(r.get("assigned_at"), r.get("first_agent_reply_at"))) is not None]),
        csat=(_csat("AI → human", esc), _csat("human only", [r for r in kept if not with_bot(r)])),
        over=_misjudged("over", esc, over_causes, OVER_CAUSES),
        under=_misjudged("under", [r for r in bot if not r.get("escalated")], lambda r: under_causes(r, now),
                         UNDER_CAUSES),
        suggestions=_suggestions(esc),
        knowledge=(knowledge := _knowledge(resolved)),
        gaps=_gaps(esc, resolution, knowledge),
        bot_verdicts=_bot_verdicts(bot))


def _bot_verdicts(bot: list[Row]) -> tuple[BotVerdict, ...]:
    """Among conversations a bot took part in: per verdict the bot told, how many, and how many of
    them Baton handed over; nothing at all when no bot told a verdict (other helpdesks)."""
    seen: Counter[str] = Counter()
    handed: Counter[str] = Counter()
    for r in bot:
        verdict = r.get("bot_verdict") if r.get("bot_verdict") in BOT_VERDICTS else NO_BOT_VERDICT
        seen[verdict] += 1
        handed[verdict] += bool(r.get("escalated"))
    if not any(v != NO_BOT_VERDICT for v in seen):
        return ()
    return tuple(BotVerdict(v, seen[v], handed[v]) for v in (*BOT_VERDICTS, NO_BOT_VERDICT) if seen[v])


def _category(row: Row) -> str:
    return row.get("category") or NO_CATEGORY


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    """Wall-clock minutes from ``start`` to ``end``; None when either is unknown or the end comes
    first (the reply came before the last reassignment, the data is inconsistent)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


def _handoff(bot: list[Row], weeks: tuple[str, ...]) -> HandoffRates:
    per_day: Counter[tuple[str, date, bool]] = Counter()  # (category, UTC day, handed over): one key per row
    for r in bot:
        per_day[(r.get("category") or NO_CATEGORY, r["created_at"].astimezone(timezone.utc).date(),
                 bool(r.get("escalated")))] += 1
    seen: Counter[tuple[str, str]] = Counter()  # (category, week) → conversations with a bot
    handed: Counter[tuple[str, str]] = Counter()  # … of which handed over
    for (category, day, escalated), n in per_day.items():
        week = iso_week(day)
        for key in ((category, week), (ALL, week), (category, ALL)):
            seen[key] += n
            handed[key] += n if escalated else 0
    weekly = tuple(Rate(ALL, w, seen[(ALL, w)], handed[(ALL, w)]) for w in weeks)
    categories = sorted({c for c, _ in seen if c != ALL}, key=lambda c: (-handed[(c, ALL)], c))
    by_category = tuple(Rate(c, ALL, seen[(c, ALL)], handed[(c, ALL)]) for c in categories)
    table = tuple(Rate(c, w, seen[(c, w)], handed[(c, w)]) for c in categories for w in weeks if (c, w) in seen)
    overall = Rate(ALL, ALL, sum(r.conversations for r in by_category), sum(r.escalated for r in by_category))
    return HandoffRates(weeks, overall, weekly, by_category, table)


def _duration(category: str, minutes: list[float]) -> Duration:
    if not minutes:
        return Duration(category, 0, None, None)
    return Duration(category, len(minutes), statistics.median(minutes), percentile(minutes, 0.9))


def _durations(samples: list[tuple[Row, float]]) -> tuple[Duration, ...]:
    per: dict[str, list[float]] = defaultdict(list)
    for r, m in samples:
        per[_category(r)].append(m)
    ranked = sorted(per, key=lambda c: (-len(per[c]), c))
    return (_duration(ALL, [m for _, m in samples]), *(_duration(c, per[c]) for c in ranked))


def _csat(group: str, rows: list[Row]) -> Csat:
    ratings = [r["csat"] for r in rows if r.get("csat") is not None]
    return Csat(group, len(ratings), sum(1 for c in ratings if c >= SATISFIED))


def over_causes(row: Row) -> list[str]:
    causes = []
    if row.get("verdict") == "not_needed":
        causes.append("not_needed")
    quick = _minutes(row.get("escalated_at"), row.get("solved_at"))
    if row.get("resolution") == HOWTO and quick is not None and quick <= QUICK_HANDOFF.total_seconds() / 60:
        causes.append("quick_howto")
    return causes


def under_causes(row: Row, now: datetime) -> list[str]:
    causes = []
    if row.get("asked_for_human_later"):
        causes.append("asked_for_human_later")
    if (row.get("reopens") or 0) > 0:
        causes.append("reopened")
    if row.get("csat") is not None and row["csat"] < BAD_RATING:
        causes.append("rated_badly")
    if (row.get("first_agent_reply_at") is None and row.get("solved_at") is None
            and now - row["created_at"] >= ABANDONED_AFTER):
        causes.append("abandoned")
    return causes


def _misjudged(kind: str, base: list[Row], causes_of: Any, labels: Mapping[str, str]) -> Misjudgements:
    combos: Counter[tuple[str, tuple[str, ...], tuple[str, ...]]] = Counter()  # (category, reasons, causes)
    for r in base:
        combos[(r.get("category") or NO_CATEGORY, tuple(r.get("reasons") or (NO_REASON,)), tuple(causes_of(r)))] += 1
    seen: Counter[tuple[str, str]] = Counter()  # (by, key) → conversations
    wrong: Counter[tuple[str, str]] = Counter()  # … of which misjudged
    why: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)  # … per cause
    for (category, reasons, causes), n in combos.items():
        keys = [("category", ALL), ("category", category), ("reason", ALL), *(("reason", code) for code in reasons)]
        for key in keys:
            seen[key] += n
            if causes:
                wrong[key] += n
                for cause in causes:
                    why[key][cause] += n

    def table(by: str) -> tuple[Misjudged, ...]:
        keys = sorted((k for b, k in seen if b == by and k != ALL), key=lambda k: (-wrong[(by, k)], -seen[(by, k)], k))
        return tuple(Misjudged(k, seen[(by, k)], wrong[(by, k)], {c: why[(by, k)][c] for c in labels})
                     for k in [ALL, *keys])

    return Misjudgements(kind, dict(labels), table("category"), table("reason"))


def _suggestions(esc: list[Row]) -> tuple[HitRate, ...]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in esc:
        if not r.get("suggested"):
            continue
        judged = bool(r.get("resolution"))
        for key in (ALL, _category(r)):
            per[key][0] += 1
            per[key][1] += judged
            per[key][2] += judged and r["resolution"] == r["suggested"]
    ranked = sorted((c for c in per if c != ALL), key=lambda c: (-per[c][0], c))
    return tuple(HitRate(c, *per.get(c, [0, 0, 0])) for c in [ALL, *ranked])


def _answer_key(text: str) -> str:
    """Answers that differ only by case, spacing or numbers (order ids, amounts) are one answer."""
    return re.sub(r"\d+", "#", " ".join(text.casefold().split()))


def _knowledge(resolved: list[tuple[Row, float]]) -> tuple[Knowledge, ...]:
    per: dict[str, list[tuple[Row, float]]] = defaultdict(list)
    for r, m in resolved:
        per[_category(r)].append((r, m))
    out: list[Knowledge] = []
    keys: dict[str, str] = {}  # answer text → its grouping key (many answers repeat)
    for category, items in per.items():
        answers: dict[str, list[Row]] = defaultdict(list)
        for r, _ in items:
            if r.get("answer_text"):
                text = r["answer_text"]
                answers[keys.get(text) or keys.setdefault(text, _answer_key(text))].append(r)
        listed = []
        for same in answers.values():
            latest = max(same, key=lambda r: r["solved_at"])
            kinds = Counter(r["resolution"] for r in same if r.get("resolution"))
            listed.append(Answer(latest["answer_text"], len(same), tuple(k for k, _ in kinds.most_common()),
                                 latest["solved_at"]))
        listed.sort(key=lambda a: (-a.times, -a.last_solved_at.timestamp(), a.text))
        said = sorted((r for r, _ in items if r.get("missing_knowledge")), key=lambda r: r["solved_at"], reverse=True)
        missing = tuple(dict.fromkeys(" ".join(r["missing_knowledge"].split()) for r in said))  # newest first
        out.append(Knowledge(category, len(items), statistics.median(m for _, m in items), tuple(listed), missing))
    out.sort(key=lambda k: (-k.resolved, k.category))
    return tuple(out)


def _gaps(esc: list[Row], resolution: tuple[Duration, ...], knowledge: tuple[Knowledge, ...]) -> tuple[Gap, ...]:
    handed = Counter(_category(r) for r in esc)
    answers = {k.category: (k.answers[0].text if k.answers else None) for k in knowledge}
    gaps = [Gap(d.category, handed[d.category], d.n, d.median, answers.get(d.category))
            for d in resolution[1:]
            if d.median is not None and d.n >= GAP_MIN_RESOLVED and d.median < GAP_MINUTES]
    gaps.sort(key=lambda g: (-g.escalations, g.median_minutes, g.category))
    return tuple(gaps[:GAP_LIMIT])


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
