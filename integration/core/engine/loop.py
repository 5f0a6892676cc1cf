"""Loops: the customer asking the same thing again, the bot repeating itself, and exchanges where
the bot fails ("sorry, I couldn't find …") or the customer corrects it ("No, I said the 10th")
without the conversation getting anywhere.
"""
from __future__ import annotations

import re
from functools import lru_cache

from integration.core.engine.text import fold, quote, similarity, tokens
from integration.core.model import Conversation, Evidence, Finding, Message, Role
from integration.core.rules import LoopRule

_BOT_FAILURE = re.compile(
    r"""\b(?:sorry|apologi[sz]e|unfortunately|sadly|i'?m\s+afraid|
    (?:couldn'?t|could\s+not|can'?t|cannot|unable\s+to|wasn'?t\s+able\s+to|failed\s+to|not\s+able\s+to)\s+(?:find|locate|book|help|understand|complete|process|search|get)|
    (?:don'?t|do\s+not)\s+(?:have|see|understand)|didn'?t\s+(?:find|understand|get\s+that)|
    no\s+(?:results?|matches|availability|options)|
    (?:there\s+(?:are|is)|i\s+(?:found|have))\s+(?:no|none|nothing)|there\s+(?:are|is)n'?t|none\s+(?:available|that|in)|
    unsuccessful|was\s+not\s+successful|not\s+available|unavailable|could\s+you\s+rephrase|
    (?:i\s+)?did\s+not\s+get\s+that|please\s+try\s+again)\b""",
    re.VERBOSE,
)
_CORRECTION = re.compile(
    r"""^\W*(?:no|nope|nah|wrong|negative|incorrect|not\s+really|not\s+quite|that'?s\s+(?:not|wrong|incorrect))\b|
    \b(?:i\s+(?:said|told\s+you|asked\s+for|already)|not\s+what\s+i\s+(?:asked|said|want\w*)|
    (?:did\s+you\s+not|you\s+didn'?t|you\s+don'?t)\s+(?:understand|listen|get\s+it)|
    (?:look|check|search|try)\s+(?:again|once\s+more)|that\s+(?:does\s+not|doesn'?t)\s+(?:appeal|work|help))\b""",
    re.VERBOSE,
)
_PROGRESS = re.compile(
    r"\b(?:booked|booking\s+(?:is|was)\s+(?:done|successful|confirmed)|confirmed|reservation\s+is|reference\s+(?:number|code)|"
    r"done|resolved|fixed|all\s+set|here\s+(?:is|are)|i\s+(?:have\s+)?(?:found|sent|updated|changed|processed))\b"
)


@lru_cache(maxsize=16384)
def bot_failed(text: str) -> re.Match[str] | None:
    return _BOT_FAILURE.search(fold(text))


# "no" that declines what the bot offered ("No thanks", "no, that's all"), correcting nothing
_DECLINE = re.compile(
    r"""^\W*(?:no|nope|nah)\b\W*(?:thanks?|thank\s+you|thx|ty|that'?s\s+(?:all|it|everything|fine)|
    that\s+is\s+(?:all|it|everything)|all\s+good|i'?m\s+(?:good|fine|ok|okay|all\s+set)|i\s+am\s+(?:good|fine|ok|okay|all\s+set))\b""",
    re.VERBOSE,
)


@lru_cache(maxsize=16384)
def customer_corrected(text: str) -> re.Match[str] | None:
    folded = fold(text)
    m = _CORRECTION.search(folded)
    if m and m.start() == 0 and _DECLINE.match(folded):
        return _CORRECTION.search(folded, m.end())  # a correction later in the message still counts
    return m


@lru_cache(maxsize=16384)
def _progressed(text: str) -> bool:
    return _PROGRESS.search(fold(text)) is not None


def _quote(msg: Message) -> str:
    return quote(msg.text, 0, min(len(msg.text), 120))


def detect(conversation: Conversation, rule: LoopRule) -> Finding:
    msgs = conversation.messages
    customer = [(i, m) for i, m in enumerate(msgs) if m.role is Role.CUSTOMER]
    bot = [(i, m) for i, m in enumerate(msgs) if m.role is Role.BOT]
    evidence: list[Evidence] = []
    parts: list[str] = []
    score = 0.0

    # 1. the latest customer message asks again what an earlier one asked
    if len(customer) >= 2 and len(tokens(customer[-1][1].text)) >= 2:
        last_i, last = customer[-1]
        alike = [
            (i, m, s) for i, m in customer[:-1]
            if (s := similarity(last.text, m.text)) >= rule.similarity
        ]
        if alike:
            evidence += [Evidence(i, _quote(m), round(s, 2), rule.similarity, "asked before") for i, m, s in alike]
            evidence.append(Evidence(last_i, _quote(last), 1.0, rule.similarity, "asked again"))
            score = max(score, len(alike) / rule.rephrases)
            parts.append(f"asked the same thing {len(alike) + 1} times")

    # 2. the bot sends the same answer again
    if len(bot) >= 2:
        last_i, last = bot[-1]
        same = [(i, m) for i, m in bot[:-1] if similarity(last.text, m.text) >= 0.8]
        if len(same) + 1 >= rule.bot_repeats:
            evidence += [Evidence(i, _quote(m), 1.0, 0.8, "bot repeated itself") for i, m in same[-2:] + [(last_i, last)]]
            score = max(score, (len(same) + 1) / rule.bot_repeats)
            parts.append(f"the bot gave the same answer {len(same) + 1} times")

    # 3. exchanges in a row where the bot failed or the customer had to correct it
    stalled: list[Evidence] = []
    since_progress = 0
    for i, m in enumerate(msgs):
        if m.role is Role.BOT:
            if bot_failed(m.text):
                stalled.append(Evidence(i, _quote(m), 1.0, None, "the bot could not help"))
            elif _progressed(m.text):
                stalled, since_progress = [], 0
        elif m.role is Role.CUSTOMER:
            since_progress += 1
            if i > 0 and customer_corrected(m.text):
                stalled.append(Evidence(i, _quote(m), 1.0, None, "the customer corrected the bot"))
    if stalled:
        s = len(stalled) / rule.stalled_exchanges
        if s >= 1:
            parts.append(f"{len(stalled)} failed or corrected exchanges since the last progress")
            evidence += stalled[-4:]
        score = max(score, s)
    if since_progress >= rule.max_exchanges:
        parts.append(f"{since_progress} customer turns without progress")
        score = max(score, since_progress / rule.max_exchanges)

    fired = score >= 1.0
    summary = (
        "The conversation is going in circles: " + "; ".join(parts) + "." if fired
        else "No loop: the conversation is progressing."
    )
    return Finding(
        "loop", fired, round(min(score, 2.0), 3), 1.0, summary, tuple(evidence) if fired else (),
        details={"stalled_exchanges": len(stalled), "turns_since_progress": since_progress},
    )
