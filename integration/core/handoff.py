"""The context package an agent gets when Baton hands a conversation over, rendered as an internal
note in HTML and plain text.

Every string in the note comes from the customer, the bot, the helpdesk or the rules, so the HTML
rendering escapes all of it: the note must never become a way to put markup on an agent's screen.
"""
from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Sequence

from integration.core.model import (Action, Contact, Conversation, Customer, Decision, Evidence, Message, Priority,
                               Reason, Role, utc)

NOTE_MARKER = "[Baton handoff]"  # lets Baton recognise its own note when a webhook echoes it back

# Every part of the note is bounded: its size must never be in the customer's hands.
HEAD, TAIL = 5, 30  # a long transcript shows the first HEAD and the last TAIL messages
MAX_CHARS = 1500  # per message in the transcript
QUOTES, QUOTE_CHARS = 3, 300  # evidence quoted per reason, and each quote's length
FIELD_CHARS = 200  # each customer field
NEED_CHARS = 200  # the customer's words in the headline
BOT_TRIED = 3  # distinct bot answers shown
CONTACTS = 5
WIDTH = 78
_OMITTED = "… {} omitted …"
_OMITTED_AT = "… {} omitted: the whole conversation is at {} …"

_VERB = {Action.ESCALATE: "Escalated", Action.OFFER_HUMAN: "Offered a human", Action.CONTINUE: "Bot continues"}
_WHY = {Action.ESCALATE: "Why escalated", Action.OFFER_HUMAN: "Why a human was offered",
        Action.CONTINUE: "Signals"}
_WORD = re.compile(r"\w+")
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Turn:
    index: int  # position in the conversation, 0-based; shown 1-based as "#n" like the evidence
    role: Role
    text: str  # already truncated to MAX_CHARS
    at: datetime | None
    private: bool


@dataclass(frozen=True)
class ContextPackage:
    conversation_id: str
    action: Action
    headline: str
    reasons: tuple[Reason, ...]
    intent: str | None
    sentiment: str | None  # "neutral → negative (+0.00 → -0.33)"
    language: str | None
    customer: tuple[tuple[str, str], ...]  # (label, value), known fields only
    contacts: tuple[str, ...]
    bot_tried: tuple[str, ...]
    suggestion: str | None
    route: str | None
    priority: Priority
    category: str | None
    tier: int
    transcript: tuple[Turn, ...]  # a gap in Turn.index means messages were omitted
    total: int  # messages in the conversation, shown or not
    url: str | None = None  # the whole conversation in the helpdesk
    limits: tuple[str, ...] = ()  # what the engine did not read or run (``Decision.limits``)


def build_package(conversation: Conversation, decision: Decision, *, route: str | None = None,
                  suggestion: str | None = None, tail: int = TAIL, quotes: int = QUOTES) -> ContextPackage:
    """The package, bounded: at most ``tail`` last messages (plus the first few) and ``quotes``
    quotes per reason, each part cut to its length."""
    now = utc(conversation.as_of)
    msgs = conversation.messages
    head = min(HEAD, tail)
    keep = range(len(msgs)) if len(msgs) <= head + tail else [*range(head), *range(len(msgs) - tail, len(msgs))]
    newest = sorted(conversation.customer.recent_contacts, key=lambda k: utc(k.at) or _EPOCH, reverse=True)
    return ContextPackage(
        conversation_id=conversation.id,
        action=decision.action,
        headline=_headline(decision, _need(conversation, decision)),
        reasons=tuple(bounded_reason(r, quotes) for r in decision.reasons),
        intent=decision.intent,
        sentiment=_sentiment(decision),
        language=decision.language,
        customer=_customer(conversation.customer),
        contacts=tuple(_contact(k, now) for k in newest[:CONTACTS]),
        bot_tried=_bot_tried(msgs),
        suggestion=(suggestion or "").strip() or None,
        route=(route or "").strip() or None,
        priority=decision.priority,
        category=decision.category,
        tier=decision.tier,
        transcript=tuple(Turn(i, msgs[i].role, _transcript_text(msgs[i].text), msgs[i].at, not msgs[i].public) for i in keep),
        total=len(msgs),
        url=conversation.url,
        limits=decision.limits,
    )


