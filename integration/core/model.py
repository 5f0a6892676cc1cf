"""The normalized types every connector produces and the engine consumes.

Nothing here knows a helpdesk. All types are immutable; build new ones with
``dataclasses.replace``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterator, Mapping


# Channels as Baton names them in every helpdesk (a connector maps its own names onto these).
CHANNELS = ("messaging", "chat", "email", "web", "phone", "social", "api", "other")


class Role(str, Enum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Action(str, Enum):
    """What the engine advises for the conversation right now."""

    ESCALATE = "escalate"  # hand over to a human now
    OFFER_HUMAN = "offer_human"  # let the customer choose: keep going with the bot or a person
    CONTINUE = "continue"  # the bot keeps the conversation


class State(str, Enum):
    BOT = "bot"
    ESCALATED = "escalated"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Message:
    role: Role
    text: str
    at: datetime | None = None
    public: bool = True
    author_id: str | None = None


@dataclass(frozen=True)
class Contact:
    """A previous conversation or ticket of the same customer."""

    id: str
    at: datetime | None = None
    subject: str = ""
    status: str = ""
    escalated: bool = False
    agent_id: str | None = None  # who handled it: continuity routing prefers them


@dataclass(frozen=True)
class Customer:
    id: str | None = None
    name: str | None = None
    email: str | None = None
    plan: str | None = None
    tier: str | None = None  # e.g. "vip", "enterprise", "standard"
    tenure_days: int | None = None
    language: str | None = None
    timezone: str | None = None
    organization: str | None = None
    churn_risk: float | None = None  # 0..1 when the helpdesk or CRM knows it
    tags: tuple[str, ...] = ()
    recent_contacts: tuple[Contact, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    id: str
    messages: tuple[Message, ...]
    customer: Customer = field(default_factory=Customer)
    subject: str = ""
    channel: str = ""  # how the customer reached the helpdesk: "messaging", "chat", "email", "web", "api" …
    brand: str | None = None  # the brand (Zendesk), product (Freshdesk) the conversation belongs to
    group_id: str | None = None  # the group or team it sits in before Baton routes it
    bot_confidence: float | None = None  # the bot's own confidence in its last answer, 0..1
    tags: tuple[str, ...] = ()
    state: State = State.BOT
    created_at: datetime | None = None
    as_of: datetime | None = None  # when it was read: the engine's and the note's "now" (the core reads no clock)
    url: str | None = None  # where an agent opens it in the helpdesk
    fields: Mapping[str, Any] = field(default_factory=dict)  # the ticket's custom fields / attributes, by id or name

    @property
    def human_replied(self) -> bool:
        """A human agent already answered the customer in public: the conversation is theirs."""
        return any(m.role is Role.AGENT and m.public for m in self.messages)

    def customer_messages_newest_first(self) -> Iterator[tuple[int, Message]]:
        """(index, message) of the customer's messages, the latest first."""
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i].role is Role.CUSTOMER:
                yield i, self.messages[i]

    def last_customer_index(self) -> int | None:
        return next((i for i, _ in self.customer_messages_newest_first()), None)


@dataclass(frozen=True)
class Evidence:
    """Where a signal saw something: which message, the quoted words, how strong."""

    message_index: int | None
    quote: str
    score: float
    threshold: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """One signal's verdict, with the evidence an agent can check."""

    signal: str  # e.g. "explicit_request", "risky_topic"
    fired: bool
    score: float
    threshold: float
    summary: str  # one sentence an agent understands
    evidence: tuple[Evidence, ...] = ()
    category: str | None = None  # a topic such as "billing_dispute" when the signal knows one
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    code: str  # the signal that caused it
    summary: str
    evidence: tuple[Evidence, ...] = ()


