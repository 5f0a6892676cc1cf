"""Suggested resolutions: the resolved escalations of one installation most like the conversation
being handed over, found by BM25 over the customer's words, for the handoff note.

Only a case similar enough is suggested. A case's BM25 score is divided by the weight of the
query's own words (the sum of their IDFs; a word the history never saw weighs the most, so a
question about something new matches nothing on its filler words): about 1.0 means the case holds
every word of the query once, at an average length. ``FLOOR`` is the least a case must reach, chosen
on a history asked about intents it holds and about intents it never saw (``bench/analytics.py``
prints the sweep). A query of fewer than ``MIN_TERMS`` content words gets nothing: "help please" is
like everything. A word of the query the history holds in fewer than two cases is looked up as a
typing mistake of a more common one ("refnud" → "refund"). The resolution type shown first is the
one the similar cases agree on (their scores summed), with its most similar case.

The index is numpy arrays in compressed-row form (term → its cases in the order they were solved),
so one lookup is a few array additions, and the replay (:func:`hit_rate`) can ask "only among the
cases solved before this one" with exact statistics for that prefix. Written rather than taken from
``bm25s``: on 50,000 cases its lookup p99 was 9.0 ms against 1.3 ms here (it ranks the whole score
array where this keeps only the cases above the floor), it pulls in scipy when installed (+25 MB
resident, +0.24 s import), and it has neither the statistics of a prefix nor the words a history
never saw, which the floor and the replay need; pure Python was 20 ms at p99.
"""
from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Sequence
from urllib.parse import quote

import numpy as np

from integration.core.engine.text import STOPWORDS, fold, typos_allowed
from integration.core.model import Conversation, Role

K1, B = 1.2, 0.75  # BM25's usual constants
FLOOR = 0.45  # the least normalised score suggested
MIN_TERMS = 2  # content words a query needs before anything is suggested
QUERY_CHARS = 2000  # the customer's words looked at, as many as the outcomes keep (pipeline.QUERY_CHARS)
GIST_CHARS = 200  # of an answer, in the note
NOTE_SUGGESTIONS = 2
VOTERS = 10  # similar cases whose resolution types are weighed
CORRECTIONS = 12  # words of a query looked up as typing mistakes, at most

