"""The guard around every helpdesk API call of one installation: Baton's own share of the account's
rate limit, and a circuit breaker (../shared/reference/reliability_anchors.md §7.3, O3 and O4).

A helpdesk account's rate limit is shared by everything that calls its API: the helpdesk's own UI,
the tenant's other apps, and Baton. A 429 already holds the installation (``InstallationRepository.rate_limit``);
the guard keeps Baton from causing one, and stops Baton hammering a helpdesk that is failing.

- **Budget** per installation: Baton never makes more than ``Policy.share`` (50 %) of the account's
  limit within any window of the helpdesk's own length (a minute for Zendesk and Freshdesk, 10 s
  for Intercom, so never more than half the per-minute limit over any 60 s either). It is a
  rolling window of the calls' times (a sliding log), not a token bucket: a bucket that keeps
  every 60 s under the share must trade its burst against its rate (capacity + 60 s of refill =
  the share), and with a small burst an idle Freshdesk Growth account (100 calls a minute for
  Baton) would pace one escalation's 10 to 20 reads over seconds, and the demo's 127 Freshdesk
  calls over 38 s. The window lets an idle account's calls go at once and still caps every window
  at the share. The limit starts at the helpdesk's lowest published plan (``PUBLISHED``) and is
  learned from every response's headers, kept a day per installation. A call waits up to
  ``max_wait`` (1 s) for its turn; longer, it raises :class:`ApiRateLimited` with the seconds until
  its turn, which the pipeline parks exactly as a helpdesk's own 429.
- **Circuit breaker** per installation (one tenant in one helpdesk), after Sentry's
  ``circuit_breaker2`` (OK / BROKEN / RECOVERY): ``failures`` (5) 5xx, timeouts or refused
  connections within ``failure_window`` (60 s) break it; a 4xx or a 429 never does (the helpdesk is
  answering). While broken, calls raise :class:`CircuitOpen` without touching the network, except
  one probe per recovery interval across every process (one atomic script claims the interval's
  probe, and Redis forgets the claim if its process dies). The probe answering closes it; the probe failing breaks it again for twice the interval (30 s,
  60 s, … at most 5 min).
- **Hold** after a helpdesk's own 429 (Retry-After is account-wide): the installation is held until
  then, across every process. A call before it raises :class:`Held` without touching the network;
  once it has passed, one call is the probe (claimed atomically, the claim lapsing after
  ``probe_lease`` if its process dies) and the others are still held until it answers: a 429 moves
  the hold to the new Retry-After, any other answer lifts it. The drain asks :meth:`Guards.parked`
  what of an installation's parked work may go: none while held, one (the probe) once the hold's
  time has come, all once it is lifted. So a storm costs one call per Retry-After, not one per
  parked event (README "Fair dispatch").

State lives in Redis, shared by every worker process and machine (the Celery broker's Redis), or in
this process's memory for the embedded queue (integration/service/quota_state.py). A process asks
Redis once per batch of calls: one script checks the hold, the breaker and the budget and takes up
to ``Policy.batch`` (8) turns of the window while it is nearly empty, fewer as it fills, one past
half, and never more than twice what the process's last batch served. The process spends them
within ``Policy.spend_for`` (1 s) and unspent ones count as made, so the budget holds across
processes whatever is left unspent. The cost: a hold or an opened breaker that another process sets
stops this process's calls only once its turns lapse (within that second); its own 429, 5xx or
timeout drops them at once. A probe (the hold's, the breaker's) is always one turn. An answer costs nothing more unless it changes the state. Redis failing must not
stop Baton: the guard then falls back to this process's memory (every call still allowed unless
this process itself saw the helpdesk fail), logs once, and tries Redis again a few seconds later.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.base import RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX
from integration.core.contract import ApiRateLimited, CircuitOpen
from integration.core.model import Installation
from integration.service import metrics
# ALL, ONE, NONE: what Guards.parked answers (the drain reads them from here)
from integration.service.quota_state import (ALL, BROKEN, HELD, LEARNED_FOR, LIMITED, NONE, ONE, PROBE,  # noqa: F401
                                             Backend, FailOpen, MemoryBackend, RedisBackend)

log = logging.getLogger("baton.quota")
MIN_LIMIT = 2  # a header announcing fewer calls a window is not believed (Baton's share would be none)


class Held(ApiRateLimited):
    """No call was made: the installation is held after a helpdesk's 429, until its Retry-After and
    then until the one probe call answers. ``retry_after``: the seconds until the hold's time, or
    until the probe's claim lapses. The pipeline parks the work for the drain (never a countdown)
    and does not move the installation's 429 hold in the database."""


