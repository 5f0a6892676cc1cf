"""What a connector promises the rest of Baton, and the errors it may raise.

A connector is the only code that knows a helpdesk's JSON. It verifies and parses webhooks into
:class:`~integration.core.model.Event` and, through its client, reads a conversation as a
:class:`TicketSnapshot` and applies a :class:`~integration.core.model.Plan`. It never decides
anything. The service depends on these types only; connectors implement them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol

from integration.core.model import Conversation, Event, Installation, Plan, TicketOutcome


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


@dataclass(frozen=True)
class TicketSnapshot:
    """A conversation as read from its helpdesk at one moment: what the engine needs, plus the
    ticket's own fields (tags, priority, ``updated_at`` …) that a later write must respect."""

    conversation: Conversation
    ticket_fields: Mapping[str, Any] = field(default_factory=dict)


class Client(Protocol):
    """Talks to one installation's helpdesk."""

    def load(self, ticket_id: str) -> TicketSnapshot: ...

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


@dataclass(frozen=True)
class CredentialField:
    name: str  # the key in Installation.credentials, and the install command's --flag
    help: str


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


class Connector(Protocol):
    descriptor: Descriptor

    @property
    def key(self) -> str: ...

    def verify(self, headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
        """Raise InvalidSignature unless the raw body is signed for this installation."""
        ...

    def parse(self, body: bytes, installation: Installation) -> Event:
        """The normalized event; raise NotOurs or Ignored."""
        ...

    def client(self, installation: Installation) -> Client: ...

    def install(self, installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        """Create the helpdesk side (webhook, trigger …); returns ``{"settings", "webhook_secret"}``."""
        ...
