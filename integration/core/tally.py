"""What the handoff metrics count, kept per UTC day and category: a ``Tally`` (issue 22).

Pure: ``tally`` turns ``OutcomeRepository.rows`` dicts into tallies, one per UTC day × category, each
holding every count the report needs of those conversations; :func:`integration.core.figures.summarize`
makes the report of any tallies, summed. The store keeps the tallies of closed days as rows (the
rollups) and counts the open ones from the outcomes themselves; both are the same shape.

Counts add up; two things do not, and are kept so they still can:

- durations (resolution, preparation) are kept as a histogram of fixed buckets: the minutes to
  three significant figures (a hundredth of a minute under one minute), so a median or a p90 read
  from the buckets is at most 0.5 % off the exact one, and a bucket is never finer than 0.6 s.
- under-escalations of conversations nobody answered are "abandoned" only once they are
  ``ABANDONED_AFTER`` old, which depends on when the report is made: a tally counts them as
  *unanswered*, with ``until`` the latest a conversation of it can have been first seen; the report
  calls them abandoned when ``until`` is that old. ``tally(rows, cut)`` splits the day of ``cut``
  in two so that holds exactly; a closed day's tally has the end of its day.

The agents' answers and what they said the bot lacked are kept per distinct answer (the latest
wording, when, how often, which resolution types), as the knowledge view lists them.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Collection, Iterable, Mapping

Row = Mapping[str, Any]

NO_CATEGORY = "uncategorised"
NO_REASON = "no signal"  # a decision on which no signal fired
HOWTO = "how-to answered"  # the resolution type of a quick answer an agent could give from the docs
QUICK_HANDOFF = timedelta(minutes=10)  # solved this soon after the handoff with a how-to: not needed
ABANDONED_AFTER = timedelta(days=7)  # kept with the bot, no human reply and not solved this long after
BAD_RATING = 0.5  # a rating under this is bad (1–2 of 5, Zendesk's "bad")
SATISFIED = 0.75  # a rating at least this is satisfied (4–5 of 5, Zendesk's "good"): what CSAT counts
LONGEST = 1_000_000.0  # minutes (about 1.9 years): a longer duration counts in this last bucket
EVERY = "*"  # the key of a tally's misjudgement counts over all its conversations (the others: a reason each)
OVER = ("not_needed", "quick_howto")  # the causes of an over-escalation
KEPT = ("asked_for_human_later", "reopened", "rated_badly")  # of an under-escalation, whatever its age
UTC = timezone.utc
FORMAT = 1  # of Tally.to_json: a stored tally of another format is counted again from the outcomes


def with_bot(row: Row) -> bool:
    """A bot took part, or Baton handed the conversation over (it was the bot's to hand over)."""
    return bool(row.get("bot_involved") or row.get("escalated"))


def minutes(start: datetime | None, end: datetime | None) -> float | None:
    """Wall-clock minutes from ``start`` to ``end``; None when either is unknown or the end comes
    first (the reply came before the last reassignment, the data is inconsistent)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 60


def bucket(value: float) -> float:
    """The histogram bucket of a duration in minutes: three significant figures (a hundredth of a
    minute under one minute), at most ``LONGEST``."""
    if value < 1:
        return round(value, 2)
    return float(f"{min(value, LONGEST):.3g}")


def over_causes(row: Row) -> list[str]:
    """Why a handed-over conversation was an over-escalation (none: it was not)."""
    causes = []
    if row.get("verdict") == "not_needed":
        causes.append("not_needed")
    quick = minutes(row.get("escalated_at"), row.get("solved_at"))
    if row.get("resolution") == HOWTO and quick is not None and quick <= QUICK_HANDOFF.total_seconds() / 60:
        causes.append("quick_howto")
    return causes


def kept_causes(row: Row) -> tuple[tuple[str, ...], bool]:
    """Why a conversation kept with the bot was an under-escalation, whatever its age, and whether
    nobody answered it and it is not solved (abandoned, once ``ABANDONED_AFTER`` old)."""
    causes = []
    if row.get("asked_for_human_later"):
        causes.append("asked_for_human_later")
    if (row.get("reopens") or 0) > 0:
        causes.append("reopened")
    if row.get("csat") is not None and row["csat"] < BAD_RATING:
        causes.append("rated_badly")
    return tuple(causes), row.get("first_agent_reply_at") is None and row.get("solved_at") is None


def under_causes(row: Row, now: datetime) -> list[str]:
    """Why a conversation kept with the bot was an under-escalation as of ``now`` (none: it was not)."""
    causes, unanswered = kept_causes(row)
    abandoned = unanswered and now - row["created_at"] >= ABANDONED_AFTER
    return [*causes, "abandoned"] if abandoned else list(causes)


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


@functools.lru_cache(maxsize=4096)
def answer_key(text: str) -> str:
    """Answers that differ only by case, spacing or numbers (order ids, amounts) are one answer."""
    return re.sub(r"\d+", "#", " ".join(text.casefold().split()))


def day_end(day: date) -> datetime:
    """The last instant of a UTC day."""
    return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)


@dataclass
class Said:
    """One distinct answer (or one thing the bot lacked) of a day and category: its latest wording."""

    text: str
    solved_at: datetime  # the latest solve it was said at
    times: int = 0
    resolutions: Counter[str] = field(default_factory=Counter)  # answers only: the types chosen with it

    def newer(self, text: str, solved_at: datetime) -> bool:
        return (solved_at, text) > (self.solved_at, self.text)


@dataclass
class Tally:
    """Every count of the report over the conversations first seen on one UTC day in one category
    (``tally`` may split a day in two: see the module's note on abandonment)."""

    day: date
    category: str
    until: datetime  # no conversation counted here was first seen after this
    conversations: int = 0
    bot: int = 0  # with a bot: handed over or kept
    escalated: int = 0  # handed over
    csat: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # ratings, satisfied: handed over; human only
    resolution: Counter[float] = field(default_factory=Counter)  # handed over → solved, minutes by bucket
    preparation: Counter[float] = field(default_factory=Counter)  # assigned → first agent reply
    # EVERY or a reason (each signal of a conversation counted) → [handed over, over-escalated, *per OVER cause]
    over: dict[str, list[int]] = field(default_factory=dict)
    # … → [kept, under-escalated (a KEPT cause), … or unanswered (once abandoned), *per KEPT cause, unanswered]
    under: dict[str, list[int]] = field(default_factory=dict)
    suggestions: list[int] = field(default_factory=lambda: [0, 0, 0])  # suggested, resolution known, hits
    verdicts: Counter[tuple[str, bool]] = field(default_factory=Counter)  # (the bot's verdict or "", handed over)
    answers: dict[str, Said] = field(default_factory=dict)  # by answer_key
    missing: dict[str, Said] = field(default_factory=dict)  # what the bot lacked, by its text

    def count(self, r: Row) -> None:
        """Add one conversation (an outcome row, the panel's feedback applied)."""
        self.conversations += 1
        csat = r.get("csat")
        escalated = bool(r.get("escalated"))
        if not (escalated or r.get("bot_involved")):
            if csat is not None:
                self.csat[2] += 1
                self.csat[3] += csat >= SATISFIED
            return
        self.bot += 1
        keys = (EVERY, *(r.get("reasons") or (NO_REASON,)))
        self.verdicts[(r.get("bot_verdict") or "", escalated)] += 1
        if not escalated:
            causes, unanswered = kept_causes(r)
            _count(self.under, keys, [1, bool(causes), bool(causes) or unanswered, *(c in causes for c in KEPT),
                                      unanswered])
            return
        self.escalated += 1
        if csat is not None:
            self.csat[0] += 1
            self.csat[1] += csat >= SATISFIED
        causes = over_causes(r)
        _count(self.over, keys, [1, bool(causes), *(c in causes for c in OVER)])
        prepared = minutes(r.get("assigned_at"), r.get("first_agent_reply_at"))
        if prepared is not None:
            self.preparation[bucket(prepared)] += 1
        resolution = r.get("resolution")
        if r.get("suggested"):
            self.suggestions[0] += 1
            self.suggestions[1] += bool(resolution)
            self.suggestions[2] += bool(resolution) and resolution == r["suggested"]
        resolved = minutes(r.get("escalated_at"), r.get("solved_at"))
        if resolved is None:
            return
        self.resolution[bucket(resolved)] += 1
        solved = r["solved_at"]
        if r.get("answer_text"):
            text = r["answer_text"]
            said = self.answers.get(key := answer_key(text))
            if said is None:
                said = self.answers[key] = Said(text, solved)
            elif said.newer(text, solved):
                said.text, said.solved_at = text, solved
            said.times += 1
            if resolution:
                said.resolutions[resolution] += 1
        if r.get("missing_knowledge"):
            text = " ".join(r["missing_knowledge"].split())
            said = self.missing.get(text)
            if said is None:
                said = self.missing[text] = Said(text, solved)
            elif solved > said.solved_at:
                said.solved_at = solved
            said.times += 1

    def add(self, other: Tally, sign: int = 1) -> bool:
        """Add ``other`` (of the same day and category), or take it away with ``sign=-1``. False when
        taking it away leaves this tally unknown: an answer's latest wording went with it (count the
        day and category again from the outcomes), or a count would go below zero."""
        exact = True
        self.conversations += sign * other.conversations
        self.bot += sign * other.bot
        self.escalated += sign * other.escalated
        self.csat = [a + sign * b for a, b in zip(self.csat, other.csat)]
        self.suggestions = [a + sign * b for a, b in zip(self.suggestions, other.suggestions)]
        for mine_v, theirs_v in ((self.over, other.over), (self.under, other.under)):
            for key, counts in theirs_v.items():
                have = mine_v.get(key) or [0] * len(counts)
                have = mine_v[key] = [a + sign * b for a, b in zip(have, counts)]
                if not any(have) or min(have) < 0:
                    exact = exact and min(have) >= 0
                    del mine_v[key]
        for mine, theirs in ((self.resolution, other.resolution), (self.preparation, other.preparation),
                             (self.verdicts, other.verdicts)):
            for key, n in theirs.items():
                mine[key] += sign * n
                if mine[key] <= 0:
                    exact = exact and mine[key] == 0
                    del mine[key]
        for mine_said, theirs_said in ((self.answers, other.answers), (self.missing, other.missing)):
            for key, said in theirs_said.items():
                exact = add_said(mine_said, key, said, sign) and exact
        counts = (self.conversations, self.bot, self.escalated, *self.csat, *self.suggestions)
        return exact and min(counts) >= 0

    def replace(self, old: Tally | None, new: Tally | None) -> bool:
        """One conversation changed: take its tally ``old`` away and add ``new`` (either None: it
        was not or is no longer counted here). An answer said the same before and after stays as it
        is (only its resolution types move), so a late rating never loses an answer's wording. False
        as for :meth:`add`."""
        if old is not None and new is not None:
            for mine, before, after in ((self.answers, old.answers, new.answers), (self.missing, old.missing, new.missing)):
                for key in [k for k, s in before.items() if k in after and k in mine
                            and (s.text, s.solved_at, s.times) == (after[k].text, after[k].solved_at, after[k].times)]:
                    said = mine[key]
                    said.resolutions.update(after.pop(key).resolutions)
                    said.resolutions.subtract(before.pop(key).resolutions)
                    said.resolutions = +said.resolutions
        if new is not None:
            self.add(new)
        return self.add(old, -1) if old is not None else True

    def to_json(self) -> dict[str, Any]:
        """The counts as JSON (the rollup row's ``figures``; its day and category are its key)."""
        return {"v": FORMAT, "n": self.conversations, "bot": self.bot, "esc": self.escalated, "csat": self.csat,
                "res": [list(self.resolution), list(self.resolution.values())],
                "prep": [list(self.preparation), list(self.preparation.values())],
                "over": self.over, "under": self.under,
                "sug": self.suggestions, "ver": [[v, int(e), n] for (v, e), n in self.verdicts.items()],
                "ans": {k: [s.text, s.solved_at.isoformat(), s.times, dict(s.resolutions)] for k, s in self.answers.items()},
                "miss": {k: [s.solved_at.isoformat(), s.times] for k, s in self.missing.items()}}

    @classmethod
    def from_json(cls, day: date, category: str, data: Mapping[str, Any]) -> Tally:
        """A closed day's tally from its rollup row (ValueError: of another format)."""
        if data.get("v") != FORMAT:
            raise ValueError(f"a tally of format {data.get('v')!r}, not {FORMAT}")
        when = datetime.fromisoformat
        return cls(day, category, day_end(day), data["n"], data["bot"], data["esc"], list(data["csat"]),
                   _counter(zip(*data["res"])), _counter(zip(*data["prep"])),
                   data["over"], data["under"],
                   list(data["sug"]), Counter({(v, bool(e)): n for v, e, n in data["ver"]}),
                   {k: Said(t, when(s), n, Counter(res)) for k, (t, s, n, res) in data["ans"].items()},
                   {k: Said(k, when(s), n) for k, (s, n) in data["miss"].items()})


def _counter(pairs: Iterable[tuple[Any, int]]) -> Counter[Any]:
    """A Counter of (key, count) pairs (dict.update: Counter's own checks each pair's type)."""
    out: Counter[Any] = Counter()
    dict.update(out, pairs)
    return out


def merge(into: dict[Any, int], counts: Mapping[Any, int]) -> None:
    """Add ``counts`` into ``into`` (Counter.update without its per-call type checks)."""
    get = into.get
    for key, n in counts.items():
        into[key] = get(key, 0) + n


def _count(into: dict[str, list[int]], keys: Iterable[str], counts: list[Any]) -> None:
    for key in keys:
        have = into.get(key)
        into[key] = [int(c) for c in counts] if have is None else [a + b for a, b in zip(have, counts)]


def add_said(mine: dict[str, Said], key: str, said: Said, sign: int = 1) -> bool:
    """Count ``said`` (of ``key``) in ``mine``, or take it away with ``sign=-1`` (False: the latest
    wording went with it, unknown now)."""
    have = mine.get(key)
    if sign > 0:
        if have is None:
            mine[key] = Said(said.text, said.solved_at, said.times, Counter(said.resolutions))
            return True
        if have.newer(said.text, said.solved_at):
            have.text, have.solved_at = said.text, said.solved_at
        have.times += said.times
        have.resolutions.update(said.resolutions)
        return True
    if have is None or have.times < said.times:
        return False
    have.times -= said.times
    have.resolutions.subtract(said.resolutions)
    have.resolutions = +have.resolutions
    if have.times == 0:
        del mine[key]
        return True
    return (said.solved_at, said.text) != (have.solved_at, have.text)  # its latest wording went: unknown


def tally(rows: Iterable[Row], cut: datetime | None = None, topics: Collection[str] | None = None) -> list[Tally]:
    """The conversations of ``rows`` counted per UTC day of first sight and category. With ``cut``
    (the report's now − ``ABANDONED_AFTER``), the conversations of the cut's day first seen after it
    get a tally of their own, so "abandoned" is decided exactly for each. With ``topics``, outcomes
    recorded with the old reason-categories count under their topic (``as_topic``)."""
    cells: dict[tuple[date, str, bool], Tally] = {}
    cut_day = cut.astimezone(UTC).date() if cut is not None else None
    for r in rows:
        if topics is not None:
            r = as_topic(r, topics)
        at = r["created_at"]
        day = at.astimezone(UTC).date()
        category = r.get("category") or NO_CATEGORY
        late = day == cut_day and at > cut  # type: ignore[operator]
        t = cells.get((day, category, late))
        if t is None:
            until = cut if day == cut_day and not late else day_end(day)
            t = cells[(day, category, late)] = Tally(day, category, until)  # type: ignore[arg-type]
        t.count(r)
    return list(cells.values())


def first_seen(tallies: Iterable[Tally]) -> datetime | None:
    """The start of the earliest day any conversation of ``tallies`` was first seen."""
    days = [t.day for t in tallies if t.conversations]
    return datetime.combine(min(days), time(), UTC) if days else None


def abandoned(t: Tally, now: datetime) -> bool:
    """Whether the unanswered conversations of ``t`` are abandoned as of ``now``: all of them were
    first seen at least ``ABANDONED_AFTER`` before."""
    return now - t.until >= ABANDONED_AFTER

