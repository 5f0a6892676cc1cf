"""What a connector promises the rest of Baton, and the errors it may raise.

A connector is the only code that knows a helpdesk's JSON. It verifies and parses webhooks into
:class:`~integration.core.model.Event` and, through its client, reads a conversation as a
:class:`TicketSnapshot` and applies a :class:`~integration.core.model.Plan`. It never decides
anything. The service depends on these types only; connectors implement them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol

from integration.core.model import Conversation, Event, Installation, Message, Plan, Role, TicketOutcome


# Webhook errors: the web tier maps each to one HTTP answer.
class WebhookError(Exception):
    status = 400


class InvalidSignature(WebhookError):
    """Missing, malformed, wrong or stale signature: 401, nothing recorded."""

    status = 401


class NotOurs(WebhookError):
    """Not a payload this helpdesk sends: 400."""

    status = 400


class NotJson(NotOurs):
    """The body is not JSON at all: 415."""

    status = 415


class Ignored(WebhookError):
    """A real event we do not act on (or our own echo): 200 so the helpdesk does not retry."""

    status = 200


# API errors. Transient ones are retried; permanent ones go to the dead letters.
class ApiError(Exception):
    transient = False

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ApiHostError(ApiError):
    """5xx or connection refused."""

    transient = True


class CircuitOpen(ApiHostError):
    """Baton's breaker for this installation is open (its helpdesk kept failing): no call was made.
    Waiting ``retry_after`` seconds is not failing, so it never counts as an attempt."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class ApiTimeoutError(ApiError):
    transient = True


class ApiConflict(ApiError):
    """409: the ticket changed under us; re-read and re-apply."""

    transient = True


class ApiRateLimited(ApiError):
    transient = True

    def __init__(self, message: str, retry_after: float):
        super().__init__(message, 429)
        self.retry_after = retry_after


class ApiUnauthorized(ApiError):
    """401/403: the installation's credentials no longer work. The only error that needs the
    installation's admin; every other one concerns one event or one write."""


class ApiNotFound(ApiError):
    """404: that ticket (or record) is gone; that event or write fails, the installation does not."""


class ApiInvalid(ApiError):
    """422 or another 4xx: that request is wrong; retrying will not help."""


class ApiTooLarge(ApiInvalid):
    """413, or a 422 that says a field is too long: a shorter write may still succeed."""


class Guard(Protocol):
    """What an installation's HTTP client asks around every request to its helpdesk: Baton's own
    share of the account's rate limit and a circuit breaker (integration/service/quota.py). The
    HTTP client calls ``before`` then, whatever happens, ``after``."""

    def before(self, method: str, path: str) -> None:
        """May wait briefly; raises ApiRateLimited(retry_after) when Baton's own budget is spent for
        longer, or CircuitOpen when the breaker is open and this call is not the one probe."""
        ...

    def after(self, status: int | None, headers: Mapping[str, str], failed: bool) -> None:
        """The outcome: ``status`` None for a timeout or connection error; ``failed`` when it says
        the helpdesk is unwell (5xx, timeout, no connection), never for a 4xx or a 429."""
        ...


@dataclass(frozen=True)
class TicketSnapshot:
    """A conversation as read from its helpdesk at one moment: what the engine needs, plus the
    ticket's own fields (tags, priority, ``updated_at`` …) that a later write must respect."""

    conversation: Conversation
    ticket_fields: Mapping[str, Any] = field(default_factory=dict)


class Client(Protocol):
    """Talks to one installation's helpdesk."""

    def load(self, ticket_id: str) -> TicketSnapshot: ...

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """The conversation's messages written at or after ``since`` (to the whole second: helpdesks
        stamp whole seconds), oldest first, Baton's own left out: what an event about a conversation
        already handed over needs, usually in one call (the newest page of the comments, the
        conversation's parts or its messages) where :meth:`load` makes four or more. ``customer_id``
        is who counts as the customer where the list alone does not say (the requester Baton read
        at the handoff)."""
        ...

    def apply(self, plan: Plan) -> None: ...

    def roster(self) -> dict[str, Any]:
        """Agents and groups for routing: {"agents": [{id, name, groups, skills, languages, online,
        capacity, load}], "groups": [{id, name}]}."""
        ...

    def applied(self, plan: Plan) -> bool:
        """Whether a plan with this key already landed (after a crash between the call and its record)."""
        ...

    def probe(self) -> None:
        """One cheap authenticated call: raises ApiUnauthorized while the credentials are refused."""
        ...

    def outcome(self, ticket_id: str) -> TicketOutcome:
        """What became of the ticket: assignment, first agent reply, solved, reopens, satisfaction
        (Zendesk ticket metrics + satisfaction_rating; Freshdesk ticket stats + satisfaction
        ratings; Intercom conversation statistics + conversation_rating)."""
        ...

    def changed_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(ticket id, updated_at) of every conversation updated at or after ``since``, oldest
        first, each ticket once: what the reconciliation sweep compares with the events Baton
        received, because helpdesks drop webhooks. Bounded: at most CHANGED_MAX (1,000) per call;
        the next sweep continues from the last one returned (Zendesk's incremental ticket export,
        Freshdesk's ticket list with ``updated_since``, Intercom's conversation search)."""
        ...


CHANGED_MAX = 1000  # conversations one ``changed_since`` returns; the next sweep goes on from there
SINCE_PAGES = 5  # pages one ``messages_since`` reads at most: a longer burst keeps its newest messages


def at_or_after(messages: Iterable[Message], since: datetime) -> list[Message]:
    """``Client.messages_since``'s answer from what a helpdesk listed (any order): those stamped at or
    after ``since`` to the whole second, oldest first, Baton's own (SYSTEM) left out."""
    floor = since.replace(microsecond=0)
    kept = [m for m in messages if m.role is not Role.SYSTEM and m.at is not None and m.at >= floor]
    return sorted(kept, key=lambda m: m.at)  # type: ignore[arg-type, return-value]