class Priority(str, Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


@dataclass(frozen=True)
class Decision:
    conversation_id: str
    action: Action
    reasons: tuple[Reason, ...]
    priority: Priority
    category: str | None
    tier: int  # 1 first line, 2 specialists, 3 engineering / account management
    intent: str | None
    language: str | None
    sentiment: tuple[float, ...]  # compound score per customer message, oldest first
    findings: tuple[Finding, ...]
    explanation: str  # why this action, in one or two sentences, also for CONTINUE
    limits: tuple[str, ...] = ()  # what the engine did not read or run, in sentences (``core.limits``)

    @property
    def escalate(self) -> bool:
        return self.action is Action.ESCALATE

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return tuple(e for r in self.reasons for e in r.evidence)


# Write-back actions, planned by the pipeline and applied by a connector.


@dataclass(frozen=True)
class AddNote:
    html: str
    text: str
    brief: AddNote | None = None  # a shorter note for a helpdesk that refuses this one as too large


@dataclass(frozen=True)
class AddTags:
    tags: tuple[str, ...]


@dataclass(frozen=True)
class SetPriority:
    priority: Priority


@dataclass(frozen=True)
class Assign:
    group_id: str | None = None
    agent_id: str | None = None
    why: str = ""


@dataclass(frozen=True)
class ReplyToCustomer:
    text: str


WriteBack = AddNote | AddTags | SetPriority | Assign | ReplyToCustomer


@dataclass(frozen=True)
class Event:
    """A helpdesk webhook, normalized: enough to find the conversation and to deduplicate."""

    provider: str
    installation_id: str
    key: str  # deduplication key: the helpdesk's event id, or one the body template carries
    kind: str  # "comment_added", "ticket_created", …
    ticket_id: str
    actor_id: str | None = None
    occurred_at: datetime | None = None
    # The ticket's update stamp after the change the event tells of, in the helpdesk's own clock
    # (Freshdesk's ``updated_at``), when the event carries it. Stamps of one ticket only grow, one
    # change at least a second after the last (the automation's dedup key rests on it too): an
    # event whose stamp Baton's last read of the ticket already saw brings nothing new.
    changed_at: datetime | None = None


# How agents say a handed-over conversation was resolved, unless the installation's admin listed others.
RESOLUTION_TYPES = ("how-to answered", "bug or incident", "billing adjustment", "refund issued", "account change",
                    "policy exception", "no action needed")


@dataclass(frozen=True)
class TicketOutcome:
    """What became of a conversation after the bot, as its helpdesk tells it (ticket metrics,
    statistics, satisfaction ratings). Times are UTC; ``None``: not (yet) happened or not known."""

    assigned_at: datetime | None = None  # last assignment to a person
    assignee_id: str | None = None
    first_agent_reply_at: datetime | None = None  # first public reply of a human agent
    solved_at: datetime | None = None  # solved / resolved / closed, the latest time
    reopens: int = 0
    csat: float | None = None  # satisfaction, 0 (bad) … 1 (good); a 1–5 rating maps to (n − 1) / 4
    csat_at: datetime | None = None
    csat_comment: str | None = None  # the customer's remark with the rating
    tags: tuple[str, ...] = ()  # the ticket's tags now (``baton_verdict_*``, ``baton_res_*`` from macros)
    status: str = ""  # the helpdesk's own word: open, pending, solved, closed …
    # What the helpdesk's own AI agent says of it (Intercom's Fin; other helpdesks tell nothing: None).
    bot_participated: bool | None = None  # the AI agent took part (told, not guessed from the transcript)
    bot_verdict: str | None = None  # one of BOT_VERDICTS: the AI agent's own verdict, beside Baton's decision


# An AI agent's own verdict on a conversation, in Baton's words (a connector maps its vendor's onto these).
BOT_VERDICTS = ("resolved_confirmed",  # it resolved it and the customer confirmed
                "resolved_assumed",  # it answered and the customer left without asking for more
                "escalated",  # it handed the conversation to the team
                "procedure_handoff",  # a procedure (a scripted flow) it ran handed over
                "negative_feedback",  # the customer said its answer did not help
                "abandoned")  # the customer left without an answer


@dataclass(frozen=True)
class Installation:
    """One helpdesk account that installed Baton, with its decrypted credentials."""

    id: str
    provider: str
    base_url: str
    credentials: Mapping[str, str] = field(repr=False)  # never printed, never logged
    webhook_secret: str = field(repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)  # api_user_id, bot_user_ids, groups …
    rules: Mapping[str, Any] = field(default_factory=dict)  # raw rules JSON, validated on use
    status: str = "active"
    rules_version: int | None = None  # the console version the rules are (None: as installed)


@dataclass(frozen=True)
class Plan:
    """The write-backs for one decision, applied once under ``key``."""

    key: str
    ticket_id: str
    actions: tuple[WriteBack, ...]
    ticket_fields: Mapping[str, Any] = field(default_factory=dict)  # the ticket's fields as read before planning
    handoff: bool = False  # it hands the conversation over (the bot must stop): not an offer or a follow-up


def utc(t: datetime | None) -> datetime | None:
    """Helpdesks' naive timestamps are UTC; comparing naive with aware ones would raise."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t
