"""The handoff metrics of one period (README, *Handoff metrics*): the figures and how they are made.

Pure: ``summarize`` makes every figure at once from tallies (:mod:`integration.core.tally`: the
counts of one UTC day and category, from the store's rollups of closed days and from the outcomes
of the open ones, all the same shape); ``report`` does the same from outcome rows. ``now`` is passed
in. Every timestamp is an aware datetime; any zone is read as the instant it names, and weeks are
ISO weeks (Monday to Sunday) in UTC. Every duration is wall clock (not business hours), in minutes,
read from buckets of three significant figures (``tally.bucket``).
"""
from __future__ import annotations

import math
import operator
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Collection, Iterable, Mapping, Sequence

from integration.core.tally import (ABANDONED_AFTER, EVERY, KEPT, OVER, Row, Said, Tally, abandoned, add_said,
                                    first_seen, merge, tally)

ALL = "all"  # the row of a table that counts every category (or reason)
MIN_RATINGS = 10  # fewer ratings than this: no CSAT figure, only the count
GAP_MINUTES = 30.0  # a category whose handoffs agents resolve in a median under this is a knowledge gap
GAP_MIN_RESOLVED = 5  # … once at least this many of its handoffs were resolved
GAP_LIMIT = 10
SMALL_SAMPLE = 10  # fewer conversations (or ratings, or cases) than this: a chart marks the figure as a small sample
Z95 = 1.959963984540054  # the standard normal quantile of 97.5 %: a two-sided 95 % interval

# The helpdesk's AI agent's own verdict (model.BOT_VERDICTS) as an admin reads it: "<the bot> …"
BOT_VERDICTS = {"resolved_confirmed": "resolved it, and the customer confirmed",
                "resolved_assumed": "resolved it, assumed (the customer did not ask for more)",
                "escalated": "escalated it to your team",
                "procedure_handoff": "handed it over at the end of a procedure",
                "negative_feedback": "got negative feedback from the customer",
                "abandoned": "was left by the customer without an answer"}
NO_BOT_VERDICT = "told no verdict"

# the causes of a misjudgement in words, in the order a tally counts them
OVER_CAUSES = dict(zip(OVER, ("agent said not needed", "how-to answered within 10 min")))
UNDER_CAUSES = dict(zip((*KEPT, "abandoned"), ("asked for a person later", "reopened", "rated badly",
                                               "abandoned (7 days, no reply, not solved)")))



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



def report(rows: Iterable[Row], now: datetime, since: datetime | None = None,
           topics: Collection[str] | None = None) -> Report:
    """Every figure over the conversations of ``rows`` first seen from ``since`` (all when None) to
    ``now``: the rows tallied, then summarized; with ``topics``, outcomes recorded with the old
    reason-categories count under their topic (``tally.as_topic``)."""
    kept = rows if since is None else (r for r in rows if r["created_at"] >= since)
    return summarize(tally(kept, now - ABANDONED_AFTER, topics), now, since)


def summarize(tallies: Iterable[Tally], now: datetime, since: datetime | None = None) -> Report:
    """Every figure of the conversations the tallies count (the caller picked them: first seen from
    ``since``, or all when None)."""
    ts = [t for t in tallies if t.conversations]
    esc = [t for t in ts if t.escalated]
    resolution = _durations(esc, "resolution")
    knowledge = _knowledge(esc, resolution)
    return Report(
        now=now, since=since, conversations=sum(t.conversations for t in ts), bot_involved=sum(t.bot for t in ts),
        escalated=sum(t.escalated for t in esc),
        handoff=_handoff(ts, weeks_between(since or first_seen(ts) or now, now)),
        resolution=resolution, preparation=_durations(esc, "preparation"),
        csat=(Csat("AI → human", sum(t.csat[0] for t in esc), sum(t.csat[1] for t in esc)),
              Csat("human only", sum(t.csat[2] for t in ts), sum(t.csat[3] for t in ts))),
        over=_misjudged("over", esc, now), under=_misjudged("under", ts, now),
        suggestions=_suggestions(esc), knowledge=knowledge, gaps=_gaps(esc, resolution, knowledge),
        bot_verdicts=_bot_verdicts(ts))


