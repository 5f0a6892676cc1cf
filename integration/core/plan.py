"""Step 7: what to write back for a decision, as a :class:`~integration.core.model.Plan` a
connector applies once under its key. Pure: the key's parts and the route come in."""
from __future__ import annotations

import html as _html
import re
from dataclasses import replace
from datetime import datetime
from typing import Sequence

from integration.core import routing
from integration.core.contract import TicketSnapshot
from integration.core.handoff import QUOTES, TAIL, build_package, render_html, render_text, waiting_note
from integration.core.model import (AddNote, AddTags, Assign, Conversation, Decision, Message, Plan, Priority, ReplyToCustomer,
                                    Role, SetPriority, WriteBack)
from integration.core.rules import Rules

ESCALATED_TAG = "baton_escalated"  # on every escalated ticket; connectors read it back as "escalated before"
NOTE_LIMIT = 60_000  # characters: below Zendesk's ~65,000 per comment; a connector's descriptor may say less


def handoff(snapshot: TicketSnapshot, decision: Decision, route: routing.Route, rules: Rules, key: str,
            note_limit: int = NOTE_LIMIT, suggestion: str | None = None) -> Plan:
    """The note (with the suggested resolution, when similar solved cases were found), tags,
    priority, assignment and (when the admin wants it) the customer notice. The note stays under
    ``note_limit`` characters, the helpdesk's own limit."""
    actions: list[WriteBack] = [
        note(snapshot, decision, route, key, note_limit, suggestion),
        # two tags: every tag is one more call on Intercom; the tier is in the note
        AddTags((ESCALATED_TAG, tag(f"baton_{decision.category or 'other'}"))),
        SetPriority(decision.priority),
    ]
    if route.group_id or route.agent_id:
        actions.append(Assign(route.group_id, route.agent_id, route.explanation))
    if rules.routing.notify_customer and route.customer_message:
        actions.append(ReplyToCustomer(route.customer_message))
    return Plan(key, snapshot.conversation.id, tuple(actions), snapshot.ticket_fields, handoff=True)


def offer(snapshot: TicketSnapshot, decision: Decision, route: routing.Route, rules: Rules,
          installation_id: str) -> Plan | None:
    """Ask the customer whether they want a person, once per conversation (the key never changes
    however often the customer hesitates); None when the admin keeps Baton quiet."""
    if not rules.routing.notify_customer:
        return None
    text = routing.message(rules.routing, "offer", decision.language, decision.category, team=route.told)
    ticket = snapshot.conversation.id
    return Plan(f"baton-{installation_id}-{ticket}-offer", ticket, (ReplyToCustomer(text),), snapshot.ticket_fields)


def handoff_key(installation_id: str, ticket_id: str, earlier_plans: int) -> str:
    """The same for two workers racing on one ticket; a later escalation of a reopened ticket gets the next."""
    return f"baton-{installation_id}-{ticket_id}-{earlier_plans + 1}"


def note(snapshot: TicketSnapshot, decision: Decision, route: routing.Route, key: str, limit: int,
         suggestion: str | None = None) -> AddNote:
    """The longest note under ``limit`` (fewer transcript messages first), and a brief one."""
    ref = f"Baton ref {key}"  # what a retry after a crash looks for in the ticket

    def rendered(tail: int, quotes: int) -> AddNote:
        package = build_package(snapshot.conversation, decision, route=route_text(route), tail=tail, quotes=quotes,
                                suggestion=suggestion)
        return AddNote(render_html(package) + f"<p><i>{ref}</i></p>", render_text(package) + f"\n\n{ref}\n")

    brief = rendered(3, 1)
    for tail in (TAIL, 10):
        full = rendered(tail, QUOTES)
        if max(len(full.html), len(full.text)) <= limit:
            return replace(full, brief=brief)
    return brief


def while_waiting(snapshot: TicketSnapshot, decision: Decision, new: list[Message], after: int,
                  key: str) -> Plan:
    """A short note with what the customer wrote after the handoff (``new``; the handoff came
    before message index ``after``), and the priority raised when they sound angrier now (a
    connector never lowers a priority)."""
    bot_since = sum(1 for m in snapshot.conversation.messages[after:] if m.role is Role.BOT)
    html, text = waiting_note(new, decision, bot_since, f"Baton ref {key}")
    return Plan(key, snapshot.conversation.id, (AddNote(html, text), SetPriority(decision.priority)),
                snapshot.ticket_fields)


def caught_up(stored: Conversation, fresh: Sequence[Message], since: datetime) -> Conversation:
    """The conversation as Baton stored it at the handoff, followed by what was written after it:
    ``fresh`` are the helpdesk's messages at or after ``since`` (the stored ones' last stamp), which
    repeat the stored messages of that second (same author kind, same second, the same words; the
    store may have kept only the end of a long one). The messages after the handoff start at
    ``len(stored.messages)``."""
    floor = since.replace(microsecond=0)
    last = [m for m in stored.messages if m.at is not None and m.at >= floor]
    new: list[Message] = []
    for m in fresh:
        seen = next((s for s in last if s.role is m.role and s.at is not None and m.at is not None
                     and s.at.replace(microsecond=0) == m.at.replace(microsecond=0) and m.text.endswith(s.text)), None)
        if seen is None:
            new.append(m)
        else:
            last.remove(seen)  # each stored message repeats once
    return replace(stored, messages=stored.messages + tuple(new))


def sla_reroute(snapshot: TicketSnapshot, route: routing.Route, priority: Priority, minutes: int, key: str) -> Plan:
    """Nobody answered within the handoff SLA: the next qualified agent, one priority step up, and
    a note saying why (once per conversation: the key says so)."""
    where = route.explanation or "the group's queue"
    text = (f"[Baton] Nobody replied within {minutes} minutes of the handoff (business hours): re-routed — {where}; "
            f"priority raised to {priority.value}. Baton ref {key}")
    html = f"<p><b>[Baton]</b> {_escape(text.removeprefix('[Baton] '))}</p>"
    actions: list[WriteBack] = [AddNote(html, text), SetPriority(priority)]
    if route.group_id or route.agent_id:
        actions.append(Assign(route.group_id, route.agent_id, route.explanation))
    return Plan(key, snapshot.conversation.id, tuple(actions), snapshot.ticket_fields)


def raised(priority: Priority) -> Priority:
    """One step up, urgent stays urgent."""
    order = sorted(Priority, key=lambda p: p.rank)
    return order[min(priority.rank + 1, len(order) - 1)]


def _escape(text: str) -> str:
    return _html.escape(text, quote=False)


def route_text(route: routing.Route) -> str:
    """What the agent reads under "Route": where it went, why, and who was passed over."""
    lines = [route.explanation]
    if route.wait_minutes is not None:
        lines.append(f"expected first reply in about {round(route.wait_minutes)} min")
    passed = [f"{c.name or 'an agent'}: {c.why}" for c in route.candidates if not c.chosen][:5]
    if passed:
        lines.append("passed over — " + "; ".join(passed))
    return " · ".join(lines)


def tag(text: str) -> str:
    """A tag every helpdesk accepts: lower case, letters, digits and underscores, 80 at most."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower())[:80]