def retry_after(headers: Mapping[str, str]) -> float:
    """The seconds a 429 asks to wait, read as the HTTP client reads them (connectors/base.py):
    ``Retry-After`` when it is a finite number of seconds, capped at an hour; otherwise a minute."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value else RETRY_AFTER_DEFAULT
    except ValueError:
        return RETRY_AFTER_DEFAULT
    return min(max(0.0, seconds), RETRY_AFTER_MAX) if math.isfinite(seconds) else RETRY_AFTER_DEFAULT


@dataclass(frozen=True)
class Policy:
    """The numbers, in one place (README "Quotas, breakers and loop breaker" says why)."""

    share: float = 0.5  # of the account's limit, in any window of the helpdesk's (O4)
    max_wait: float = 1.0  # seconds a call may sleep for its turn; longer, the step waits in the queue
    failures: int = 5  # 5xx, timeouts or refused connections within ``failure_window`` s break the circuit
    # a call with no answer (a timeout, a refused connection) counts this many: a hanging helpdesk
    # holds a worker for the whole read timeout, so two of them break the circuit, not five
    # (bench/load.py --chaos blackhole: one tenant's dead helpdesk held both workers for a minute)
    unanswered_weight: int = 3
    failure_window: float = 60.0
    first_interval: float = 30.0  # between probes, doubled after each failed probe
    max_interval: float = 300.0
    # a held installation's probe (after a 429) is claimed this long: longer than one call with its
    # timeouts (15 s for a write); a claim whose process died lapses, and the next call probes
    probe_lease: float = 30.0
    # a process takes up to ``batch`` turns of the budget at once while the window is nearly empty
    # (one past half; never more than twice what its last batch served), and spends them within
    # ``spend_for`` s: one Redis script per batch, not per call; unspent turns count as made. So
    # another process's 429 or broken circuit stops this process's calls within ``spend_for`` s;
    # its own stops them at once.
    batch: int = 8
    spend_for: float = 1.0


@dataclass(frozen=True)
class Budget:
    """Baton's share of an account allowing ``limit`` calls per ``window`` seconds: at most
    ``calls`` calls in any ``window``."""

    limit: int
    calls: int
    window: float

    @classmethod
    def of(cls, limit: int, window: float, policy: Policy) -> Budget:
        return cls(limit, max(1, math.floor(max(limit, MIN_LIMIT) * policy.share)), window)


@dataclass(frozen=True)
class Published:
    """A helpdesk's rate limit before the account's own is known, and where responses announce it."""

    default: int  # calls per ``window`` on the lowest plan
    headers: tuple[str, ...]  # lower-case names, first found wins
    window: float = 60.0  # seconds the helpdesk counts calls over (and its headers announce)


# ../shared/reference/helpdesk_api_facts.md §1.4, §2.4, §3.4
PUBLISHED: dict[str, Published] = {
    # Team 200/min (the lowest plan; unconfirmed), Growth/Professional 400, Enterprise 700, High Volume 2,500.
    # developer.zendesk.com/api-reference/introduction/rate-limits: "X-Rate-Limit: 700"; list
    # endpoints also send "ratelimit-limit: 700".
    "zendesk": Published(200, ("x-rate-limit", "ratelimit-limit")),
    # support.freshdesk.com/support/solutions/articles/225439: Growth 200, Pro 400, Enterprise 700 a
    # minute, account-wide; "X-RateLimit-Total".
    "freshdesk": Published(200, ("x-ratelimit-total",)),
    # developers.intercom.com/docs/references/rest-api/errors/rate-limiting: 10,000 calls a minute per
    # app, "evenly distributed into 10 second windows"; X-RateLimit-Limit is the 10 s window's
    # ("a rate limit of 1000 per minute, which is 167 per 10-second window").
    "intercom": Published(10_000 // 6, ("x-ratelimit-limit",), window=10.0),
}
UNKNOWN = Published(100, ("x-ratelimit-limit", "x-rate-limit"))
_NUMBER = re.compile(r"\s*(\d+)")


def announced_limit(helpdesk: str, headers: Mapping[str, str]) -> int | None:
    """The account's limit per window (``PUBLISHED[helpdesk].window``) as the response announces
    it, or None."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name in PUBLISHED.get(helpdesk, UNKNOWN).headers:
        found = _NUMBER.match(str(lower.get(name, "")))
        if found and int(found.group(1)) >= MIN_LIMIT:
            return int(found.group(1))
    return None


