"""What every connector provides, the HTTP client they share, and the errors with meaning.

A connector is the only code that knows a helpdesk's JSON. It verifies and parses webhooks into
:class:`~integration.model.Event` and, through its client, loads a conversation and applies a
:class:`~integration.model.Plan`. It never decides anything.
"""
from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Protocol

import requests

from integration.model import Contact, Conversation, Customer, Event, Installation, Plan, Priority, Role

log = logging.getLogger("baton.connectors")


# Webhook errors: the web layer maps each to one HTTP answer.
class WebhookError(Exception):
    status = 400


class InvalidSignature(WebhookError):
    """Missing, malformed, wrong or stale signature: 401, nothing recorded."""

    status = 401


class NotOurs(WebhookError):
    """Not a payload this helpdesk sends: 400."""

    status = 400


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
    """401/403: the installation's credentials no longer work."""


class ApiNotFound(ApiError):
    pass


class ApiInvalid(ApiError):
    """422 or another 4xx: our request is wrong; retrying will not help."""


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


@dataclass
class HttpClient:
    """One place for base URL, auth, timeouts and the mapping of HTTP failures to errors.

    Redirects are never followed on writes: a tenant-derived URL must not bounce our credentials
    elsewhere.
    """

    base_url: str
    auth: Any = None  # requests auth object or None
    headers: Mapping[str, str] | None = None
    timeout: tuple[float, float] = (5.0, 15.0)  # connect, read
    session: requests.Session | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = self.session or requests.Session()
        self.calls = 0

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        self.calls += 1
        try:
            r = self.session.request(  # type: ignore[union-attr]
                method, url, json=json, params=params, auth=self.auth, headers={**(self.headers or {}), **(headers or {})},
                timeout=self.timeout, allow_redirects=method == "GET",
            )
        except requests.Timeout as e:
            raise ApiTimeoutError(f"{method} {path}: timed out") from e
        except requests.ConnectionError as e:
            raise ApiHostError(f"{method} {path}: cannot connect") from e
        if r.status_code == 429:
            raise ApiRateLimited(f"{method} {path}: rate limited", _retry_after(r.headers.get("Retry-After")))
        if r.status_code >= 500:
            raise ApiHostError(f"{method} {path}: {r.status_code}", r.status_code)
        if r.status_code in (401, 403):
            raise ApiUnauthorized(f"{method} {path}: {r.status_code}", r.status_code)
        if r.status_code == 404:
            raise ApiNotFound(f"{method} {path}: not found", 404)
        if r.status_code == 409:
            raise ApiConflict(f"{method} {path}: conflict", 409)
        if r.status_code >= 400:
            raise ApiInvalid(f"{method} {path}: {r.status_code} {r.text[:200]}", r.status_code)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 60.0
    except ValueError:
        return 60.0  # an HTTP date or garbage: wait a minute rather than hammer


def json_object(body: bytes) -> dict[str, Any]:
    """The webhook body as a JSON object, or NotOurs."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotOurs("body is not JSON") from e
    if not isinstance(data, dict):
        raise NotOurs("body is not a JSON object")
    return data


def required(data: Any, *path: str) -> Any:
    """A required field of a webhook payload: a missing one fails loudly as NotOurs, not as a None
    later."""
    value = data
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) in (None, ""):
            raise NotOurs(f"missing {'.'.join(path)}")
        value = value[key]
    return value


def author_role(author_id: Any, settings: Mapping[str, Any], customer_ids: Iterable[Any], is_customer: bool = False) -> Role:
    """Who wrote a message: Baton's own API user, the installation's bot, the customer, or an agent."""
    author = str(author_id)
    if author == str(settings.get("api_user_id", "")):
        return Role.SYSTEM
    if author in {str(b) for b in settings.get("bot_user_ids", ())}:
        return Role.BOT
    if is_customer or author in {str(c) for c in customer_ids}:
        return Role.CUSTOMER
    return Role.AGENT


def merged_tags(remote: Mapping[str, Any], ours: Iterable[str]) -> list[str]:
    """The helpdesk's tags plus ours: for APIs where sending tags replaces them all."""
    current = list(remote.get("tags") or ())
    return current + [t for t in ours if t not in current]


def raised(remote: Mapping[str, Any], wanted: Priority) -> Priority | None:
    """``wanted`` when it is above the ticket's priority; Baton never lowers one."""
    now = remote.get("priority")
    return wanted if now is None or Priority(now).rank < wanted.rank else None


RECENT_DAYS = 30  # earlier contacts within this window count as recent
SEGMENT_TAGS = ("vip", "enterprise")
_KNOWN_FIELDS = ("plan", "tier", "churn_risk")


def iso_time(value: Any) -> datetime | None:
    """An ISO-8601 string from an API, or None."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def build_customer(*, id: Any, name: str | None, email: str | None, fields: Mapping[str, Any], tags: Iterable[str],
                   created: datetime | None, now: datetime | None, contacts: Iterable[Contact],
                   language: str | None, timezone_name: str | None, organization: str | None,
                   plan: str | None = None, tier: str | None = None) -> Customer:
    """The customer context every connector produces the same way from its vendor's fields:
    plan, tier (a field, else a VIP/enterprise tag), churn risk, tenure, recent contacts."""
    tags = tuple(tags)
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=RECENT_DAYS)
    churn = fields.get("churn_risk")
    return Customer(
        id=str(id), name=name, email=email,
        plan=plan or fields.get("plan"),
        tier=tier or fields.get("tier") or next((t for t in tags if t.lower() in SEGMENT_TAGS), None),
        tenure_days=(now - created).days if created else None,
        language=language, timezone=timezone_name, organization=organization,
        churn_risk=float(churn) if isinstance(churn, (int, float)) else None,
        tags=tags, recent_contacts=tuple(c for c in contacts if (c.at or now) >= since),
        attributes={k: v for k, v in fields.items() if k not in _KNOWN_FIELDS},
    )


@dataclass(frozen=True)
class Loaded:
    """A conversation as the engine needs it, plus the ticket state a write must respect."""

    conversation: Conversation
    remote: Mapping[str, Any]  # e.g. {"tags": [...], "priority": "normal", "updated_at": "..."}
    human_replied: bool  # a human agent already answered in public: Baton stays out


class Client(Protocol):
    """Talks to one installation's helpdesk."""

    http: HttpClient

    def load(self, ticket_id: str) -> Loaded: ...

    def apply(self, plan: Plan) -> None: ...

    def roster(self) -> dict[str, Any]:
        """Agents and groups for routing: {"agents": [{id, name, groups, skills, languages, online,
        capacity, load}], "groups": [{id, name}]}."""
        ...

    def applied(self, plan: Plan) -> bool:
        """Whether a plan with this key already landed (after a crash between the call and its record)."""
        ...


@dataclass(frozen=True)
class VendorConnector:
    """A connector put together from a vendor folder's webhook module, client and installer."""

    key: str
    webhook: Any  # module with verify(headers, body, installation, now) and parse(body, installation)
    client_class: Any  # Client(installation)
    installer: Any  # install(client, endpoint, mode) -> {"settings", "webhook_secret"}

    def verify(self, headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
        self.webhook.verify(headers, body, installation, now)

    def parse(self, body: bytes, installation: Installation) -> Event:
        return self.webhook.parse(body, installation)  # type: ignore[no-any-return]

    def client(self, installation: Installation) -> Any:
        return self.client_class(installation)

    def install(self, installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        return self.installer(self.client(installation), endpoint, mode)  # type: ignore[no-any-return]


class Connector(Protocol):
    key: str

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