def _bot_verdicts(ts: list[Tally]) -> tuple[BotVerdict, ...]:
    """Among conversations a bot took part in: per verdict the bot told, how many, and how many of
    them Baton handed over; nothing at all when no bot told a verdict (other helpdesks)."""
    seen: Counter[str] = Counter()
    handed: Counter[str] = Counter()
    for t in ts:
        for (told, escalated), n in t.verdicts.items():
            verdict = told if told in BOT_VERDICTS else NO_BOT_VERDICT
            seen[verdict] += n
            handed[verdict] += n if escalated else 0
    if not any(v != NO_BOT_VERDICT for v in seen):
        return ()
    return tuple(BotVerdict(v, seen[v], handed[v]) for v in (*BOT_VERDICTS, NO_BOT_VERDICT) if seen[v])


def _handoff(ts: list[Tally], weeks: tuple[str, ...]) -> HandoffRates:
    seen: Counter[tuple[str, str]] = Counter()  # (category, week) → conversations with a bot
    handed: Counter[tuple[str, str]] = Counter()  # … of which handed over
    for t in ts:
        if not t.bot:
            continue
        week = iso_week(t.day)
        for key in ((t.category, week), (ALL, week), (t.category, ALL)):
            seen[key] += t.bot
            handed[key] += t.escalated
    weekly = tuple(Rate(ALL, w, seen[(ALL, w)], handed[(ALL, w)]) for w in weeks)
    categories = sorted({c for c, _ in seen if c != ALL}, key=lambda c: (-handed[(c, ALL)], c))
    by_category = tuple(Rate(c, ALL, seen[(c, ALL)], handed[(c, ALL)]) for c in categories)
    table = tuple(Rate(c, w, seen[(c, w)], handed[(c, w)]) for c in categories for w in weeks if (c, w) in seen)
    overall = Rate(ALL, ALL, sum(r.conversations for r in by_category), sum(r.escalated for r in by_category))
    return HandoffRates(weeks, overall, weekly, by_category, table)


