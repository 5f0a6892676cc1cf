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
this process's memory for the embedded queue. Redis failing must not stop Baton: the guard then
falls back to this process's memory (every call still allowed unless this process itself saw the
helpdesk fail), logs once, and tries Redis again a few seconds later.
"""
from __future__ import annotations

import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.base import RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX
from integration.core.contract import ApiRateLimited, CircuitOpen
from integration.core.model import Installation
from integration.service import metrics

log = logging.getLogger("baton.quota")

OK, PROBE, BROKEN = "ok", "probe", "broken"  # what the breaker says of one call (PROBE: RECOVERY's one call)
HELD = "held"  # what the gate says of a call to an installation held after a 429 (not this call's turn to probe)
ALL, ONE, NONE = "all", "one", "none"  # what of an installation's parked work the drain may queue now
MIN_LIMIT = 2  # a header announcing fewer calls a window is not believed (Baton's share would be none)
LEARNED_FOR = 86_400  # seconds a learned limit is kept without a response confirming it (a plan change)
PROBE_KEPT = 3_600  # seconds Redis keeps an installation's next-probe time (only to clean up)
HOLD_KEPT = 3_600  # seconds a hold outlives its time with no probe answering (no traffic at all): then it is forgotten


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


class Backend(Protocol):
    """Where the budgets and breakers of every installation live. Times are the guard's clock
    (seconds); intervals and expiries are seconds too."""

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        """A turn to call: 0 (now), a positive wait (reserved: call after sleeping it), or minus the
        seconds until a turn (nothing reserved). ``default`` holds until a budget is learned."""
        ...

    def learn(self, inst: str, budget: Budget) -> None: ...

    def gate(self, inst: str, now: float, lease: float) -> tuple[str, float, bool]:
        """(state, seconds, probing the hold). State: (HELD, seconds until the hold's time or until
        the probe out lapses): held after a 429 and not this call's turn; (OK, 0); (PROBE,
        interval): broken, and this call is the interval's one probe; (BROKEN, seconds until the
        next probe). Probing the hold: the hold's time has come and this call is its one probe
        (claimed for ``lease`` seconds)."""
        ...

    def hold(self, inst: str, now: float, until: float) -> None:
        """The helpdesk answered 429: held until ``until`` (or a later hold already set); a probe's
        claim is freed."""
        ...

    def lift(self, inst: str, now: float) -> None:
        """The hold's probe was answered, not with a 429: the hold ends (unless a newer 429 moved it
        meanwhile)."""
        ...

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        """What of the installation's parked work the drain may queue: (ALL, 0) not held; (NONE,
        seconds) held, or its probe is out; (ONE, 0) the hold's time has come and no probe was
        released for it within ``lease`` seconds (this call releases it)."""
        ...

    def failure(self, inst: str, now: float, policy: Policy) -> bool:
        """Count one failure; True when it broke the circuit."""
        ...

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        """The probe failed: broken again for twice the interval (capped); returns the new interval."""
        ...

    def close(self, inst: str) -> None: ...

    def release(self, inst: str, breaker: bool = True, hold: bool = False) -> None:
        """A probe granted (the breaker's, the hold's) but never made (the budget refused it) or
        left without an answer: the next call may probe."""
        ...


class MemoryBackend:
    """One process's state: the embedded queue, tests, and the fallback while Redis is down."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}  # when each call of the window went (or will go), in order
        self._learned: dict[str, tuple[Budget, float]] = {}  # budget, until
        self._fails: dict[str, list[float]] = {}
        self._open: dict[str, tuple[float, float]] = {}  # interval, until (a safety expiry)
        self._probe: dict[str, float] = {}  # no probe before
        self._hold: dict[str, float] = {}  # held after a 429 until
        self._holding: dict[str, float] = {}  # the hold's probe is out until (its claim lapses)
        self._released: dict[str, tuple[float, float]] = {}  # the drain released the probe of this hold, until

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        with self._lock:
            learned = self._learned.get(inst)
            b = learned[0] if learned and learned[1] > now else default
            calls = self._calls.setdefault(inst, deque())
            while calls and calls[0] <= now - b.window:
                calls.popleft()
            # now, but never before a turn already given (times stay in order), nor before the call
            # ``b.calls`` turns back has left the window
            at = max(now, calls[-1]) if calls else now
            if len(calls) >= b.calls:
                at = max(at, calls[len(calls) - b.calls] + b.window)
            if at - now > max_wait:
                return now - at
            calls.append(at)
            return at - now

    def learn(self, inst: str, budget: Budget) -> None:
        with self._lock:
            self._learned[inst] = (budget, self.clock() + LEARNED_FOR)

    def gate(self, inst: str, now: float, lease: float) -> tuple[str, float, bool]:
        with self._lock:
            holding = False
            hold = self._held(inst, now)
            if hold is not None:
                if now < hold:
                    return HELD, hold - now, False
                out = self._holding.get(inst, 0.0)
                if out > now:
                    return HELD, out - now, False
                self._holding[inst] = now + lease
                holding = True
            opened = self._open.get(inst)
            if opened is None or opened[1] <= now:
                self._open.pop(inst, None)
                return OK, 0.0, holding
            interval = opened[0]
            if self._probe.get(inst, 0.0) <= now:
                self._probe[inst] = now + interval
                return PROBE, interval, holding
            self._holding.pop(inst, None)  # broken: no call, so no probe of the hold either
            return BROKEN, self._probe[inst] - now, False

    def _held(self, inst: str, now: float) -> float | None:
        hold = self._hold.get(inst)
        if hold is not None and now >= hold + HOLD_KEPT:
            self._hold.pop(inst, None)
            return None
        return hold

    def hold(self, inst: str, now: float, until: float) -> None:
        with self._lock:
            self._hold[inst] = max(until, self._hold.get(inst, until))
            self._holding.pop(inst, None)

    def lift(self, inst: str, now: float) -> None:
        with self._lock:
            if self._hold.get(inst, now) <= now:
                self._hold.pop(inst, None)
                self._released.pop(inst, None)
            self._holding.pop(inst, None)

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        with self._lock:
            hold = self._held(inst, now)
            if hold is None:
                return ALL, 0.0
            if now < hold:
                return NONE, hold - now
            if self._holding.get(inst, 0.0) > now:
                return NONE, 0.0
            released = self._released.get(inst)
            if released is not None and released[0] == hold and released[1] > now:
                return NONE, 0.0
            self._released[inst] = (hold, now + lease)
            return ONE, 0.0

    def failure(self, inst: str, now: float, policy: Policy) -> bool:
        with self._lock:
            fails = [t for t in self._fails.get(inst, ()) if t > now - policy.failure_window] + [now]
            self._fails[inst] = fails
            opened = self._open.get(inst)
            if (opened is not None and opened[1] > now) or len(fails) < policy.failures:
                return False
            self._open[inst] = (policy.first_interval, now + _open_for(policy))
            self._probe[inst] = now + policy.first_interval
            del self._fails[inst]
            return True

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        with self._lock:
            interval = min(self._open.get(inst, (policy.first_interval, 0.0))[0] * 2, policy.max_interval)
            self._open[inst] = (interval, now + _open_for(policy))
            self._probe[inst] = now + interval
            return interval

    def close(self, inst: str) -> None:
        with self._lock:
            for table in (self._open, self._probe, self._fails):
                table.pop(inst, None)  # type: ignore[attr-defined]

    def release(self, inst: str, breaker: bool = True, hold: bool = False) -> None:
        with self._lock:
            if breaker:
                self._probe.pop(inst, None)
            if hold:
                self._holding.pop(inst, None)


