"""What one look at a conversation tells about its outcome: the outcome columns a read, a
decision or the helpdesk's own figures give, and how they settle with what Baton already knew.
Pure functions; the pipeline and the housekeeping sweeps record what they return."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from integration.core.engine.policy import topic_of
from integration.core.model import BOT_VERDICTS, RESOLUTION_TYPES, Action, Conversation, Decision, Role, TicketOutcome
from integration.core.suggest import customer_words

ANSWER_CHARS = 600  # the gist of the resolving answer


def observed(conversation: Conversation, decision: Decision | None = None,
             now: datetime | None = None) -> dict[str, object]:
    """The outcome columns one look at a conversation gives: its channel, whether a bot took part
    (never unset once seen), the customer's words; with a decision, its topic (``category``, for every
    decision: :func:`~integration.core.engine.policy.topic_of`) and reasons, and the handoff (never
    unset either)."""
    seen: dict[str, object] = {"channel": conversation.channel or None,
                               "query_text": customer_words(conversation) or None}
    if any(m.role is Role.BOT for m in conversation.messages):
        seen["bot_involved"] = True
    if decision is not None:
        # the conversation's topic, handed over or not (a handoff's category may be a signal, which
        # ``reasons`` holds): a category's handoff rate is its handed-over conversations among all of them
        seen.update(category=topic_of(decision), reasons=sorted({r.code for r in decision.reasons}))
        if decision.action is Action.ESCALATE:
            seen.update(escalated=True, escalated_at=now)
    return {k: v for k, v in seen.items() if v is not None}


def first_reply_after(conversation: Conversation, handed: datetime) -> datetime | None:
    """When a person first answered the customer publicly after the handoff, from the transcript."""
    return next((m.at for m in conversation.messages
                 if m.role is Role.AGENT and m.public and m.at is not None and m.at >= _whole(handed)), None)


def _whole(t: datetime) -> datetime:
    """The helpdesks tell times in whole seconds: a reply in the second of the handoff is after it."""
    return t.replace(microsecond=0)


def answer_gist(conversation: Conversation) -> str | None:
    """The last public reply of a person: how the conversation was resolved, shortened."""
    reply = next((m.text for m in reversed(conversation.messages) if m.role is Role.AGENT and m.public), "")
    text = " ".join(reply.split())
    return (text[:ANSWER_CHARS - 1] + "…" if len(text) > ANSWER_CHARS else text) or None


VERDICT_TAG, RESOLUTION_TAG = "baton_verdict_", "baton_res_"


def outcome_values(o: TicketOutcome, resolution_types: object = None) -> dict[str, object]:
    """A helpdesk's outcome as outcome columns; a ``baton_verdict_*`` / ``baton_res_*`` tag (set by
    an agent's macro) gives the verdict and the resolution type (matched to the installation's
    list by its slug); what the helpdesk's AI agent said of it (Fin) gives bot involvement and the
    bot's own verdict."""
    values: dict[str, object] = {"assigned_at": o.assigned_at, "assignee_id": o.assignee_id,
                                 "first_agent_reply_at": o.first_agent_reply_at, "solved_at": o.solved_at,
                                 "reopens": o.reopens, "csat": o.csat, "csat_at": o.csat_at}
    if o.bot_participated:  # the helpdesk says its AI agent took part: never unset (see ``observed``)
        values["bot_involved"] = True
    if o.bot_verdict in BOT_VERDICTS:
        values["bot_verdict"] = o.bot_verdict
    types = list(resolution_types or RESOLUTION_TYPES)  # type: ignore[call-overload]
    for tag in o.tags:
        if tag.startswith(VERDICT_TAG) and tag[len(VERDICT_TAG):] in ("right", "not_needed", "too_late"):
            values["verdict"] = tag[len(VERDICT_TAG):]
        elif tag.startswith(RESOLUTION_TAG):
            slug = tag[len(RESOLUTION_TAG):]
            values["resolution"] = next((t for t in types if _slug(t) == slug), slug[:64])
    return {k: v for k, v in values.items() if v is not None}


def settled(seen: dict[str, object], before: Mapping[str, Any] | None, now: datetime) -> dict[str, object]:
    """What a helpdesk read adds to what Baton already knows of the outcome. The helpdesks leave
    some times out: Freshdesk tells who has the ticket but not since when, Zendesk's rating has no
    time. Those become the time Baton first saw them (kept while they do not change). A first agent
    reply from before the handoff is the bot's own post (bots post as agent users) or an answer
    before Baton handed over: the first reply after the handoff is Baton's own sighting instead."""
    before = before or {}
    if seen.get("assignee_id") and "assigned_at" not in seen:
        same = before.get("assignee_id") == seen["assignee_id"] and before.get("assigned_at")
        seen["assigned_at"] = same or now
    if seen.get("csat") is not None and "csat_at" not in seen:
        seen["csat_at"] = (before.get("csat") == seen["csat"] and before.get("csat_at")) or now
    handed = before.get("escalated_at")
    if handed is not None and seen.get("first_agent_reply_at") is not None and seen["first_agent_reply_at"] < _whole(handed):
        del seen["first_agent_reply_at"]
    return seen


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
