"""Risky topics and intent: billing disputes, refunds, cancellation, legal, security, outages …

The taxonomy is data in the rules (``Rules.topics``), so an admin can add "warranty claim" or
drop "outage" without code. Phrases match whole words on folded text (no case, no accents).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable, Mapping

from integration.core.engine import lexicon
from integration.core.engine.text import STOPWORDS, Vocabulary, evidence_quote, fold, tokens
from integration.core.model import Conversation, Evidence, Finding, Priority
from integration.core.rules import Topic, linear_pattern


def phrase_pattern(phrase: str) -> str:
    """"refund*" → refund\\w*; "terminate my *" → terminate my \\w+ (whole words, nothing that
    can backtrack). A "re:…" phrase is an admin's regular expression: see :class:`Phrases`."""
    parts = []
    for word in fold(phrase).split():
        if word == "*":
            parts.append(r"\w+")
        else:
            parts.append(re.escape(word.rstrip("*")).replace(r"\?", "?") + (r"\w*" if word.endswith("*") else ""))
    return r"\b" + r"\s+".join(parts) + r"(?!\w)"


class Phrases:
    """A topic's phrases as two searches: the plain phrases on Python's ``re`` (built above, they
    cannot backtrack) and the "re:" ones on RE2, whose time is linear in the text whatever the
    pattern, so no admin's expression can hold a worker every tenant shares. A stored expression
    RE2 cannot run (look-around, back-references) matches nothing: it is never run on ``re``."""

    def __init__(self, phrases: tuple[str, ...]):
        plain = [phrase_pattern(p) for p in phrases if not p.startswith("re:")]
        regexes = [c for p in phrases if p.startswith("re:") and (c := linear_pattern(p[3:])) is not None]
        self._plain = re.compile("|".join(plain)) if plain else None
        self._linear = linear_pattern("|".join(f"(?:{c.pattern})" for c in regexes)) if regexes else None

    def search(self, text: str) -> Any:
        return (self._plain and self._plain.search(text)) or (self._linear and self._linear.search(text)) or None


Compiled = tuple[tuple[str, Topic, Phrases, Phrases], ...]


def _alternation(phrases: tuple[str, ...]) -> Phrases:
    return Phrases(phrases)


@lru_cache(maxsize=64)
def _compile(topics: tuple[tuple[str, Topic], ...]) -> Compiled:
    return tuple((name, t, _alternation(t.phrases), _alternation(t.exclude)) for name, t in topics)


def compiled(topics: Mapping[str, Topic]) -> Compiled:
    return _prepared(topics)[0]  # type: ignore[return-value]


_PREPARED: dict[int, tuple[Mapping[str, Topic], Compiled, "Vocabulary", Phrases]] = {}


def _prepared(topics: Mapping[str, Topic]) -> tuple[Compiled, "Vocabulary", Phrases]:
    """The compiled phrases, the typo vocabulary and every topic's phrases in one search (most
    messages raise no topic: one search, and one RE2 call, say so instead of one per topic),
    found by the mapping itself: an installation's rules are one object for many evaluations, and
    hashing every topic's phrases on each call cost more than matching them."""
    hit = _PREPARED.get(id(topics))
    if hit is not None and hit[0] is topics:
        return hit[1], hit[2], hit[3]
    key = tuple(topics.items())
    out = (_compile(key), _vocabulary(key), Phrases(tuple(p for _, t in key for p in t.phrases)))
    if len(_PREPARED) >= 64:
        _PREPARED.clear()
    _PREPARED[id(topics)] = (topics, *out)
    return out


@lru_cache(maxsize=64)
def _vocabulary(topics: tuple[tuple[str, Topic], ...]) -> Vocabulary:
    """The topics' own words (five letters or more), so a phrase also matches when the customer
    mistyped one of its words ("cancfel my order" is "cancel my order"). A word of a language the
    engine reads is written as meant, not mistyped: French "discute" is not "dispute", "demande"
    is not Spanish "demanda"."""
    words = {w.rstrip("*"): w for _, t in topics for p in t.phrases if not p.startswith("re:")
             for w in fold(p).split() if len(w.rstrip("*")) >= 5 and w.rstrip("*").isalpha()}
    return Vocabulary(words, frozenset(STOPWORDS) | lexicon.WORDS, swaps=False, most=1)


@lru_cache(maxsize=16384)
def _corrected(folded: str, vocabulary: Vocabulary) -> str:
    """``folded`` with each mistyped topic word replaced by the word it stands for."""
    def fix(m: re.Match[str]) -> str:
        word = m.group()
        found = vocabulary.lookup(word)
        return found if found and found != word and not word.startswith(found) else word
    return _LONG_WORD.sub(fix, folded)


_LONG_WORD = re.compile(r"(?<![^\W_])[^\W_]{6,}")  # whole words of six letters or more: shorter ones are too often real words


def detect(conversation: Conversation, topics: Mapping[str, Topic], carry_over: bool = False,
           out_of_time: Callable[[], bool] = lambda: False) -> list[Finding]:
    """One finding per topic in the latest customer message, most important first. Topics of the
    two customer messages before count too when the latest is a short follow-up ("ok, when?") or
    ``carry_over`` says it is still the same trouble (an angry follow-up); otherwise a topic the
    conversation has left behind no longer counts."""
    found: dict[str, Finding] = {}
    for seen, (i, msg) in enumerate(conversation.customer_messages_newest_first(), 1):
        folded = fold(msg.text)
        phrases, vocabulary, any_topic = _prepared(topics)
        corrected = _corrected(folded, vocabulary)
        if not any_topic.search(folded) and (corrected == folded or not any_topic.search(corrected)):
            phrases = ()  # no topic's phrase is in this message
        for name, topic, pattern, exclude in phrases:
            if name in found:
                continue
            if out_of_time():
                break
            m = pattern.search(folded) or (pattern.search(corrected) if corrected != folded else None)
            if m and exclude.search(corrected):
                continue
            if m:
                ev = Evidence(i, evidence_quote(msg.text, m), 1.0, 1.0, topic.label)
                found[name] = Finding(
                    "risky_topic", True, 1.0, 1.0,
                    f"The customer raises a {topic.label} topic.", (ev,), category=name,
                )
        if seen >= 3 or (seen == 1 and not carry_over and len(tokens(msg.text)) > 5):
            break
    return sorted(found.values(), key=lambda f: -Priority(topics[f.category].priority).rank)  # type: ignore[index]

