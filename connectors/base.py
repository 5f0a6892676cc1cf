"""What the connectors share: the HTTP client, the webhook field helpers, who wrote what, and the
assembly of a connector from a vendor folder. The contract they implement is
:mod:`integration.core.contract`."""
from __future__ import annotations

import hmac
import html
import ipaddress
import json
import logging
import math
import re
import threading
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import quote, urlsplit
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from integration.core.contract import (ApiConflict, ApiHostError, ApiInvalid, ApiNotFound, ApiRateLimited,
                                       ApiTimeoutError, ApiTooLarge, ApiUnauthorized, Batch, Descriptor, Guard, NotJson,
                                       NotOurs)
from integration.core.model import Contact, Customer, Event, Installation, Priority, Role

log = logging.getLogger("baton.connectors")



def sid(value: Any) -> str | None:
    """An id as Baton's model holds it: a string, or None."""
    return None if value is None else str(value)

def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


@dataclass
class HttpClient:
    """One place for base URL, auth, timeouts and the mapping of HTTP failures to errors.

    Redirects are never followed on writes: a tenant-derived URL must not bounce our credentials
    elsewhere. Every connection the pooled session opens is checked where it landed before a byte
    is sent (``CheckedAdapter``): one refused raises AddressRefused. A ``guard`` (the installation's
    rate budget and circuit breaker) is asked before every request and told every outcome,
    including timeouts and refused connections.
    """

    base_url: str
    auth: Any = None  # requests auth object or None
    headers: Mapping[str, str] | None = None
    # connect, read. A read answers in well under a second on a healthy helpdesk; a write carrying
    # a long note can take seconds. A helpdesk that hangs holds a worker for the whole timeout, so
    # reads give up sooner (bench/load.py --chaos blackhole).
    timeout: tuple[float, float] = (5.0, 15.0)
    read_timeout: tuple[float, float] = (3.05, 5.0)
    session: requests.Session | None = None
    guard: Guard | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = self.session or pooled_session(self.base_url)
        self.calls = 0

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> Any:
        return self.exchange(method, path, json, params, headers)[0]

    def pages(self, path: str, params: Mapping[str, Any] | None, next_page: Any) -> Iterator[Any]:
        """Each page of a list, following ``next_page(body, headers)`` (a URL or path, or None)
        for at most MAX_PAGES pages; a next page on another host is refused."""
        for _ in range(MAX_PAGES):
            body, headers = self.exchange("GET", path, params=params)
            yield body
            following = next_page(body, headers)
            if not following:
                return
            path, params = self._same_origin(str(following)), None
        log.warning("http.pages-cut", extra={"path": path, "pages": MAX_PAGES})

    def _same_origin(self, url: str) -> str:
        if url.startswith("/"):
            return url
        if not url.startswith(self.base_url + "/"):
            raise ApiInvalid("a next-page link points to another host")
        return url[len(self.base_url):]

    def exchange(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> tuple[Any, Mapping[str, str]]:
        """The decoded body and the response headers."""
        url = f"{self.base_url}{path}"
        if self.guard is not None:
            self.guard.before(method, path)  # may wait, or refuse without a call
        self.calls += 1
        status: int | None = None
        answer: Mapping[str, str] = {}
        try:
            r = self.session.request(  # type: ignore[union-attr]
                method, url, json=json, params=params, auth=self.auth, headers={**(self.headers or {}), **(headers or {})},
                timeout=self.read_timeout if method == "GET" else self.timeout, allow_redirects=method == "GET",
            )
            status, answer = r.status_code, r.headers
        except requests.Timeout as e:
            raise ApiTimeoutError(f"{method} {path}: timed out") from e
        except requests.ConnectionError as e:
            if why := _refused(e):
                raise AddressRefused(f"{method} {path}: {why}") from e
            raise ApiHostError(f"{method} {path}: cannot connect") from e
        finally:  # every outcome; the helpdesk is unwell on a 5xx or no answer, never on a 4xx or a 429
            if self.guard is not None:
                self.guard.after(status, answer, status is None or status >= 500)
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
        if r.status_code == 413 or (r.status_code == 422 and _TOO_LONG.search(r.text[:2000])):
            raise ApiTooLarge(f"{method} {path}: {r.status_code} too large", r.status_code)
        if r.status_code >= 400:
            raise ApiInvalid(f"{method} {path}: {r.status_code} {r.text[:200]}", r.status_code)
        if r.status_code == 204 or not r.content:
            return None, r.headers
        return r.json(), r.headers


_SESSIONS: dict[str, requests.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def pooled_session(url: str) -> requests.Session:
    """One keep-alive session per host (scheme, host and port of ``url``) and process: a fresh TCP
    and TLS handshake for every event would cost more than the decision, and a tenant's URL with a
    path (the handoff webhook) shares its host's connections instead of adding a session per URL.
    It keeps no cookies: credentials travel with each request, and a cookie one tenant's account
    set must never reach another's (all Intercom workspaces share one host). The environment's
    proxy and CA settings are read once, when the session is made: requests would otherwise read
    every environment variable on every call (a fifth of the worker's CPU, bench/pipeline.py
    --worker --profile)."""
    origin = _origin(url)
    session = _SESSIONS.get(origin)
    if session is not None:
        return session
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(origin)
        if session is None:
            session = requests.Session()
            # proxies (NO_PROXY honoured) and the CA bundle as requests reads them from the
            # environment, once; credentials never come from ~/.netrc
            found = session.merge_environment_settings(origin, {}, None, None, None)
            session.proxies.update(found["proxies"])
            session.verify = found["verify"] if found["verify"] is not None else True
            session.trust_env = False
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            session.mount("https://", CheckedAdapter())  # each connection's address checked (S12)
            session.mount("http://", CheckedAdapter())
            _SESSIONS[origin] = session
        return session


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower().rpartition('@')[2]}"


# Where Baton may connect is checked on the address each connection actually reached, not only when
# a base URL enters Baton: a DNS answer can change in between (rebinding, a TTL of 0). What is
# refused is the service's decision (integration/service/egress.py installs it with
# check_connections); before that, and in a process that never installs one, link-local
# addresses (the cloud metadata service) are refused.
PeerCheck = Callable[[str], "str | None"]  # an address connected to → why Baton never connects there, or None
_AWS_METADATA_V6 = ipaddress.ip_address("fd00:ec2::254")


def never_link_local(address: str) -> str | None:
    """The check of a process that installed none: no link-local or cloud metadata address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return "a link-local or cloud metadata address" if ip.is_link_local or ip == _AWS_METADATA_V6 else None


_peer_check: PeerCheck = never_link_local


def check_connections(check: PeerCheck) -> PeerCheck:
    """From now on every new connection of this process's pooled sessions is checked with
    ``check``; returns the check it replaces (a test puts it back)."""
    global _peer_check
    previous, _peer_check = _peer_check, check
    return previous


class AddressRefused(ApiHostError):
    """A connection reached an address Baton never connects to (the host's DNS answer changed since
    its base URL was checked, or was never acceptable): closed before anything was sent on it."""


class _PeerRefused(NewConnectionError):
    """urllib3's side of AddressRefused: requests raises it as a ConnectionError."""

    def __init__(self, conn: Any, why: str) -> None:
        self.why = why
        super().__init__(conn, why)


class _CheckedConnection:
    """Mixed into urllib3's connections: the socket's peer is checked as soon as it is connected,
    before TLS (which still uses the host name: SNI and the certificate are the host's) and before
    any byte of the request."""

    check: Callable[[], PeerCheck]

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        address = "?"
        try:
            address = str(sock.getpeername()[0])
            why = self.check()(address)
        except Exception as e:  # no peer, or an address the check cannot read: not connected there
            why = f"an address that cannot be checked ({type(e).__name__})"
        if why:
            sock.close()
            raise _PeerRefused(self, f"{self.host} is at {address}, {why}: Baton does not connect there")  # type: ignore[arg-type]
        return sock


class CheckedAdapter(HTTPAdapter):
    """requests' transport whose every new connection is checked (``_CheckedConnection``) with
    ``check``, or else with this process's check at the time (``check_connections``). Connections
    to a proxy (``HTTPS_PROXY``) are not checked here: the proxy makes the onward connection."""

    __attrs__ = [*HTTPAdapter.__attrs__, "check"]

    def __init__(self, check: PeerCheck | None = None, **kwargs: Any) -> None:
        self.check = check
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        current = staticmethod(lambda: self.check or _peer_check)
        http = type("CheckedHTTPConnection", (_CheckedConnection, HTTPConnection), {"check": current})
        https = type("CheckedHTTPSConnection", (_CheckedConnection, HTTPSConnection), {"check": current})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


def _refused(e: requests.ConnectionError) -> str | None:
    """The reason, when the connection was refused by the address check."""
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return reason.why if isinstance(reason, _PeerRefused) else None


MAX_PAGES = 50  # of any one list: a conversation or roster longer than that is cut, and logged
RETRY_AFTER_DEFAULT = 60.0  # no usable Retry-After: wait a minute rather than hammer
RETRY_AFTER_MAX = 3600.0  # a helpdesk asking for longer is capped: one tenant is never paused for months
_TOO_LONG = re.compile(r"too (long|large|big)|maximum (length|size)|exceeds", re.I)


def _retry_after(value: str | None) -> float:
    """Seconds to wait after a 429: Retry-After when it is a finite number of seconds, capped at an
    hour; otherwise a minute. Odd values are logged."""
    try:
        seconds = float(value) if value else RETRY_AFTER_DEFAULT
    except ValueError:  # an HTTP date or garbage
        log.warning("http.retry-after-unreadable", extra={"retry_after": str(value)[:40]})
        return RETRY_AFTER_DEFAULT
    if not math.isfinite(seconds):
        log.warning("http.retry-after-not-finite", extra={"retry_after": str(value)[:40]})
        return RETRY_AFTER_DEFAULT
    if seconds > RETRY_AFTER_MAX:
        log.warning("http.retry-after-capped", extra={"retry_after": seconds, "cap": RETRY_AFTER_MAX})
    return min(max(0.0, seconds), RETRY_AFTER_MAX)


def html_text(markup: Any) -> str:
    """Plain text from an API's HTML: tags dropped, every entity decoded (``&amp;``, ``&#39;``, …)."""
    if not isinstance(markup, str):
        return ""
    text = re.sub(r"<br\s*/?>|</(?:p|div|li|h\d|tr|blockquote)>", "\n", markup, flags=re.I)
    return re.sub(r"[ \t]*\n[ \t\n]*", "\n", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def seg(value: Any) -> str:
    """An id as one URL path segment: quoted, so an id can never steer a call to another endpoint."""
    return quote(str(value), safe="")


def ticket_number(value: Any, what: str = "ticket id") -> str:
    """A ticket or conversation id from a webhook in its canonical form (``"01004"`` → ``"1004"``):
    a whole number from 1 to 10^18 as JSON number or digits; anything else is not the helpdesk's."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise NotOurs(f"{what} is not a number")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 0 < int(text) <= 10**18:
        raise NotOurs(f"{what} is not a ticket number")
    return str(int(text))


MAX_JSON_DEPTH = 64  # arrays and objects inside one another; no helpdesk sends a tenth of that


def _nested(levels: int) -> bytes:
    """A pattern for any run of bracket pairs nested at most ``levels`` deep (a bounded depth is a
    regular language; possessive repeats never backtrack, so it matches in linear time)."""
    pattern = b""
    for _ in range(levels):
        pattern = rb"(?:\[" + pattern + rb"\])*+"
    return pattern


_SHALLOW = re.compile(_nested(MAX_JSON_DEPTH))
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_QUOTE_OR_BRACKET = bytes(set(range(256)) - set(b'"[]{}'))


def json_value(body: bytes | str) -> Any:
    """Untrusted JSON (a request body, a token's segment) parsed: any JSON value; NotJson (415) when
    it is not JSON, NotOurs (400) when it nests arrays and objects deeper than MAX_JSON_DEPTH. The
    one rule every parse of a body from outside goes through: webhooks, the apps' endpoints, tokens.

    The depth is checked before parsing, by a linear scan of the brackets outside strings, all of
    it in C (a few ms for a 1 MiB body). Parsing first and catching RecursionError would leave the
    limit to the interpreter's recursion limit and to how deep the caller's stack already is, and
    would let documents hundreds of levels deep through to code that walks them recursively."""
    if _deeper_than_allowed(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)):
        raise NotOurs(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: only if the scan was fooled
        raise NotJson("body is not JSON") from e


def _deeper_than_allowed(raw: bytes) -> bool:
    """Whether parsing ``raw`` may open more than MAX_JSON_DEPTH arrays and objects inside one
    another. Exact for JSON; text that is not JSON is at worst called too deep where the parser
    would have failed first, and never let through to a parser that nests deeper."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:  # the usual payload: too few to nest too deep
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escapes are read left to right, as JSON does
    # a bracket is inside a string when an odd number of quotes comes before it: dropping two quotes
    # side by side changes no parity, and leaves at most one quote per bracket to split on
    quotes_and_brackets = unescaped.translate(None, _NOT_QUOTE_OR_BRACKET).replace(b'""', b"")
    brackets = b"".join(quotes_and_brackets.split(b'"')[::2]).translate(_SQUARE)  # outside strings; {} as []
    end = _SHALLOW.match(brackets).end()  # the values that close within the limit
    if end == len(brackets) or brackets[end:end + 1] == b"]":  # all of them, or the parser stops at a stray "]"
        return False
    # an array or object that does not close within the limit: it nests deeper, or the text just ends
    tail = brackets[end:]
    return _SHALLOW.match(tail + b"]" * MAX_JSON_DEPTH).end() < len(tail)


def json_object(body: bytes | str) -> dict[str, Any]:
    """The webhook body as a JSON object (json_value's rule), or NotOurs."""
    data = json_value(body)
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


def is_baton(user_id: Any, settings: Mapping[str, Any]) -> bool:
    """Baton's own API user: what it wrote is our own write coming back."""
    return user_id is not None and str(user_id) == str(settings.get("api_user_id", ""))


def is_bot(user_id: Any, settings: Mapping[str, Any]) -> bool:
    """One of the installation's bot users (``settings["bot_user_ids"]``)."""
    return str(user_id) in {str(b) for b in settings.get("bot_user_ids", ())}


def takes_handoffs(user_id: Any, settings: Mapping[str, Any]) -> bool:
    """A person Baton may assign to: neither Baton's API user nor the bot."""
    return not is_baton(user_id, settings) and not is_bot(user_id, settings)


PICKS_MAX = 500  # brands, skills or tags a roster keeps for the console's pickers (the most used tags first)


def optional(read: Callable[[], Any], default: Any) -> Any:
    """A read the account's plan or Baton's role may not allow (brands, skills, tags for the console's
    pickers): its answer, else ``default`` on a 403 or a 404. A 401 still raises: the credentials no
    longer work, which the installation's admin must hear of."""
    try:
        return read()
    except ApiNotFound:
        return default
    except ApiUnauthorized as e:
        if e.status != 403:
            raise
        return default


def named(items: Any, kind: str = "") -> list[dict[str, str]]:
    """``{"id", "name"}`` for each well-formed record of a helpdesk's list (a brand, a product, a
    skill), as the roster keeps them; ``kind`` adds what kind of skill it is."""
    out = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and item.get("id") not in (None, "") and not item.get("is_deleted"):
            out.append({"id": str(item["id"]), "name": str(item.get("name") or item["id"]), **({"kind": kind} if kind else {})})
    return out[:PICKS_MAX]


def tag_names(tags: Iterable[Any]) -> list[str]:
    """The names of a helpdesk's tags (``{"name": …}`` records), each once, in the order given."""
    return list(dict.fromkeys(str(t["name"]) for t in tags if isinstance(t, Mapping) and t.get("name")))[:PICKS_MAX]


def required_object(data: Any, *path: str) -> Mapping[str, Any]:
    """A required field that must be a JSON object."""
    value = required(data, *path)
    if not isinstance(value, Mapping):
        raise NotOurs(f"{'.'.join(path)} is not an object")
    return value


def author_role(author_id: Any, settings: Mapping[str, Any], customer_ids: Iterable[Any], is_customer: bool = False) -> Role:
    """Who wrote a message: Baton's own API user, the installation's bot, the customer, or an agent."""
    author = str(author_id)
    if is_baton(author, settings):
        return Role.SYSTEM
    if is_bot(author, settings):
        return Role.BOT
    if is_customer or author in {str(c) for c in customer_ids}:
        return Role.CUSTOMER
    return Role.AGENT


def merged_tags(remote: Mapping[str, Any], ours: Iterable[str]) -> list[str]:
    """The helpdesk's tags plus ours: for APIs where sending tags replaces them all."""
    current = list(remote.get("tags") or ())
    return current + [t for t in ours if t not in current]


def priority_if_higher(ticket_fields: Mapping[str, Any], wanted: Priority) -> Priority | None:
    """``wanted`` when it is above the ticket's priority, else None: Baton never lowers one."""
    now = ticket_fields.get("priority")
    return wanted if now is None or Priority(now).rank < wanted.rank else None


RECENT_DAYS = 30  # earlier contacts within this window count as recent
SEGMENT_TAGS = ("vip", "enterprise")
_KNOWN_FIELDS = ("plan", "tier", "churn_risk")


def iso_time(value: Any) -> datetime | None:
    """An ISO-8601 string from an API or a webhook (naive means UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def epoch_time(value: Any) -> datetime | None:
    """Unix seconds from an API or a webhook, or None (also for ``1e20``, NaN or a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


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
class VendorConnector:
    """A connector put together from a vendor folder's webhook module, client and installer."""

    descriptor: Descriptor
    webhook: Any  # module with verify(headers, body, installation, now) and parse(body, installation)
    client_class: Any  # Client(installation, guard=None)
    installer: Any  # install(client, endpoint, mode) -> {"settings", "webhook_secret"}

    @property
    def key(self) -> str:
        return self.descriptor.key

    def verify(self, headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
        self.webhook.verify(headers, body, installation, now)

    def parse(self, body: bytes, installation: Installation) -> Event | Batch:
        return self.webhook.parse(body, installation)  # type: ignore[no-any-return]

    def client(self, installation: Installation, guard: Guard | None = None) -> Any:
        return self.client_class(installation, guard=guard)

    def install(self, installation: Installation, endpoint: str, mode: str) -> dict[str, Any]:
        return self.installer(self.client(installation), endpoint, mode)  # type: ignore[no-any-return]
