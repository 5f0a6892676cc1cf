"""Risky topics and intent: billing disputes, refunds, cancellation, legal, security, outages …

The taxonomy is data in the rules (``Rules.topics``), so an admin can add "warranty claim" or
drop "outage" without code. Phrases match whole words on folded text (no case, no accents).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

from integration.engine.text import evidence_quote, fold
from integration.model import Conversation, Evidence, Finding, Role
from integration.rules import Topic


def phrase_pattern(phrase: str) -> str:
    """"refund*" → refund\\w*; "terminate my *" → terminate my \\w+; "re:…" is a regex as is."""
    if phrase.startswith("re:"):
        return f"(?:{phrase[3:]})"
    parts = []
    for word in fold(phrase).split():
        if word == "*":
            parts.append(r"\w+")
        else:
            parts.append(re.escape(word.rstrip("*")).replace(r"\?", "?") + (r"\w*" if word.endswith("*") else ""))
    return r"\b" + r"\s+".join(parts) + r"(?!\w)"


@lru_cache(maxsize=64)
def _compile(topics: tuple[tuple[str, Topic], ...]) -> tuple[tuple[str, Topic, re.Pattern[str]], ...]:
    return tuple(
        (name, t, re.compile("|".join(phrase_pattern(p) for p in t.phrases))) for name, t in topics
    )


def compiled(topics: Mapping[str, Topic]) -> tuple[tuple[str, Topic, re.Pattern[str]], ...]:
    return _compile(tuple(topics.items()))


def detect(conversation: Conversation, topics: Mapping[str, Topic], lookback: int = 3) -> list[Finding]:
    """One finding per topic mentioned in the last ``lookback`` customer messages, latest first."""
    found: dict[str, Finding] = {}
    seen = 0
    for i in range(len(conversation.messages) - 1, -1, -1):
        msg = conversation.messages[i]
        if msg.role is not Role.CUSTOMER:
            continue
        folded = fold(msg.text)
        for name, topic, pattern in compiled(topics):
            if name in found:
                continue
            m = pattern.search(folded)
            if m:
                ev = Evidence(i, evidence_quote(msg.text, m), 1.0, 1.0, topic.label)
                found[name] = Finding(
                    "risky_topic", True, 1.0, 1.0,
                    f"The customer raises a {topic.label} topic.", (ev,), category=name,
                )
        seen += 1
        if seen >= lookback:
            break
    return list(found.values())