class Guards:
    """The guards of every installation, over one backend: memory by default (the embedded queue),
    Redis for the web app and the Celery workers (:meth:`redis`)."""

    def __init__(self, backend: Backend | None = None, policy: Policy = Policy(),
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.backend = backend or MemoryBackend()
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self._learned: dict[str, tuple[int, float]] = {}  # the limit this process last stored, and when
        self._turns: dict[str, tuple[int, float, int]] = {}  # turns left to spend, until, of how many taken
        self._wants: dict[str, int] = {}  # turns the next batch asks for
        self._lock = threading.Lock()

    @classmethod
    def redis(cls, url: str, prefix: str = "baton:guard:", policy: Policy = Policy(),
              clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> Guards:
        # short timeouts and no retries: a slow Redis must not slow every API call
        client = redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.5,
                                      retry=Retry(NoBackoff(), 0))
        return cls(FailOpen(RedisBackend(client, prefix), MemoryBackend()), policy, clock, sleep)

    def guard(self, inst: Installation) -> Guard:
        return Guard(self, inst.id, inst.provider)

    def parked(self, inst: str) -> str:
        """What of the installation's parked work the drain may queue now: ALL (not held after a
        429), ONE (the hold's time has come: the probe; asking again says NONE until it answered or
        its ``probe_lease`` lapsed), NONE (held, or its probe is out)."""
        return self.backend.parked(inst, self.clock(), self.policy.probe_lease)[0]

    def spend(self, inst: str, now: float) -> bool:
        """Whether a turn this process took earlier (:meth:`keep`) is left for a call now."""
        with self._lock:
            left, until, taken = self._turns.pop(inst, (0, 0.0, 0))
            if left > 0 and now < until:
                self._turns[inst] = (left - 1, until, taken)
                return True
            if taken:  # a batch spent or lapsed: the next asks for twice what this one served
                self._wants[inst] = min(self.policy.batch, 2 * (taken - left))
            return False

    def want(self, inst: str) -> int:
        """How many turns to ask for: a batch the calls of the last did not use is the share's
        loss (unspent turns count as made), so twice what the last served, ``Policy.batch`` at most."""
        return self._wants.get(inst, self.policy.batch)

    def keep(self, inst: str, taken: int, until: float) -> None:
        """This call took ``taken`` turns: the others are for this process's calls until ``until``."""
        with self._lock:
            self._turns[inst] = (taken - 1, until, taken)

    def drop(self, inst: str) -> None:
        """This process saw the helpdesk refuse or fail: its next call asks the shared state again."""
        with self._lock:
            self._turns.pop(inst, None)

    def learned(self, inst: str, limit: int) -> bool:
        """Whether to store a limit a response announced: when it changed, or was last stored by this
        process an hour ago (the stored one expires after a day); one write per hour, not per call."""
        now = time.monotonic()
        known = self._learned.get(inst)
        if known is not None and known[0] == limit and now - known[1] < LEARNED_FOR / 24:
            return False
        self._learned[inst] = (limit, now)
        return True


class Guard:
    """One installation's guard, for one client (see :class:`integration.core.contract.Guard`)."""

    def __init__(self, guards: Guards, inst: str, helpdesk: str):
        self.guards, self.inst, self.helpdesk = guards, inst, helpdesk
        self.backend, self.policy = guards.backend, guards.policy
        self.published = PUBLISHED.get(helpdesk, UNKNOWN)
        self.default = Budget.of(self.published.default, self.published.window, self.policy)
        self._probing = False  # this call is the breaker's probe
        self._holding = False  # this call is the hold's probe

    def before(self, method: str, path: str) -> None:
        now = self.guards.clock()
        if self.guards.spend(self.inst, now):
            return
        state, seconds, self._holding, taken = self.backend.admit(
            self.inst, now, self.default, self.policy.max_wait, self.policy.probe_lease,
            self.guards.want(self.inst), self.policy.spend_for)
        if state == HELD:
            raise Held(f"{method} {path}: held after the helpdesk's 429 until Retry-After and one probe call "
                       f"answering; {seconds:.0f} s", max(0.0, seconds))
        if state == BROKEN:
            metrics.BREAKER_REFUSED.labels(self.helpdesk).inc()
            raise CircuitOpen(f"{method} {path}: circuit open, the helpdesk kept failing; next probe in "
                              f"{seconds:.0f} s", retry_after=max(1.0, seconds))
        if state == LIMITED:  # no call made, no probe claimed: another call may probe at once
            metrics.QUOTA_WAITS.labels(self.helpdesk, "deferred").inc()
            raise ApiRateLimited(f"{method} {path}: Baton's share of the account's rate limit is spent", seconds)
        if state == PROBE:
            self._probing = True
            metrics.BREAKER_CHANGES.labels(self.helpdesk, "recovery").inc()
        self.guards.keep(self.inst, taken, now + self.policy.spend_for)
        if seconds > 0:
            metrics.QUOTA_WAITS.labels(self.helpdesk, "slept").inc()
            self.guards.sleep(seconds)

    def after(self, status: int | None, headers: Mapping[str, str], failed: bool) -> None:
        if failed or status == 429:
            self.guards.drop(self.inst)
        limit = announced_limit(self.helpdesk, headers)
        if limit is not None and self.guards.learned(self.inst, limit):
            self.guards.drop(self.inst)  # taken under the budget before
            self.backend.learn(self.inst, self.guards.clock(), Budget.of(limit, self.published.window, self.policy))
        if status == 429:  # account-wide: every process holds the installation until Retry-After
            now = self.guards.clock()
            self.backend.hold(self.inst, now, now + retry_after(headers))
            if self._holding:
                log.info("quota.hold-probe-limited", extra={"installation": self.inst, "helpdesk": self.helpdesk})
        elif self._holding:  # the probe was answered (the hold ends) or not (the next call probes)
            if status is None:
                self.backend.release(self.inst)
            else:
                self.backend.lift(self.inst, self.guards.clock())
                log.info("quota.hold-lifted", extra={"installation": self.inst, "helpdesk": self.helpdesk})
        self._holding = False
        if self._probing:
            self._probing = False
            if failed:
                interval = self.backend.reopen(self.inst, self.guards.clock(), self.policy)
                self._changed("broken", "quota.breaker-reopened", interval=interval, status=status)
            else:
                self.backend.close(self.inst)
                self._changed("ok", "quota.breaker-closed", status=status)
        elif failed and self.backend.failure(self.inst, self.guards.clock(), self.policy,
                                             self.policy.unanswered_weight if status is None else 1):
            self._changed("broken", "quota.breaker-open", interval=self.policy.first_interval, status=status)

    def _changed(self, state: str, event: str, **extra: Any) -> None:
        metrics.BREAKER_CHANGES.labels(self.helpdesk, state).inc()
        log.warning(event, extra={"installation": self.inst, "helpdesk": self.helpdesk, **extra})