def bounded_reason(reason: Reason, quotes: int = QUOTES) -> Reason:
    """The reason with at most ``quotes`` quotes of QUOTE_CHARS, saying how many more there were."""
    shown = tuple(replace(e, quote=_shorten(e.quote, QUOTE_CHARS)) for e in reason.evidence[:quotes])
    more = len(reason.evidence) - len(shown)
    summary = reason.summary + (f" (and {more} more place{'s' if more > 1 else ''} like these)" if more > 0 else "")
    return Reason(reason.code, summary, shown)


def trajectory(scores: Sequence[float], last: int = 8) -> str | None:
    """VADER compound scores in words plus numbers; only the last few of a long conversation."""
    if not scores:
        return None
    shown = list(scores)[-last:]
    more = "… → " if len(scores) > last else ""
    words = " → ".join(_mood(s) for s in shown)
    return f"{more}{words} ({more}{' → '.join(f'{s:+.2f}' for s in shown)})"


def _sentiment(decision: Decision) -> str | None:
    """The verdict first, then the per-message scores, so the line never seems to contradict the
    reasons ("neutral → positive" under "sounds unhappy": VADER scores words, the verdict also hears
    "I already tried that")."""
    mood = next((f for f in decision.findings if f.signal == "sentiment"), None)
    per_message = trajectory(decision.sentiment)
    if mood is None:
        return per_message
    if mood.fired:
        verdict = f"frustrated (score {mood.score:.2f}, threshold {mood.threshold:.2f})"
    elif any(r.code == "sentiment" for r in decision.reasons):
        verdict = f"unhappy (score {mood.score:.2f}, below the {mood.threshold:.2f} that escalates)"
    else:
        verdict = f"no frustration detected (score {mood.score:.2f})"
    return verdict + (f"; per message: {per_message}" if per_message else "")


def _mood(s: float) -> str:
    # ±0.05 is VADER's own neutral band
    return ("very negative" if s <= -0.6 else "negative" if s <= -0.05 else "neutral" if s < 0.05
            else "positive" if s < 0.6 else "very positive")


def _need(conversation: Conversation, decision: Decision) -> str:
    """What the customer needs, in their own words: the message where the intent was detected,
    else the latest one with some substance (not "human please")."""
    msgs = conversation.messages
    said = [i for i, m in enumerate(msgs) if m.role is Role.CUSTOMER and m.text.strip()]
    topical = [e.message_index for f in decision.findings if f.category and f.category == decision.category
               for e in f.evidence if e.message_index in said]
    substantive = [i for i in said if len(_WORD.findall(msgs[i].text)) >= 4]
    pick = max(topical or substantive or said or [-1])
    return _shorten(msgs[pick].text if pick >= 0 else conversation.subject, NEED_CHARS)


def _headline(decision: Decision, need: str) -> str:
    parts = [f"{_VERB[decision.action]}: {decision.intent}" if decision.intent else _VERB[decision.action]]
    if need:
        parts.append(f"customer says “{need}”")
    why = [_lower(r.summary.strip().rstrip(".")) for r in decision.reasons if r.summary.strip()]
    if len(why) > 2:
        more = len(why) - 2
        why = why[:2] + [f"{more} more reason{'s' if more > 1 else ''} below"]
    if why:
        parts.append("why: " + "; ".join(why))
    elif own := _without(decision.explanation, decision.limits):
        parts.append(_lower(_shorten(own, NEED_CHARS).rstrip(".")))
    return " — ".join(parts) + "."


def _without(explanation: str, limits: Sequence[str]) -> str:
    """The explanation without the sentences on what was not read: the note's *Limits* line says those."""
    for sentence in limits:
        explanation = explanation.replace(sentence, "")
    return " ".join(explanation.split())


def _customer(c: Customer) -> tuple[tuple[str, str], ...]:
    rows = [("Name", c.name), ("Email", c.email), ("Plan", c.plan), ("Tier", c.tier),
            ("Customer for", None if c.tenure_days is None else "less than a day" if c.tenure_days < 1
             else _count(c.tenure_days, "day")),
            ("Organization", c.organization), ("Timezone", c.timezone), ("Language", c.language),
            ("Churn risk", None if c.churn_risk is None else f"{c.churn_risk:.0%}"),
            ("Tags", ", ".join(t for t in c.tags if t.strip()))]
    return tuple((k, _shorten(v, FIELD_CHARS)) for k, v in rows if v and v.strip())