def quantiles(histogram: Mapping[float, int], *qs: float) -> tuple[float, ...]:
    """Of the values a histogram counts (value → how many, none empty): each ``q`` by nearest rank,
    and 0.5 as the median (the mean of the two middle values of an even count)."""
    ordered = sorted(histogram.items())
    n = sum(c for _, c in ordered)

    def at(rank: int) -> float:  # the value of 1-based rank
        seen = 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                return value
        return ordered[-1][0]

    out = []
    for q in qs:
        if q == 0.5 and n % 2 == 0:
            out.append((at(n // 2) + at(n // 2 + 1)) / 2)
        else:
            out.append(at(max(1, math.ceil(q * n))))
    return tuple(out)


def _duration(category: str, histogram: Mapping[float, int]) -> Duration:
    if not histogram:
        return Duration(category, 0, None, None)
    median, p90 = quantiles(histogram, 0.5, 0.9)
    return Duration(category, sum(histogram.values()), median, p90)


def _durations(esc: list[Tally], which: str) -> tuple[Duration, ...]:
    per: dict[str, dict[float, int]] = defaultdict(dict)
    for t in esc:
        if getattr(t, which):
            merge(per[t.category], getattr(t, which))
    whole: dict[float, int] = {}
    for histogram in per.values():
        merge(whole, histogram)
    ranked = sorted(per, key=lambda c: (-sum(per[c].values()), c))
    return (_duration(ALL, whole), *(_duration(c, per[c]) for c in ranked))


def _misjudged(kind: str, ts: list[Tally], now: datetime) -> Misjudgements:
    """Per category and per reason: how many handed over (kept), how many over- (under-)escalated,
    and how many per cause; the unanswered conversations a bot kept count as abandoned once their
    tally is old enough."""
    labels = OVER_CAUSES if kind == "over" else UNDER_CAUSES
    per: dict[tuple[str, str], list[int]] = {}  # (category, EVERY or a reason) → [conversations, misjudged, *causes]
    for t in ts:
        old = kind == "under" and abandoned(t, now)
        for key, counts in (t.over if kind == "over" else t.under).items():
            if kind == "under":  # [kept, misjudged, … once abandoned, *KEPT causes, unanswered] → [kept, misjudged, *causes]
                counts = [counts[0], counts[2] if old else counts[1], *counts[3:6], counts[6] if old else 0]
            have = per.get((t.category, key))
            per[(t.category, key)] = counts if have is None else list(map(operator.add, have, counts))
    acc: dict[tuple[str, str], list[int]] = {}  # (by, key) → the same
    for (category, key), counts in per.items():
        for target in ((("category", ALL), ("category", category), ("reason", ALL)) if key == EVERY
                       else (("reason", key),)):
            have = acc.get(target)
            acc[target] = counts if have is None else list(map(operator.add, have, counts))

    def table(by: str) -> tuple[Misjudged, ...]:
        none = [0] * (2 + len(labels))
        keys = sorted((k for b, k in acc if b == by and k != ALL), key=lambda k: (-acc[(by, k)][1], -acc[(by, k)][0], k))
        return tuple(Misjudged(k, c[0], c[1], dict(zip(labels, c[2:]))) for k in [ALL, *keys]
                     for c in [acc.get((by, k), none)])

    return Misjudgements(kind, dict(labels), table("category"), table("reason"))


def _suggestions(esc: list[Tally]) -> tuple[HitRate, ...]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for t in esc:
        if not t.suggestions[0]:
            continue
        for key in (ALL, t.category):
            per[key] = [a + b for a, b in zip(per[key], t.suggestions)]
    ranked = sorted((c for c in per if c != ALL), key=lambda c: (-per[c][0], c))
    return tuple(HitRate(c, *per.get(c, [0, 0, 0])) for c in [ALL, *ranked])


def _knowledge(esc: list[Tally], resolution: tuple[Duration, ...]) -> tuple[Knowledge, ...]:
    """Every category with a resolved handoff: how many, the median resolution time, the agents'
    answers (most frequent first) and what they said the bot lacked (newest first)."""
    answers: dict[str, dict[str, Said]] = defaultdict(dict)
    missing: dict[str, dict[str, Said]] = defaultdict(dict)
    for t in esc:
        if not t.resolution:
            continue
        for mine, theirs in ((answers[t.category], t.answers), (missing[t.category], t.missing)):
            for key, said in theirs.items():
                add_said(mine, key, said)
    out = []
    for d in resolution[1:]:  # the categories with a resolved handoff
        listed = [Answer(s.text, s.times, tuple(k for k, _ in sorted(s.resolutions.items(), key=lambda kv: (-kv[1], kv[0]))),
                         s.solved_at) for s in answers[d.category].values()]
        listed.sort(key=lambda a: (-a.times, -a.last_solved_at.timestamp(), a.text))
        said = sorted(missing[d.category].values(), key=lambda s: (-s.solved_at.timestamp(), s.text))
        out.append(Knowledge(d.category, d.n, d.median, tuple(listed), tuple(s.text for s in said)))
    out.sort(key=lambda k: (-k.resolved, k.category))
    return tuple(out)


def _gaps(esc: list[Tally], resolution: tuple[Duration, ...], knowledge: tuple[Knowledge, ...]) -> tuple[Gap, ...]:
    handed: Counter[str] = Counter()
    for t in esc:
        handed[t.category] += t.escalated
    answers = {k.category: (k.answers[0].text if k.answers else None) for k in knowledge}
    gaps = [Gap(d.category, handed[d.category], d.n, d.median, answers.get(d.category))
            for d in resolution[1:]
            if d.median is not None and d.n >= GAP_MIN_RESOLVED and d.median < GAP_MINUTES]
    gaps.sort(key=lambda g: (-g.escalations, g.median_minutes, g.category))
    return tuple(gaps[:GAP_LIMIT])