def oldest_changes(found: Iterable[tuple[Any, datetime | None]], since: datetime) -> list[tuple[str, datetime]]:
    """``Client.changed_since``'s answer from what a helpdesk listed: each ticket once at its latest
    change, only changes at or after ``since`` (to the whole second: helpdesks stamp whole seconds),
    oldest first, at most CHANGED_MAX. Entries without an id or a readable time are left out."""
    floor = since.replace(microsecond=0)
    latest: dict[str, datetime] = {}
    for ticket, at in found:
        key = "" if ticket is None or isinstance(ticket, bool) else str(ticket)
        if key and at is not None and at >= floor and (key not in latest or at > latest[key]):
            latest[key] = at
    return sorted(latest.items(), key=lambda item: (item[1], item[0]))[:CHANGED_MAX]


@dataclass(frozen=True)
class CredentialField:
    name: str  # the key in Installation.credentials, and the install command's --flag
    help: str
    # False: an identifier the admin types with the credentials that is public (it shows in URLs):
    # kept in Installation.settings, so it is never treated as a secret
    secret: bool = True


@dataclass(frozen=True)
class Descriptor:
    """What a connector is, apart from any one installation of it."""

    key: str  # equals the connector's folder name
    name: str  # how admins know the helpdesk
    credentials: tuple[tuple[CredentialField, ...], ...]  # alternatives: one set must be complete
    modes: tuple[str, ...]  # how its events reach Baton; the first is the default
    note_limit: int = 60_000  # characters a private note may have in that helpdesk (kept well below)
    example_url: str = ""  # what an account's base URL looks like
    next_step: str = ""  # what the admin does in the helpdesk after the install command
    # The hosts an account's base URL may name in production: "api.intercom.io" is that host only,
    # "*.zendesk.com" one DNS label (the account) under zendesk.com. Baton sends the account's
    # credentials there, so a tenant can never point it at another host (integration/service/egress.py).
    domains: tuple[str, ...] = ()
    bot_name: str = "the bot"  # what admins call the helpdesk's own AI agent (Intercom: "Fin")
    # ``Client.changed_since`` can list what changed (the reconciliation sweep); False where the
    # helpdesk's API lists nothing by update time (Freshchat), so lost webhooks stay lost there
    lists_changes: bool = True
    # Added to whichever set is given when present; without them the connector does less, never fails
    # (Zendesk: the Conversations API key that hands bot-held messaging conversations over).
    optional: tuple[CredentialField, ...] = ()

    def serves(self, host: str) -> bool:
        """``host`` is one of the helpdesk's own hosts (see ``domains``)."""
        host = host.lower()
        for domain in self.domains:
            if domain.startswith("*."):
                label, _, rest = host.partition(".")
                if rest == domain[2:] and _DNS_LABEL.fullmatch(label):
                    return True
            elif host == domain:
                return True
        return False


_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # RFC 1123: letters, digits, inner hyphens


@dataclass(frozen=True)
class Batch:
    """One delivery carrying several events (Sunshine Conversations batches its webhooks): each event
    is recorded and queued on its own key, as if it had come alone; ``skipped`` says why each other
    item of the delivery was left out (an event type Baton does not act on, our own echo, an item
    it cannot read)."""

    events: tuple[Event, ...]
    skipped: tuple[str, ...] = ()


class Connector(Protocol):
    descriptor: Descriptor

    @property
    def key(self) -> str: ...

    def verify(self, headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
        """Raise InvalidSignature unless the raw body is signed for this installation."""
        ...

    def parse(self, body: bytes, installation: Installation) -> Event | Batch:
        """The normalized event (or the events of a batched delivery); raise NotOurs or Ignored."""
        ...

    def client(self, installation: Installation, guard: Guard | None = None) -> Client: ...

    def install(self, installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        """Create the helpdesk side (webhook, trigger …); returns ``{"settings", "webhook_secret"}``."""
        ...