_TERM = re.compile(r"[^\W_]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_uncached_fold = getattr(fold, "__wrapped__", fold)  # 50,000 histories would only evict the engine's cache


def _fold(text: str) -> str:
    """text.fold, faster on plain ASCII (which it only lower-cases)."""
    return text.lower() if text.isascii() else _uncached_fold(text)


@dataclass(frozen=True)
class Case:
    """A resolved escalation: what the customer said and how an agent resolved it."""

    ticket_id: str
    words: str  # the customer's words
    gist: str | None  # the agent's resolving answer, shortened
    resolution: str | None  # the resolution type the agent chose
    url: str | None  # where the ticket opens in the helpdesk
    solved_at: datetime | None
    escalated_at: datetime | None = None  # when it was handed over (the replay asks at that moment)


@dataclass(frozen=True)
class Suggestion:
    ticket_id: str
    resolution: str | None
    gist: str | None
    url: str | None
    score: float  # normalised, FLOOR … 1

    def note_text(self) -> str:
        """``Similar case #123 (refund issued): Refunded the duplicate charge. — https://…``"""
        gist = _shorten(self.gist) or ""
        kind = f" ({self.resolution})" if self.resolution else ""
        link = f" — {self.url}" if self.url else ""
        return f"Similar case #{self.ticket_id}{kind}" + (f": {gist}" if gist else "") + link


def note_text(suggestions: Sequence[Suggestion], most: int = NOTE_SUGGESTIONS) -> str | None:
    """The note's "Suggested resolution" paragraph: the best ``most`` suggestions, or None."""
    return " ".join(s.note_text() for s in suggestions[:most]) or None


def _shorten(gist: str | None) -> str | None:
    text = " ".join((gist or "")[:GIST_CHARS * 4].split())
    return (text[:GIST_CHARS - 1].rstrip() + "…" if len(text) > GIST_CHARS else text) or None


def solved_order(case: Case) -> tuple[bool, datetime]:
    """Cases in the order they were solved, those without a time last."""
    return case.solved_at is None, case.solved_at or datetime.min


def terms(text: str) -> list[str]:
    """Content words: folded like the signals' text (no case, no accents), without stopwords,
    one-letter words and numbers of four digits or more."""
    return [t for t in _TERM.findall(_fold(text[:QUERY_CHARS]))
            if len(t) > 1 and t not in STOPWORDS and not (len(t) > 3 and t.isdigit())]


def customer_words(conversation: Conversation, limit: int = QUERY_CHARS) -> str:
    """What the customer said in the conversation, in order, at most ``limit`` characters (the same
    words the outcomes keep as ``query_text``)."""
    return " ".join(m.text for m in conversation.messages if m.role is Role.CUSTOMER)[:limit]


def sibling_url(url: str | None, ticket_id: str, other_id: str) -> str | None:
    """The address of ticket ``other_id`` in the same helpdesk, from the address of ``ticket_id``
    (every connector ends a ticket's address with its id)."""
    tail = "/" + quote(str(ticket_id), safe="")
    if not url or not url.endswith(tail):
        return None
    return url[: -len(tail)] + "/" + quote(str(other_id), safe="")


class Index:
    """The resolved cases of one installation, searchable by the customer's words. Immutable once
    built; cases are kept in the order they were solved (those without a time last)."""

    def __init__(self, cases: Iterable[Case]):
        ordered = sorted(cases, key=solved_order)
        # what a suggestion shows, without the words (they are in the arrays) nor more gist than the note takes
        self.cases: list[Case] = [replace(c, words="", gist=_shorten(c.gist), escalated_at=None) for c in ordered]
        self._solved = [c.solved_at for c in self.cases if c.solved_at is not None]
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(self.cases), dtype=np.float32)
        for i, case in enumerate(ordered):
            words = terms(case.words)
            lengths[i] = len(words)
            for word, tf in Counter(words).items():
                rows.append(vocabulary.setdefault(word, len(vocabulary)))
                cols.append(i)
                counts.append(tf)
        self.vocabulary = vocabulary
        term = np.asarray(rows, dtype=np.int32)
        order = np.argsort(term, kind="stable")  # by term, each term's cases in the order solved
        self._docs = np.asarray(cols, dtype=np.int32)[order]
        self._tf = np.asarray(counts, dtype=np.float32)[order]
        self._start = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=len(vocabulary)), out=self._start[1:])
        self._lengths = lengths
        self._total_length = np.concatenate(([0.0], np.cumsum(lengths, dtype=np.float64)))
        self._weights = self._bm25(self._tf, self._docs, len(self.cases))  # the whole index's, precomputed

    def __len__(self) -> int:
        return len(self.cases)

    def _bm25(self, tf: np.ndarray, docs: np.ndarray, n: int) -> np.ndarray:
        """Each posting's term-frequency part of BM25, among the first ``n`` cases."""
        average = max(float(self._total_length[n]) / max(n, 1), 1.0)
        norm = K1 * (1 - B + B * self._lengths[docs] / np.float32(average))
        return (tf * (K1 + 1) / (tf + norm)).astype(np.float32)

    def _postings(self, term_id: int, n: int) -> slice:
        a, b = int(self._start[term_id]), int(self._start[term_id + 1])
        if n < len(self.cases):
            b = a + int(np.searchsorted(self._docs[a:b], n))
        return slice(a, b)

    def _df(self, term_id: int, n: int) -> int:
        p = self._postings(term_id, n)
        return p.stop - p.start

    def _term_ids(self, words: Sequence[str], n: int) -> list[int | None]:
        """Each word's term id among the first ``n`` cases (None: never seen there). A word in fewer
        than two of them is taken for the word it is a typing mistake of, when there is one; only
        the ``CORRECTIONS`` longest such words are tried (a pasted log must not take seconds)."""
        ids = [self.vocabulary.get(w) for w in words]
        seen = [self._df(t, n) if t is not None else 0 for t in ids]
        ids = [t if df else None for t, df in zip(ids, seen)]
        rare = sorted((j for j in range(len(words)) if seen[j] < 2), key=lambda j: (-len(words[j]), words[j]))
        for j in rare[:CORRECTIONS]:
            ids[j] = self._corrected(words[j], n) or ids[j]
        return ids

    def _corrected(self, word: str, n: int) -> int | None:
        """The term id of the word ``word`` is a typing mistake of: one edit away, the same first
        letter, in at least two of the first ``n`` cases (a one-off typo attracts nothing), the most
        frequent such word."""
        if typos_allowed(word) == 0 or not word.isascii():
            return None
        best: tuple[int, int] | None = None
        for candidate in _edits(word):
            t = self.vocabulary.get(candidate)
            if t is not None and candidate[0] == word[0]:
                df = self._df(t, n)
                if df >= 2 and (best is None or df > best[0]):
                    best = (df, t)
        return best[1] if best else None

    def search(self, words: Sequence[str], k: int = 3, floor: float = FLOOR, before: int | None = None,
               exclude: int | None = None) -> list[tuple[int, float]]:
        """(case position, normalised score) of the ``k`` best cases scoring at least ``floor``,
        best first (the more recently solved on a tie); only among the first ``before`` cases."""
        n = len(self.cases) if before is None else max(0, min(before, len(self.cases)))
        unique = sorted(set(words))
        if n == 0 or len(unique) < MIN_TERMS:
            return []
        scores = np.zeros(n, dtype=np.float32)
        ids = self._term_ids(unique, n)
        weight = math.log(1 + (n + 0.5) / 0.5) * ids.count(None)  # words the history never saw count too
        for term_id in {t for t in ids if t is not None}:
            p = self._postings(term_id, n)
            df = p.stop - p.start
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            weight += idf
            if df == 0:
                continue
            part = self._weights[p] if n == len(self.cases) else self._bm25(self._tf[p], self._docs[p], n)
            scores[self._docs[p]] += np.float32(idf) * part
        if weight == 0.0:
            return []
        scores /= np.float32(weight)
        if exclude is not None and exclude < n:
            scores[exclude] = 0.0
        found = np.flatnonzero(scores >= max(floor, 1e-6))  # a case sharing no word is never similar
        if len(found) > k:  # keep the k best, and whatever ties with the k-th
            kth = np.partition(scores[found], len(found) - k)[len(found) - k]
            found = found[scores[found] >= kth]
        ranked = sorted(found.tolist(), key=lambda i: (-float(scores[i]), -i))[:k]
        return [(i, min(1.0, float(scores[i]))) for i in ranked]

    def solved_before(self, moment: datetime) -> int:
        """How many cases were solved before ``moment`` (the prefix :meth:`search` may look in)."""
        return bisect.bisect_left(self._solved, moment)