def _contact(k: Contact, now: datetime | None) -> str:
    parts = []
    if k.at is not None:
        days = (now - utc(k.at)).days if now else -1  # type: ignore[operator]
        ago = "today" if days == 0 else f"{days} days ago" if days > 1 else "yesterday" if days == 1 else ""
        parts.append(f"{k.at:%Y-%m-%d}" + (f" ({ago})" if ago else ""))
    parts.append(f"#{k.id} {_shorten(k.subject, 120)}".strip())
    if k.status.strip():
        parts.append(k.status.strip())
    parts.append("escalated" if k.escalated else "not escalated")
    return " · ".join(parts)


def _bot_tried(msgs: Sequence[Message]) -> tuple[str, ...]:
    said: dict[str, int] = {}
    for m in msgs:
        if m.role is Role.BOT and m.text.strip():
            t = _shorten(m.text, 160)
            said[t] = said.pop(t, 0) + 1  # re-inserting keeps the order of when it was last said
    return tuple(t if n == 1 else f"{t} (said {n} times)" for t, n in list(said.items())[-BOT_TRIED:])


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text[:n].rsplit(" ", 1)[0] if " " in text[:n] else text[:n]
    return cut.rstrip(" ,;:") + "…"


def _transcript_text(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS].rsplit(" ", 1)[0] if " " in text[MAX_CHARS // 2:MAX_CHARS] else text[:MAX_CHARS]
    return f"{cut}… (truncated, {len(text)} characters)"


def _lower(s: str) -> str:
    # "The customer…" reads on inside a sentence; "VIP customer…" must keep its capitals
    return s[:1].lower() + s[1:] if s[1:2].islower() else s


def _stamp(at: datetime) -> str:
    zone = at.tzname() if at.tzinfo is not None else None
    return f"{at:%Y-%m-%d %H:%M}" + (f" {zone}" if zone else "")


def _evidence(e: Evidence) -> str:
    bits = [] if e.message_index is None else [f"message #{e.message_index + 1}"]
    bits.append(f"score {e.score:.2f}" + ("" if e.threshold is None else f" vs threshold {e.threshold:.2f}"))
    if e.note.strip():
        bits.append(e.note.strip())
    return ", ".join(bits)


def _facts(p: ContextPackage) -> list[tuple[str, str]]:
    triage = f"{p.priority.value} · tier {p.tier}" + (f" · {p.category.replace('_', ' ')}" if p.category else "")
    rows = [("Intent", p.intent), ("Priority", triage), ("Sentiment", p.sentiment), ("Language", p.language),
            ("Limits", " ".join(p.limits))]
    return [(k, v) for k, v in rows if v]


def _label(t: Turn) -> str:
    return t.role.value.capitalize() + (" (private)" if t.private else "")


def waiting_note(new: Sequence[Message], decision: Decision, bot_replies: int, ref: str) -> tuple[str, str]:
    """The note for what a customer wrote while waiting for a person: HTML and text."""
    head = f"{NOTE_MARKER} The customer wrote again while waiting for a person ({_count(len(new), 'new message')})."
    lines = [f"“{_transcript_text(m.text)}”" + (f" [{_stamp(m.at)}]" if m.at else "") for m in new[-TAIL:]]
    mood = _sentiment(decision)
    bot = (f"The bot answered {_count(bot_replies, 'time')} since the handoff: tell it to stop on conversations "
           f"Baton handed over." if bot_replies else "")
    text = "\n".join([head, *lines, *([f"Sentiment: {mood}"] if mood else []), *([bot] if bot else []), "", ref]) + "\n"
    html_out = (f"<p><b>{_e(head)}</b></p>" + "".join(f"<blockquote>{_e(line)}</blockquote>" for line in lines)
                + (f"<p><b>Sentiment:</b> {_e(mood)}</p>" if mood else "") + (f"<p>{_e(bot)}</p>" if bot else "")
                + f"<p><i>{_e(ref)}</i></p>")
    return _visible(html_out), _visible(text)


def _omitted(p: ContextPackage, gap: int) -> str:
    what = _count(gap, "earlier message")
    return _OMITTED_AT.format(what, p.url) if p.url else _OMITTED.format(what)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _gaps(p: ContextPackage) -> list[tuple[int, Turn]]:
    """Each turn with how many messages were omitted just before it."""
    return [(t.index - (p.transcript[i - 1].index if i else -1) - 1, t) for i, t in enumerate(p.transcript)]


def render_text(p: ContextPackage) -> str:
    out = [_wrap(f"{NOTE_MARKER} {p.headline}")]

    def section(title: str, items: Sequence[str]) -> None:
        if items:
            out.extend(["", f"{title}:", *items])

    reasons = []
    for r in p.reasons:
        reasons.append(_wrap(r.summary, "- ", "  "))
        reasons += [_wrap(f"“{e.quote}” ({_evidence(e)})", "    ", "    ") for e in r.evidence]
    section(_WHY[p.action], reasons)
    out += ["", *(_wrap(f"{k}: {v}", "", "  ") for k, v in _facts(p))]
    who = [_wrap(f"{k}: {v}", "- ", "  ") for k, v in p.customer]
    if p.contacts:
        who += ["- Recent contacts:", *(_wrap(c, "    - ", "      ") for c in p.contacts)]
    section("Customer", who)
    section("What the bot already tried", [_wrap(t, "- ", "  ") for t in p.bot_tried])
    section("Suggested resolution", [_wrap(p.suggestion)] if p.suggestion else [])
    section("Route", [_wrap(p.route)] if p.route else [])
    lines = []
    for gap, t in _gaps(p):
        if gap:
            lines.append(_omitted(p, gap))
        stamp = f" [{_stamp(t.at)}]" if t.at else ""
        lines += [f"#{t.index + 1}{stamp} {_label(t)}:", _wrap(t.text, "    ", "    ")]
    section(f"Transcript ({_count(p.total, 'message')})", lines)
    return _visible("\n".join(out) + "\n")


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    """Wrap each line of ``text``; URLs and long words stay whole so they still work when copied."""
    lines = text.splitlines() or [""]
    return "\n".join(textwrap.fill(line, WIDTH, initial_indent=first if i == 0 else rest, subsequent_indent=rest,
                                   break_long_words=False, break_on_hyphens=False) or rest.rstrip()
                     for i, line in enumerate(lines))


def _e(s: str) -> str:
    return html.escape(s, quote=True).replace("\r\n", "\n").replace("\n", "<br>")


def _items(xs: Sequence[str]) -> str:
    return "".join(f"<li>{_e(x)}</li>" for x in xs)


def render_html(p: ContextPackage) -> str:
    out = [f"<p><b>{_e(NOTE_MARKER)}</b> {_e(p.headline)}</p>"]
    if p.reasons:
        items = []
        for r in p.reasons:
            ev = "".join(f"<li><i>“{_e(e.quote)}”</i> ({_e(_evidence(e))})</li>" for e in r.evidence)
            items.append(f"<li>{_e(r.summary)}" + (f"<ul>{ev}</ul>" if ev else "") + "</li>")
        out.append(f"<h3>{_e(_WHY[p.action])}</h3><ul>{''.join(items)}</ul>")
    out.append("<p>" + "<br>".join(f"<b>{_e(k)}:</b> {_e(v)}" for k, v in _facts(p)) + "</p>")
    who = [f"<li><b>{_e(k)}:</b> {_e(v)}</li>" for k, v in p.customer]
    if p.contacts:
        who.append(f"<li><b>Recent contacts:</b><ul>{_items(p.contacts)}</ul></li>")
    if who:
        out.append(f"<h3>Customer</h3><ul>{''.join(who)}</ul>")
    if p.bot_tried:
        out.append("<h3>What the bot already tried</h3><ul>" + _items(p.bot_tried) + "</ul>")
    if p.suggestion:
        out.append(f"<h3>Suggested resolution</h3><p>{_e(p.suggestion)}</p>")
    if p.route:
        out.append(f"<h3>Route</h3><p>{_e(p.route)}</p>")
    if p.transcript:
        out.append(f"<h3>Transcript ({_count(p.total, 'message')})</h3>")
    for gap, t in _gaps(p):
        if gap:
            out.append(f"<p><i>{_e(_omitted(p, gap))}</i></p>")
        stamp = f" <i>{_e(_stamp(t.at))}</i>" if t.at else ""
        out.append(f"<p><b>#{t.index + 1} {_e(_label(t))}</b>{stamp}<br>{_e(t.text)}</p>")
    return _visible("\n".join(out) + "\n")


# Bidirectional controls let a customer's text reorder what the agent sees around it ("Trojan
# Source"); the note shows them as visible marks instead.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(note: str) -> str:
    return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", note)
