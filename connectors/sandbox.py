"""What the helpdesk emulators ("sandboxes") share: an HTTP server, the test knobs and webhook
delivery. The base of the drivers that play customers, bots, agents and admins on them is
``sandbox_driver.py`` (its names are imported from here too).

Each vendor's ``sandbox`` package subclasses :class:`Sandbox` and keeps only what its vendor does
its own way: the API, the record shapes, authentication, error bodies, rate-limit headers and the
webhook format. The behaviour the subclasses inherit is the same for every vendor:

- ``start``/``stop``/``url``: a keep-alive HTTP/1.1 server (:class:`Serving`) on a daemon thread, so a
  test talks real HTTP over connections kept open, as a helpdesk's API does.
- ``requests_log``: one entry per API call (``at``, ``time``, ``method``, ``path``, ``status``, ``json``
  and the vendor's extra keys); a refused call is logged too, because a client's retries are what
  tests look at.
- ``throttle``/``fail``/``delay``: the next calls answer 429 with ``Retry-After`` or another status,
  or are held before being applied. Only authenticated calls are refused, and a refused call
  changes nothing.
- ``deliveries``/``wait_for_deliveries``/``redeliver``: webhooks leave from one background worker, in
  order, each retried on ``retry_delays`` as the vendor retries; every attempt is recorded;
  ``drop_deliveries`` loses a share of them, as helpdesks do.
- ``clock``: injectable, for the timestamps a sandbox writes.

State lives in memory; every public method is thread-safe.
"""
from __future__ import annotations

import html
import itertools
import queue
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from connectors.base import sid  # noqa: F401  (the vendors' drivers import it from here)
from flask import Flask, Response, g, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from cheroot import wsgi

JSON = dict[str, Any]
# What a before-request hook answers instead of the view: body and status, and maybe headers.
Refusal = tuple[JSON, int] | tuple[JSON, int, dict[str, str]]


class Serving:
    """A WSGI app served on ``host:port`` from a daemon thread, keeping connections alive between
    requests as a helpdesk's API (and gunicorn, in front of Baton) does. Werkzeug's development
    server closes every connection after one answer, so each call a client made paid a new TCP
    connection on both sides: the worker bench measured that instead of Baton (``bench/pipeline.py
    --worker``). Cheroot serves each request on a pool thread and parks idle connections in a
    selector, so a slow handler (a sandbox told to hang) holds one thread, not the server."""

    THREADS = 32  # handlers running at once; more requests wait for one (a sandbox's delay() holds one)

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "serving") -> None:
        self.app = app
        self._server = wsgi.Server((host, port), app, numthreads=self.THREADS, shutdown_timeout=1, timeout=30)
        self._server.prepare()  # bound and listening once this returns
        self.port = int(self._server.bind_addr[1])
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=5)


