"""Conversations as JSON and back: the conversation a decision was made on is kept with the
decision, so an admin can replay a draft of the rules on what really happened (the console's
preview, ``python -m integration backtest``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from integration.core.model import Contact, Conversation, Customer, Message, Role, State


def _time(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _parse(t: Any) -> datetime | None:
    return datetime.fromisoformat(t) if isinstance(t, str) and t else None


def conversation_to_json(c: Conversation) -> dict[str, Any]:
    cu = c.customer
    return {
        "id": c.id, "subject": c.subject, "channel": c.channel, "brand": c.brand, "group_id": c.group_id,
        "bot_confidence": c.bot_confidence, "tags": list(c.tags), "state": c.state.value,
        "created_at": _time(c.created_at), "as_of": _time(c.as_of), "url": c.url, "fields": _plain(c.fields),
        "messages": [{"role": m.role.value, "text": m.text, "at": _time(m.at), "public": m.public,
                      "author_id": m.author_id} for m in c.messages],
        "customer": {
            "id": cu.id, "name": cu.name, "email": cu.email, "plan": cu.plan, "tier": cu.tier,
            "tenure_days": cu.tenure_days, "language": cu.language, "timezone": cu.timezone,
            "organization": cu.organization, "churn_risk": cu.churn_risk, "tags": list(cu.tags),
            "attributes": _plain(cu.attributes),
            "recent_contacts": [{"id": k.id, "at": _time(k.at), "subject": k.subject, "status": k.status,
                                 "escalated": k.escalated, "agent_id": k.agent_id} for k in cu.recent_contacts],
        },
    }


def conversation_from_json(d: Mapping[str, Any]) -> Conversation:
    cu = d.get("customer") or {}
    customer = Customer(
        id=cu.get("id"), name=cu.get("name"), email=cu.get("email"), plan=cu.get("plan"), tier=cu.get("tier"),
        tenure_days=cu.get("tenure_days"), language=cu.get("language"), timezone=cu.get("timezone"),
        organization=cu.get("organization"), churn_risk=cu.get("churn_risk"), tags=tuple(cu.get("tags") or ()),
        attributes=dict(cu.get("attributes") or {}),
        recent_contacts=tuple(Contact(k["id"], _parse(k.get("at")), k.get("subject", ""), k.get("status", ""),
                                      bool(k.get("escalated")), k.get("agent_id"))
                              for k in cu.get("recent_contacts") or ()))
    return Conversation(
        id=d["id"], subject=d.get("subject", ""), channel=d.get("channel", ""), brand=d.get("brand"),
        group_id=d.get("group_id"), bot_confidence=d.get("bot_confidence"), tags=tuple(d.get("tags") or ()),
        state=State(d.get("state", "bot")), created_at=_parse(d.get("created_at")), as_of=_parse(d.get("as_of")),
        url=d.get("url"), fields=dict(d.get("fields") or {}), customer=customer,
        messages=tuple(Message(Role(m["role"]), m["text"], _parse(m.get("at")), bool(m.get("public", True)),
                               m.get("author_id")) for m in d.get("messages") or ()))


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Custom fields as JSON can hold them (a helpdesk value of another type becomes its text)."""
    return {str(k): v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
            for k, v in values.items()}