def _open_for(policy: Policy) -> float:
    """How long a broken circuit is remembered without a probe (no traffic): then it is closed, and
    a helpdesk still failing breaks it again after ``failures`` calls."""
    return 4 * policy.max_interval


# The same rule as MemoryBackend.take, atomic across processes: the window is a sorted
# set of call times. Numbers go back as strings: Redis turns a Lua number into an integer.
_TAKE = """
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[4])
local calls, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local learned = redis.call('HMGET', KEYS[2], 'calls', 'window')
if learned[1] and learned[2] then calls, window = tonumber(learned[1]), tonumber(learned[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local at = now
if n > 0 then at = math.max(at, tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])) end
if n >= calls then
  at = math.max(at, tonumber(redis.call('ZRANGE', KEYS[1], n - calls, n - calls, 'WITHSCORES')[2]) + window)
end
if at - now > max_wait then return tostring(now - at) end
redis.call('ZADD', KEYS[1], at, ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.ceil((at - now + window + 1) * 1000))
return tostring(at - now)
"""
# The breaker: the open key holds the probe interval, the probe key when the next probe may go (the
# guard's clock, like the budget, so that every process agrees on one probe per interval).
# The hold comes first, in the same script (one round trip per call): the hold key holds the time
# Retry-After ends, the holding key until when its one probe is out (the claim's lease). Times are the
# guard's clock, as the breaker's; Redis's own expiries only clean up.
_GATE = """
local now, holding = tonumber(ARGV[1]), 0
local hold = tonumber(redis.call('GET', KEYS[3]))
if hold then
  if now < hold then return {3, tostring(hold - now), 0} end
  local out = tonumber(redis.call('GET', KEYS[4]) or '0')
  if now < out then return {3, tostring(out - now), 0} end
  redis.call('SET', KEYS[4], tostring(now + tonumber(ARGV[3])), 'PX', ARGV[4])
  holding = 1
end
local interval = tonumber(redis.call('GET', KEYS[1]))
if not interval then return {0, '0', holding} end
local at = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < at then
  if holding == 1 then redis.call('DEL', KEYS[4]) end
  return {2, tostring(at - now), 0}
end
redis.call('SET', KEYS[2], tostring(now + interval), 'PX', ARGV[2])
return {1, tostring(interval), holding}
"""
# A 429: the later of the two holds; the probe's claim is freed (the new hold says when the next goes).
_HOLD = """
local hold = tonumber(redis.call('GET', KEYS[1]))
if not hold or hold < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('DEL', KEYS[2])
return 0
"""
_LIFT = """
local hold = tonumber(redis.call('GET', KEYS[1]))
if hold and hold <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1], KEYS[3]) end
redis.call('DEL', KEYS[2])
return 0
"""
# The drain's question; the released hash remembers for which hold a probe was released, and until when.
_PARKED = """
local hold = redis.call('GET', KEYS[1])
if not hold then return {0, '0'} end
local now = tonumber(ARGV[1])
if now < tonumber(hold) then return {2, tostring(tonumber(hold) - now)} end
if now < tonumber(redis.call('GET', KEYS[2]) or '0') then return {2, '0'} end
local released = redis.call('HMGET', KEYS[3], 'hold', 'until')
if released[1] == hold and now < tonumber(released[2]) then return {2, '0'} end
redis.call('HSET', KEYS[3], 'hold', hold, 'until', tostring(now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return {1, '0'}
"""
_FAILURE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
redis.call('SET', KEYS[3], tostring(now + tonumber(ARGV[4])), 'PX', ARGV[5])
redis.call('DEL', KEYS[1])
return 1
"""
_REOPEN = """
local interval = math.min(tonumber(redis.call('GET', KEYS[1]) or ARGV[2]) * 2, tonumber(ARGV[3]))
redis.call('SET', KEYS[1], tostring(interval), 'PX', ARGV[4])
redis.call('SET', KEYS[2], tostring(tonumber(ARGV[1]) + interval), 'PX', ARGV[4])
return tostring(interval)
"""


class RedisBackend:
    """Every process's state in Redis. Each installation's keys share a hash tag (``{id}``): one
    Redis Cluster slot, so each script's keys are together."""

    def __init__(self, client: redis.Redis, prefix: str = "baton:guard:"):
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)
        self._gate = client.register_script(_GATE)
        self._failure = client.register_script(_FAILURE)
        self._reopen = client.register_script(_REOPEN)
        self._hold = client.register_script(_HOLD)
        self._lift = client.register_script(_LIFT)
        self._parked = client.register_script(_PARKED)

    def _key(self, inst: str, what: str) -> str:
        return f"{self.prefix}{{{inst}}}:{what}"

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        return float(self._take(keys=[self._key(inst, "calls"), self._key(inst, "limit")],
                                args=[repr(now), default.calls, repr(default.window), repr(max_wait),
                                      f"{now!r}-{secrets.token_hex(4)}"]))

    def learn(self, inst: str, budget: Budget) -> None:
        key = self._key(inst, "limit")
        pipe = self.client.pipeline()
        pipe.hset(key, mapping={"limit": budget.limit, "calls": budget.calls, "window": repr(budget.window)})
        pipe.expire(key, LEARNED_FOR)
        pipe.execute()

    def gate(self, inst: str, now: float, lease: float) -> tuple[str, float, bool]:
        state, seconds, holding = self._gate(
            keys=[self._key(inst, "open"), self._key(inst, "probe"), self._key(inst, "hold"), self._key(inst, "holding")],
            args=[repr(now), _ms(PROBE_KEPT), repr(lease), _ms(HOLD_KEPT)])
        return (OK, PROBE, BROKEN, HELD)[int(state)], float(seconds), bool(int(holding))

    def hold(self, inst: str, now: float, until: float) -> None:
        self._hold(keys=[self._key(inst, "hold"), self._key(inst, "holding")],
                   args=[repr(until), _ms(until - now + HOLD_KEPT)])

    def lift(self, inst: str, now: float) -> None:
        self._lift(keys=[self._key(inst, "hold"), self._key(inst, "holding"), self._key(inst, "released")],
                   args=[repr(now)])

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        state, seconds = self._parked(
            keys=[self._key(inst, "hold"), self._key(inst, "holding"), self._key(inst, "released")],
            args=[repr(now), repr(lease), _ms(HOLD_KEPT)])
        return (ALL, ONE, NONE)[int(state)], float(seconds)

    def failure(self, inst: str, now: float, policy: Policy) -> bool:
        keys = [self._key(inst, "fails"), self._key(inst, "open"), self._key(inst, "probe")]
        return bool(self._failure(keys=keys, args=[repr(now), repr(policy.failure_window), policy.failures,
                                                   repr(policy.first_interval), _ms(_open_for(policy)),
                                                   f"{now!r}-{secrets.token_hex(4)}"]))

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        return float(self._reopen(keys=[self._key(inst, "open"), self._key(inst, "probe")],
                                  args=[repr(now), repr(policy.first_interval), repr(policy.max_interval),
                                        _ms(_open_for(policy))]))

    def close(self, inst: str) -> None:
        self.client.delete(self._key(inst, "open"), self._key(inst, "probe"), self._key(inst, "fails"))

    def release(self, inst: str, breaker: bool = True, hold: bool = False) -> None:
        keys = [self._key(inst, "probe")] * breaker + [self._key(inst, "holding")] * hold
        if keys:
            self.client.delete(*keys)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class FailOpen:
    """Redis, or this process's memory while Redis fails: the guard protects the helpdesk and must
    never take Baton down with Redis. Logged once per outage; Redis is tried again after ``retry``
    seconds."""

    def __init__(self, primary: Backend, fallback: Backend, retry: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.primary, self.fallback, self.retry, self.monotonic = primary, fallback, retry, monotonic
        self._down_until: float | None = None

    def _call(self, name: str, *args: Any) -> Any:
        if self._down_until is not None and self.monotonic() < self._down_until:
            return getattr(self.fallback, name)(*args)
        try:
            result = getattr(self.primary, name)(*args)
        except (redis.RedisError, OSError) as e:
            if self._down_until is None:
                log.warning("quota.redis-unavailable", extra={"error": type(e).__name__})
            self._down_until = self.monotonic() + self.retry
            return getattr(self.fallback, name)(*args)
        if self._down_until is not None:
            log.warning("quota.redis-back")
            self._down_until = None
        return result

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        return self._call("take", inst, now, default, max_wait)  # type: ignore[no-any-return]

    def learn(self, inst: str, budget: Budget) -> None:
        self._call("learn", inst, budget)

    def gate(self, inst: str, now: float, lease: float) -> tuple[str, float, bool]:
        return self._call("gate", inst, now, lease)  # type: ignore[no-any-return]

    def hold(self, inst: str, now: float, until: float) -> None:
        self._call("hold", inst, now, until)

    def lift(self, inst: str, now: float) -> None:
        self._call("lift", inst, now)

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        return self._call("parked", inst, now, lease)  # type: ignore[no-any-return]

    def failure(self, inst: str, now: float, policy: Policy) -> bool:
        return self._call("failure", inst, now, policy)  # type: ignore[no-any-return]

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        return self._call("reopen", inst, now, policy)  # type: ignore[no-any-return]

    def close(self, inst: str) -> None:
        self._call("close", inst)

    def release(self, inst: str, breaker: bool = True, hold: bool = False) -> None:
        self._call("release", inst, breaker, hold)


class Guards:
    """The guards of every installation, over one backend: memory by default (the embedded queue),
    Redis for the web app and the Celery workers (:meth:`redis`)."""

    def __init__(self, backend: Backend | None = None, policy: Policy = Policy(),
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.backend = backend or MemoryBackend(clock)
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self._learned: dict[str, tuple[int, float]] = {}  # the limit this process last stored, and when

    @classmethod
    def redis(cls, url: str, prefix: str = "baton:guard:", policy: Policy = Policy(),
              clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> Guards:
        # short timeouts and no retries: a slow Redis must not slow every API call
        client = redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.5,
                                      retry=Retry(NoBackoff(), 0))
        return cls(FailOpen(RedisBackend(client, prefix), MemoryBackend(clock)), policy, clock, sleep)

    def guard(self, inst: Installation) -> Guard:
        return Guard(self, inst.id, inst.provider)

    def parked(self, inst: str) -> str:
        """What of the installation's parked work the drain may queue now: ALL (not held after a
        429), ONE (the hold's time has come: the probe; asking again says NONE until it answered or
        its ``probe_lease`` lapsed), NONE (held, or its probe is out)."""
        return self.backend.parked(inst, self.clock(), self.policy.probe_lease)[0]

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
        state, seconds, self._holding = self.backend.gate(self.inst, self.guards.clock(), self.policy.probe_lease)
        if state == HELD:
            raise Held(f"{method} {path}: held after the helpdesk's 429 until Retry-After and one probe call "
                       f"answering; {seconds:.0f} s", max(0.0, seconds))
        if state == BROKEN:
            metrics.BREAKER_REFUSED.labels(self.helpdesk).inc()
            raise CircuitOpen(f"{method} {path}: circuit open, the helpdesk kept failing; next probe in "
                              f"{seconds:.0f} s", retry_after=max(1.0, seconds))
        if state == PROBE:
            self._probing = True
            metrics.BREAKER_CHANGES.labels(self.helpdesk, "recovery").inc()
        wait = self.backend.take(self.inst, self.guards.clock(), self.default, self.policy.max_wait)
        if wait < 0:
            if self._probing or self._holding:  # no call made: another may probe at once
                self.backend.release(self.inst, breaker=self._probing, hold=self._holding)
                self._probing = self._holding = False
            metrics.QUOTA_WAITS.labels(self.helpdesk, "deferred").inc()
            raise ApiRateLimited(f"{method} {path}: Baton's share of the account's rate limit is spent", -wait)
        if wait > 0:
            metrics.QUOTA_WAITS.labels(self.helpdesk, "slept").inc()
            self.guards.sleep(wait)

    def after(self, status: int | None, headers: Mapping[str, str], failed: bool) -> None:
        limit = announced_limit(self.helpdesk, headers)
        if limit is not None and self.guards.learned(self.inst, limit):
            self.backend.learn(self.inst, Budget.of(limit, self.published.window, self.policy))
        if status == 429:  # account-wide: every process holds the installation until Retry-After
            now = self.guards.clock()
            self.backend.hold(self.inst, now, now + retry_after(headers))
            if self._holding:
                log.info("quota.hold-probe-limited", extra={"installation": self.inst, "helpdesk": self.helpdesk})
        elif self._holding:  # the probe was answered (the hold ends) or not (the next call probes)
            if status is None:
                self.backend.release(self.inst, breaker=False, hold=True)
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
        elif failed and any(self.backend.failure(self.inst, self.guards.clock(), self.policy)
                            for _ in range(self.policy.unanswered_weight if status is None else 1)):
            self._changed("broken", "quota.breaker-open", interval=self.policy.first_interval, status=status)

    def _changed(self, state: str, event: str, **extra: Any) -> None:
        metrics.BREAKER_CHANGES.labels(self.helpdesk, state).inc()
        log.warning(event, extra={"installation": self.inst, "helpdesk": self.helpdesk, **extra})