class ApiError(Exception):
    """An API call refused with ``body`` (the vendor's error shape) and ``status``."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_to_text(markup: str) -> str:
    text = re.sub(r"<br\s*/?>|</(?:p|div|li|h\d|tr|blockquote)>", "\n", markup, flags=re.I)
    return re.sub(r"\n{3,}", "\n\n", html.unescape(re.sub(r"<[^>]*>", "", text))).strip()


_DANGEROUS = re.compile(r"<(script|style|iframe|object|embed)\b.*?(?:</\1\s*>|\Z)", re.I | re.S)
_EVENT_ATTR = re.compile(r"""([\s/"'])on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_JS_URL = re.compile(r"""((?:href|src)\s*=\s*["']?)\s*javascript:""", re.I)


def sanitize(markup: str) -> str:
    """A note's HTML as a helpdesk's agent UI shows it (Zendesk's and Freshdesk's sandboxes): scripts,
    event handlers and javascript: URLs dropped (Baton escapes customer text; this is a backstop)."""
    while True:  # until stable: removing one tag can join the halves of another ("<scr<script></script>ipt>")
        cleaned = _DANGEROUS.sub("", markup)
        cleaned = _JS_URL.sub(r"\1#", re.sub(r"<[^>]+>", lambda tag: _EVENT_ATTR.sub(r"\1", tag.group(0)), cleaned))
        if cleaned == markup:
            return cleaned
        markup = cleaned


def fill(template: str, values: Mapping[str, str]) -> str:
    """A ``{{placeholder}}`` webhook body; unknown placeholders render empty, as the helpdesks do."""
    return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: values.get(m.group(1), ""), template)


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to its query string (a redirect's code and state, a signed URL's origin)."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def stars(good: bool | int) -> int:
    """A customer's rating as 1 to 5 stars: good is 5, bad is 1."""
    if isinstance(good, bool):
        return 5 if good else 1
    if good not in range(1, 6):
        raise ValueError(f"a rating is good/bad or 1 to 5 stars, not {good!r}")
    return good


def retry_after_seconds(header: str) -> float | None:
    """``Retry-After`` in seconds; an HTTP date (or junk) is treated as absent."""
    return float(header) if header.replace(".", "", 1).isdigit() else None


class Job(Protocol):
    """A queued webhook delivery; the vendor's job adds what it needs to address and sign it."""

    @property
    def body(self) -> bytes: ...


JobT = TypeVar("JobT", bound=Job)


class Outgoing(NamedTuple):
    method: str
    url: str
    headers: dict[str, str]


class Sandbox(ABC, Generic[JobT]):
    """The machinery of a helpdesk emulator; a subclass states its vendor's policies and shapes."""

    vendor: ClassVar[str]  # names the server and worker threads
    id_bases: ClassVar[Mapping[str, int]]  # first id of each kind of record
    api_prefix: ClassVar[str | tuple[str, ...]]  # paths below it (or any of them) are API calls: logged, authenticated, throttled
    rate_limit: ClassVar[int]  # calls a minute, as announced in the rate-limit headers
    # Besides 5xx answers and network errors, which every vendor retries.
    retried_statuses: ClassVar[frozenset[int]]
    # A 429/503's Retry-After replaces the planned pause when shorter than this; a longer one ends the
    # retries. None: the vendor ignores Retry-After.
    retry_after_limit: ClassVar[float | None]
    delivery_timeout: ClassVar[float]  # how long the vendor waits for a webhook endpoint to answer
    app: Flask  # built last in the subclass's __init__: its views capture the tables made there

    def __init__(self, *, clock: Callable[[], datetime] | None, retry_delays: Sequence[float]) -> None:
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.retry_delays = tuple(retry_delays)
        self.requests_log: list[JSON] = []
        self.deliveries: list[JSON] = []
        self._lock = threading.RLock()
        self._ids = {kind: itertools.count(first) for kind, first in self.id_bases.items()}
        self._throttled, self._retry_after = 0, 2.0
        self._failing: list[int] = []  # statuses the next calls answer with, one each
        self._delays: dict[str, float] = {}
        self._recent: deque[float] = deque()  # call times, for the default rolling-minute count
        self._jobs: queue.Queue[JobT | None] = queue.Queue()
        self.dropped: list[JSON] = []  # deliveries lost on purpose (drop_deliveries): never sent
        self._drop_share, self._drop_rng = 0.0, random.Random(0)
        self._pending = 0
        self._idle = threading.Condition()
        self._worker: threading.Thread | None = None
        # set by stop(): a stopped helpdesk sends nothing more, not even the retries it had planned
        # (left running, they would reach whatever later listens on the port a test's receiver had)
        self._halted = threading.Event()
        self._server: Serving | None = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._halted.clear()
        self._server = Serving(self.app, host, port, name=f"{self.vendor}-sandbox")
        self._url = self._server.url
        return self._url

    def stop(self) -> None:
        self._halted.set()
        if self._server is not None:
            self._server.stop()
        self._server = self._url = None
        with self._lock:
            if self._worker is not None:
                self._jobs.put(None)  # the worker drops what is still queued (halted), then exits
                self._worker = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("sandbox not started")
        return self._url

    # -- test knobs ------------------------------------------------------------------------------
    def throttle(self, count: int, retry_after: float = 2) -> None:
        with self._lock:
            self._throttled, self._retry_after = count, retry_after

    def fail(self, count: int, status: int) -> None:
        """The next ``count`` authenticated calls answer ``status`` (an outage, revoked rights, a
        deleted ticket …) and change nothing."""
        with self._lock:
            self._failing = [status] * count

    def delay(self, seconds: float, method: str = "POST") -> None:
        with self._lock:
            self._delays[method.upper()] = seconds

    def drop_deliveries(self, share: float, seed: int = 0) -> None:
        """Lose ``share`` (0 to 1) of the webhook deliveries queued from now on, drawn with ``seed``:
        never sent, never retried, as a helpdesk loses them (GitHub never retries, Intercom drops
        throttled notifications, Zendesk's circuit breaker pauses a webhook). Kept in ``dropped``."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"a share is between 0 and 1, not {share!r}")
        with self._lock:
            self._drop_share, self._drop_rng = share, random.Random(seed)

    def reset_log(self) -> None:
        with self._lock:
            self.requests_log.clear()

    def wait_for_deliveries(self, timeout: float = 10) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def redeliver(self, delivery_index: int) -> int | None:
        """Send an earlier delivery once more, now and without retries; its status (None: no answer)."""
        with self._lock:
            job = self._redelivery(self.deliveries[delivery_index])
        return self._send(job, attempt=1)[0]

    # -- vendor shapes ---------------------------------------------------------------------------
    @abstractmethod
    def _add_routes(self, app: Flask) -> None:
        """The vendor's endpoints, and the handler of its own error type if it has one."""

    @abstractmethod
    def _http_error(self, error: HTTPException) -> ResponseReturnValue:
        """An unknown path or method, a malformed request... in the vendor's error shape."""

    @abstractmethod
    def _authenticated(self) -> bool: ...

    @abstractmethod
    def _unauthorized(self) -> JSON:
        """The 401 body."""

    @abstractmethod
    def _too_many_requests(self, retry_after: float) -> JSON:
        """The 429 body (``Retry-After`` is added by the caller)."""

    @abstractmethod
    def _rate_limit_headers(self, remaining: int) -> dict[str, str]: ...

    @abstractmethod
    def _outgoing(self, job: JobT) -> Outgoing:
        """How ``job`` is sent now: signed per attempt where the vendor signs a timestamp."""

    @abstractmethod
    def _delivery(self, job: JobT, headers: dict[str, str]) -> JSON:
        """What ``deliveries`` records about ``job`` besides status, attempt, at and body."""

    @abstractmethod
    def _redelivery(self, old: JSON) -> JobT:
        """The job that sends the recorded delivery ``old`` again (called under the lock)."""

    def _log_details(self) -> JSON:
        """Extra ``requests_log`` keys."""
        return {}

    def _refusal(self) -> Refusal | None:
        """A vendor's own refusal of an authenticated, unthrottled call, before the view runs."""
        return None

    def _timeout(self, job: JobT) -> float:
        """How long this delivery waits for an answer (a vendor with two kinds of webhook may differ)."""
        return self.delivery_timeout

    def _still_wanted(self, job: JobT) -> bool:
        """False stops a delivery's remaining attempts (e.g. its webhook was deleted)."""
        return True

    def _count_call(self, entry: JSON) -> None:
        """Count an API call for the rate-limit headers (under the lock): a rolling minute by default."""
        self._recent.append(entry["at"])

    def _calls_this_minute(self) -> int:
        while self._recent and self._recent[0] < time.monotonic() - 60:
            self._recent.popleft()
        return len(self._recent)

    # -- model helpers ---------------------------------------------------------------------------
    def _stamp(self, previous: str | None, at: datetime | None = None) -> str:
        """An ISO timestamp from ``at`` or the clock, to the second."""
        now = (at or self.clock()).astimezone(timezone.utc).replace(microsecond=0)
        if previous is not None:  # each update must be strictly later, even within one second
            now = max(now, datetime.fromisoformat(previous) + timedelta(seconds=1))
        return iso(now)

    # -- webhook delivery ------------------------------------------------------------------------
    def _enqueue(self, job: JobT) -> None:
        with self._lock:
            if self._drop_share and self._drop_rng.random() < self._drop_share:
                self.dropped.append({"at": time.monotonic(), "body": job.body})
                return
        with self._idle:
            self._pending += 1
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=f"{self.vendor}-sandbox-webhooks",
                                                daemon=True)
                self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._deliver(job)
            except Exception:  # noqa: BLE001 - one broken job must not stop later deliveries
                pass
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, job: JobT) -> None:
        for attempt in itertools.count(1):
            if self._halted.is_set() or not self._still_wanted(job):
                return
            status, retry_after = self._send(job, attempt)
            retryable = status is None or status >= 500 or status in self.retried_statuses
            if not retryable or attempt > len(self.retry_delays):
                return
            wait = self.retry_delays[attempt - 1]
            if self.retry_after_limit is not None and status in (429, 503) and retry_after is not None:
                if retry_after >= self.retry_after_limit:
                    return
                wait = retry_after
            if self._halted.wait(wait):
                return

    def _send(self, job: JobT, attempt: int) -> tuple[int | None, float | None]:
        """One attempt, recorded in ``deliveries``: the status (None: no answer) and any Retry-After."""
        out = self._outgoing(job)
        status: int | None = None
        retry_after: float | None = None
        try:
            response = requests.request(out.method, out.url, data=job.body, headers=out.headers,
                                        timeout=self._timeout(job))
            status = response.status_code
            retry_after = retry_after_seconds(response.headers.get("Retry-After", ""))
        except requests.RequestException:
            pass
        with self._lock:
            self.deliveries.append({**self._delivery(job, out.headers), "status": status, "attempt": attempt,
                                    "at": time.monotonic(), "body": job.body})
        return status, retry_after

    # -- HTTP ------------------------------------------------------------------------------------
    def _build_app(self) -> Flask:
        # Named after the vendor's module, as each sandbox's app was; it serves no static files.
        app = Flask(type(self).__module__, static_folder=None)
        app.json.sort_keys = False  # type: ignore[attr-defined]
        app.before_request(self._before)
        app.after_request(self._after)
        app.register_error_handler(ApiError, lambda e: (e.body, e.status))
        app.register_error_handler(HTTPException, self._http_error)
        self._add_routes(app)
        return app

    def _before(self) -> Refusal | None:
        if not request.path.startswith(self.api_prefix):
            return None
        g.entry = {"at": time.monotonic(), "time": self.clock(), "method": request.method, "path": request.path,
                   **self._log_details(), "status": None, "json": request.get_json(silent=True)}
        with self._lock:
            self.requests_log.append(g.entry)
            self._count_call(g.entry)
        if not self._authenticated():
            return self._unauthorized(), 401
        with self._lock:
            throttled, retry_after = self._throttled > 0, self._retry_after
            self._throttled = max(0, self._throttled - 1)
            failure = self._failing.pop(0) if self._failing and not throttled else None
            pause = self._delays.get(request.method, 0.0)
        if throttled:
            return self._too_many_requests(retry_after), 429, {"Retry-After": f"{retry_after:g}"}
        if failure is not None:
            return {"error": "injected failure", "status": failure}, failure
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        if pause:
            time.sleep(pause)
        return None

    def _after(self, response: Response) -> Response:
        entry = g.get("entry")
        if entry is not None:
            entry["status"] = response.status_code
            with self._lock:
                remaining = 0 if response.status_code == 429 else max(0, self.rate_limit - self._calls_this_minute())
                headers = self._rate_limit_headers(remaining)
            response.headers.update(headers)
        return response


# The drivers' base is sandbox_driver.py; the vendors' sandboxes and the tools import it from here too.
from connectors.sandbox_driver import AppSetup, Driver, Person, Setup, TicketView  # noqa: E402,F401
