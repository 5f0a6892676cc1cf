"""How much of a conversation Baton reads and keeps, whatever its size: the bounds, written once.

A customer decides how long they write and an imported ticket can hold ten thousand messages; the
workers that decide are shared by every tenant, so what one evaluation reads must not grow with
either. The engine reads a *window*: the last ``MESSAGES`` messages, at most ``CHARS`` characters
in all, and of each message its first and last ``EDGE`` characters (a request for a person, a
topic, the mood sit at the start or the end of a long message far more often than in its middle).
Per-word algorithms (typing mistakes, run-together words) skip words longer than ``WORD`` letters:
no real word is that long, and their cost grows faster than the word. VADER, whose cost grows with
the square of a message's words, reads the first and last ``TONE`` characters of a long message
(the cues Baton adds for support, shouting, "!!!", insults, read the whole window). What the engine left out is
said in a sentence that the decision, the note and the panel carry.

The store keeps with each decision what the engine read (``kept``: the window, within
``KEPT_BYTES`` of JSON, so the console's preview decides again on the same words) and the reasons
as the note bounds them (``handoff.QUOTES`` quotes of ``handoff.QUOTE_CHARS`` per reason,
``REASONS`` reasons): a decision row stays under 100 KB whatever the ticket.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from integration.core.model import Conversation, Decision, Evidence, Finding

MESSAGES = 30  # the last messages the engine reads
CHARS = 24_000  # characters the engine reads in all, newest message first
EDGE = 2_000  # of one message: its first and its last EDGE characters
WORD = 40  # letters: a longer "word" is not looked up for typing mistakes or split into words
TONE = 300  # VADER reads the first and last TONE characters of a message (its cost grows with the words squared)
GAP = "\n…\n"  # stands where the middle of a long message was left out
KEPT_BYTES = 48_000  # the kept conversation's texts, as JSON (non-ASCII escaped: up to 12 bytes a character)
REASONS = 20  # reasons kept with a decision (an admin may have a hundred topics)
FIELDS, FIELD_BYTES, CONTACTS = 50, 400, 20  # custom fields and customer attributes kept, each; recent contacts


@dataclass(frozen=True)
class Window:
    conversation: Conversation  # what the engine reads
    offset: int  # index in the whole conversation of the window's first message
    notes: tuple[str, ...]  # what was left out, in sentences an agent reads


def cut(text: str, edge: int = EDGE) -> str:
    """The first and last ``edge`` characters of ``text``, the middle replaced by GAP."""
    return text if len(text) <= 2 * edge + len(GAP) else text[:edge] + GAP + text[-edge:]


def window(conversation: Conversation) -> Window:
    msgs = conversation.messages
    kept: list = []
    budget, shortened = CHARS, 0
    for m in reversed(msgs[-MESSAGES:]):
        if budget <= 0:
            break
        text = cut(m.text)
        if len(text) > budget:
            text = text[-budget:]  # the oldest message read is read by its end
        if len(text) < len(m.text):
            shortened += 1
            m = replace(m, text=text)
        kept.append(m)
        budget -= len(text)
    kept.reverse()
    offset = len(msgs) - len(kept)
    notes = []
    if offset:
        notes.append(f"Baton read the last {len(kept):,} of {len(msgs):,} messages.")
    if shortened:
        notes.append(f"{shortened} long message{' was' if shortened == 1 else 's were'} read by {'its' if shortened == 1 else 'their'} "
                     f"first and last {EDGE:,} characters.")
    if not offset and not shortened:
        return Window(conversation, 0, ())
    return Window(replace(conversation, messages=tuple(kept)), offset, tuple(notes))


def _size(value: Any) -> int:
    return len(json.dumps(value))


def _field(value: Any) -> Any:
    return value if _size(value) <= FIELD_BYTES else str(value)[:FIELD_BYTES // 12] + "…"


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k)[:100]: _field(v) for k, v in list(values.items())[:FIELDS]}


def kept(conversation: Conversation) -> Conversation:
    """What the store keeps of a conversation decided on: the engine's window, newest messages
    first within KEPT_BYTES (the newest alone cut to fit), and the custom fields, attributes and
    contacts bounded. Message indexes count from the first message kept."""
    msgs = window(conversation).conversation.messages
    out: list = []
    budget = KEPT_BYTES
    for m in reversed(msgs):
        size = _size(m.text)
        if size > budget:
            if not out:  # the newest message alone is too large: keep its end
                out.append(replace(m, text=m.text[-(budget // 12):]))
            break
        out.append(m)
        budget -= size
    customer = conversation.customer
    customer = replace(customer, attributes=_fields(customer.attributes),
                       recent_contacts=customer.recent_contacts[:CONTACTS], tags=customer.tags[:FIELDS])
    return replace(conversation, messages=tuple(reversed(out)), subject=conversation.subject[:FIELD_BYTES],
                   fields=_fields(conversation.fields), tags=conversation.tags[:FIELDS], customer=customer)


def _shift_evidence(evidence: tuple[Evidence, ...], offset: int) -> tuple[Evidence, ...]:
    return tuple(e if e.message_index is None else replace(e, message_index=e.message_index + offset) for e in evidence)


def _noted(decision: Decision, notes: tuple[str, ...]) -> Decision:
    return replace(decision, limits=decision.limits + notes, explanation=" ".join((decision.explanation, *notes)))


def in_whole(decision: Decision, w: Window) -> Decision:
    """A decision made on the window, told in the whole conversation's terms: evidence points at
    the whole conversation's messages, and the explanation says what was not read."""
    if not w.notes:
        return decision
    reasons = tuple(replace(r, evidence=_shift_evidence(r.evidence, w.offset)) for r in decision.reasons)
    findings = tuple(replace(f, evidence=_shift_evidence(f.evidence, w.offset)) for f in decision.findings)
    return _noted(replace(decision, reasons=reasons, findings=findings), w.notes)


class Clock:
    """The caller's ``out_of_time``, made to stay out of time once it was (a decision is made on
    what finished before, never on a signal that ran half-way after)."""

    def __init__(self, out_of_time: Callable[[], bool]):
        self._out_of_time = out_of_time
        self.ran_out = False

    def __call__(self) -> bool:
        self.ran_out = self.ran_out or self._out_of_time()
        return self.ran_out


_SIGNALS = {"explicit_request": "request for a person", "sentiment": "sentiment", "risky_topic": "topics",
            "loop": "loop", "segment": "segment", "repeat_contact": "repeat contacts",
            "bot_confidence": "bot confidence", "language": "language", "model": "learned model"}


def skipped(signal: str, threshold: float) -> Finding:
    """A signal the evaluation had no time left for."""
    return Finding(signal, False, 0.0, threshold, "Not evaluated: the evaluation ran out of its time budget.",
                   details={"skipped": True})


def unfinished(decision: Decision, signals: list[str]) -> Decision:
    """The decision, saying which signals the time budget left out."""
    if not signals:
        return decision
    names = ", ".join(_SIGNALS.get(s, s) for s in signals)
    return _noted(decision, (f"Baton ran out of time for this evaluation and decided without these checks: {names}.",))


def describe() -> str:
    return (f"the last {MESSAGES} messages, {CHARS:,} characters in all, the first and last {EDGE:,} of each "
            f"message; words over {WORD} letters not looked up")