def _edits(word: str) -> set[str]:
    """Every word one deletion, insertion, substitution or swap of neighbours away (Norvig's)."""
    cuts = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in cuts if b}
            | {a + b[1] + b[0] + b[2:] for a, b in cuts if len(b) > 1}
            | {a + c + b[1:] for a, b in cuts if b for c in _LETTERS}
            | {a + c + b for a, b in cuts for c in _LETTERS})


def suggest(index: Index, conversation_text: str, k: int = 3, floor: float = FLOOR) -> list[Suggestion]:
    """The resolved cases most like what the customer said, at most ``k``, none below ``floor``;
    first the best case of the resolution type the similar cases agree on most."""
    found = _agreed(index, index.search(terms(conversation_text), max(k, VOTERS), floor))
    return [_suggestion(index.cases[i], score) for i, score in found[:k]]


def suggested_before(index: Index, conversation_text: str, moment: datetime, floor: float = FLOOR) -> str | None:
    """The resolution type a handoff note written at ``moment`` suggests first, from the cases solved
    before then (what the pipeline's :func:`suggest` finds on a handoff; the history the demo seeds
    records it, as the pipeline does, for the analytics' suggestion hit rate)."""
    found = _agreed(index, index.search(terms(conversation_text), VOTERS, floor, before=index.solved_before(moment)))
    return index.cases[found[0][0]].resolution if found else None


def _agreed(index: Index, found: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """``found`` with the best case of the resolution type of most weight (summed scores) first: one
    near case resolved an unusual way must not outvote nine resolved the usual way."""
    votes: Counter[str | None] = Counter()
    for i, score in found:
        votes[index.cases[i].resolution] += score
    if not votes:
        return found
    winner = max(votes, key=lambda r: (r is not None, votes[r]))
    first = next(j for j, (i, _) in enumerate(found) if index.cases[i].resolution == winner)
    return [found[first], *found[:first], *found[first + 1:]]


def _suggestion(case: Case, score: float) -> Suggestion:
    return Suggestion(case.ticket_id, case.resolution, case.gist, case.url, round(score, 3))


@dataclass(frozen=True)
class Replay:
    """What the replay of an installation's resolved escalations measured (:func:`hit_rate`)."""

    escalations: int  # resolved escalations with a resolution type (those the replay can judge)
    suggested: int  # of which got a suggestion
    hits: int  # of which the top suggestion's resolution type was the eventual one

    @property
    def hit_rate(self) -> float:
        """Share of escalations with a suggestion whose resolution type matches the eventual one."""
        return self.hits / self.escalations if self.escalations else 0.0

    @property
    def coverage(self) -> float:
        """Share of escalations with any suggestion."""
        return self.suggested / self.escalations if self.escalations else 0.0

    @property
    def precision(self) -> float:
        """Share of suggestions whose resolution type was the eventual one."""
        return self.hits / self.suggested if self.suggested else 0.0


def hit_rate(cases: Iterable[Case], floor: float = FLOOR) -> Replay:
    """Replay one installation's resolved escalations in the order they were handed over: each is
    looked up among the cases solved before it was handed over (as the note would have been
    written then), and counts as a hit when the top suggestion's resolution type is its own."""
    ordered = sorted(cases, key=solved_order)
    index = Index(ordered)  # the same order: the sort is stable
    judged = suggested = hits = 0
    at = [(c.escalated_at or c.solved_at, i) for i, c in enumerate(ordered) if c.resolution]
    for moment, i in sorted((m, i) for m, i in at if m is not None):
        case = ordered[i]
        judged += 1
        found = _agreed(index, index.search(terms(case.words), VOTERS, floor, before=index.solved_before(moment),
                                            exclude=i))
        if found:
            suggested += 1
            hits += index.cases[found[0][0]].resolution == case.resolution
    return Replay(judged, suggested, hits)
