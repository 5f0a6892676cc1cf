"""Where the guards' state lives (integration/service/quota.py says what the guards decide): this
process's memory (the embedded queue, tests, and the fallback while Redis fails), or Redis, shared
by every worker process and machine.

On Redis one script (``_ADMIT``) checks the 429 hold, the breaker and the budget's window together
and records the call, or a batch of turns the process spends on its next calls (quota.py says why
and what it costs), or records nothing when it refuses (a probe the budget refuses is not claimed,
so the next call may probe). In memory a turn is taken per call. The answer to a call costs nothing
unless it changes the state (a 429, a failure, a probe's answer, a newly announced limit). Each
installation's scalar state is one hash, read with one HMGET; the times in it are the guard's
clock, compared in the scripts, and Redis's own expiry only cleans up.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from bisect import bisect_right, insort
from typing import TYPE_CHECKING, Any, Callable, Protocol

import redis

if TYPE_CHECKING:
    from integration.service.quota import Budget, Policy

log = logging.getLogger("baton.quota")

# what the guard's state says of one call: go (OK; PROBE: the broken circuit's one call of its
# interval), or not: held after a 429 and not this call's turn to probe (HELD), broken (BROKEN),
# Baton's share of the account's limit spent for longer than a call may sleep (LIMITED)
OK, PROBE, BROKEN, HELD, LIMITED = "ok", "probe", "broken", "held", "limited"
ALL, ONE, NONE = "all", "one", "none"  # what of an installation's parked work the drain may queue now
LEARNED_FOR = 86_400  # seconds a learned limit is kept without a response confirming it (a plan change)
HOLD_KEPT = 3_600  # seconds a hold outlives its time with no probe answering (no traffic at all): then it is forgotten


def open_for(policy: Policy) -> float:
    """How long a broken circuit is remembered without a probe (no traffic): then it is closed, and
    a helpdesk still failing breaks it again after ``failures`` calls."""
    return 4 * policy.max_interval


class Backend(Protocol):
    """Where the budgets, holds and breakers of every installation live. Times are the guard's clock
    (seconds); intervals and expiries are seconds too."""

    def admit(self, inst: str, now: float, default: Budget, max_wait: float, lease: float,
              batch: int = 1, spend_for: float = 0.0) -> tuple[str, float, bool, int]:
        """One call, in one step: (state, seconds, probing the hold, turns taken). (HELD, seconds
        until the hold's time or until its probe's claim lapses); (BROKEN, seconds until the next
        probe); (LIMITED, seconds until a turn: nothing recorded); (OK or PROBE, seconds to sleep
        before calling: the turn is taken, and a probe claimed, the breaker's for its interval and
        the hold's for ``lease`` seconds). ``default`` is the budget until one is learned. An OK
        call without a wait may take up to ``batch`` turns (never more than the window has free)
        for this process to spend within ``spend_for`` seconds: each counts in the window as made
        at the end of that time, whether it is spent or not."""
        ...

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        """A turn of the budget alone (no hold, no breaker): 0 (now), a positive wait (taken: call
        after sleeping it), or minus the seconds until a turn (nothing taken)."""
        ...

    def learn(self, inst: str, now: float, budget: Budget) -> None:
        """A response announced the account's limit: ``budget`` holds for LEARNED_FOR seconds."""
        ...

    def hold(self, inst: str, now: float, until: float) -> None:
        """The helpdesk answered 429: held until ``until`` (or a later hold already set); a probe's
        claim is freed."""
        ...

    def lift(self, inst: str, now: float) -> None:
        """The hold's probe was answered, not with a 429: the hold ends (unless a newer 429 moved it
        meanwhile)."""
        ...

    def release(self, inst: str) -> None:
        """The hold's probe was left without an answer: the next call may probe."""
        ...

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        """What of the installation's parked work the drain may queue: (ALL, 0) not held; (NONE,
        seconds) held, or its probe is out; (ONE, 0) the hold's time has come and no probe was
        released for it within ``lease`` seconds (this call releases it)."""
        ...

    def failure(self, inst: str, now: float, policy: Policy, weight: int = 1) -> bool:
        """Count ``weight`` failures (one call's); True when they broke the circuit."""
        ...

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        """The probe failed: broken again for twice the interval (capped); returns the new interval."""
        ...

    def close(self, inst: str) -> None: ...


class MemoryBackend:
    """One process's state: the embedded queue, tests, and the fallback while Redis is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, list[float]] = {}  # when each call of the window went (or will go), sorted
        self._learned: dict[str, tuple[Budget, float]] = {}  # budget, until
        self._fails: dict[str, list[float]] = {}
        self._open: dict[str, tuple[float, float]] = {}  # interval, until (a safety expiry)
        self._probe: dict[str, float] = {}  # no probe before
        self._hold: dict[str, float] = {}  # held after a 429 until
        self._holding: dict[str, float] = {}  # the hold's probe is out until (its claim lapses)
        self._released: dict[str, tuple[float, float]] = {}  # the drain released the probe of this hold, until

    def admit(self, inst: str, now: float, default: Budget, max_wait: float, lease: float,
              batch: int = 1, spend_for: float = 0.0) -> tuple[str, float, bool, int]:
        """One turn at a time: in one process, taking several saves nothing."""
        with self._lock:
            holding, interval = False, None
            hold = self._held(inst, now)
            if hold is not None:
                if now < hold:
                    return HELD, hold - now, False, 0
                out = self._holding.get(inst, 0.0)
                if out > now:
                    return HELD, out - now, False, 0
                holding = True
            opened = self._open.get(inst)
            if opened is not None and opened[1] > now:
                at = self._probe.get(inst, 0.0)
                if at > now:
                    return BROKEN, at - now, False, 0
                interval = opened[0]
            else:
                self._open.pop(inst, None)
            wait = self._take(inst, now, default, max_wait)
            if wait < 0:
                return LIMITED, -wait, False, 0
            if holding:
                self._holding[inst] = now + lease
            if interval is not None:
                self._probe[inst] = now + interval
            return (OK if interval is None else PROBE), wait, holding, 1

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        with self._lock:
            return self._take(inst, now, default, max_wait)

    def _take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        learned = self._learned.get(inst)
        b = learned[0] if learned and learned[1] > now else default
        calls = self._calls.setdefault(inst, [])
        del calls[:bisect_right(calls, now - b.window)]  # they left the window
        # now, unless fewer than ``b.calls`` turns given (gone or to come) are later than a window ago:
        # then once the ``b.calls``-th latest has left the window. Any window holding this call then
        # holds fewer than ``b.calls`` others, whatever order the turns were given in.
        at = max(now, calls[-b.calls] + b.window) if len(calls) >= b.calls else now
        if at - now > max_wait:
            return now - at
        insort(calls, at)
        return at - now

    def learn(self, inst: str, now: float, budget: Budget) -> None:
        with self._lock:
            self._learned[inst] = (budget, now + LEARNED_FOR)

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

    def release(self, inst: str) -> None:
        with self._lock:
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

    def failure(self, inst: str, now: float, policy: Policy, weight: int = 1) -> bool:
        with self._lock:
            fails = [t for t in self._fails.get(inst, ()) if t > now - policy.failure_window] + [now] * weight
            self._fails[inst] = fails
            opened = self._open.get(inst)
            if (opened is not None and opened[1] > now) or len(fails) < policy.failures:
                return False
            self._open[inst] = (policy.first_interval, now + open_for(policy))
            self._probe[inst] = now + policy.first_interval
            del self._fails[inst]
            return True

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        with self._lock:
            interval = min(self._open.get(inst, (policy.first_interval, 0.0))[0] * 2, policy.max_interval)
            self._open[inst] = (interval, now + open_for(policy))
            self._probe[inst] = now + interval
            return interval

    def close(self, inst: str) -> None:
        with self._lock:
            for table in (self._open, self._probe, self._fails):
                table.pop(inst, None)  # type: ignore[attr-defined]


# The Redis layout of one installation: KEYS[1] its state, a hash (hold: held until; holding: the
# hold's probe is out until; released_hold, released_until: the drain released the probe of that
# hold, until; open, open_until: the breaker's probe interval, broken until; probe: no breaker
# probe before; calls, window, learned_until: the learned budget), and KEYS[2] the calls of the
# budget's window (a sorted set of when each went) or the breaker's failures. Numbers go back as
# strings: Redis turns a Lua number into an integer. A write only ever lengthens the hash's expiry.
_KEEP = """
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""
# MemoryBackend.admit, atomic across processes, and taking several turns when the window has room.
# ARGV: now, default calls, default window, max_wait, this call's member, lease, HOLD_KEPT, 1 to check
# the hold and the breaker (0: the budget alone), batch, spend_for. KEYS[2] keeps the turns later
# than a window ago (the window is MemoryBackend._take's rule). Turns taken for later go in as made at
# the end of the time they may be spent in: any window holding one of them then holds fewer than
# ``calls`` others whenever it is spent. A batch: up to ``batch`` turns while the window is empty,
# fewer as it fills, one past half.
_ADMIT = """
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'hold', 'holding', 'open', 'open_until', 'probe', 'calls', 'window',
                     'learned_until')
local holding, interval = 0, nil
if ARGV[8] == '1' then
  local hold = tonumber(s[1])
  if hold and now < hold + tonumber(ARGV[7]) then
    if now < hold then return {3, tostring(hold - now), 0, 0} end
    local out = tonumber(s[2]) or 0
    if now < out then return {3, tostring(out - now), 0, 0} end
    holding = 1
  end
  if s[3] and now < (tonumber(s[4]) or 0) then
    local at = tonumber(s[5]) or 0
    if now < at then return {2, tostring(at - now), 0, 0} end
    interval = tonumber(s[3])
  end
end
local calls, window = tonumber(ARGV[2]), tonumber(ARGV[3])
if s[6] and now < (tonumber(s[8]) or 0) then calls, window = tonumber(s[6]), tonumber(s[7]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local free, at, k = calls - redis.call('ZCARD', KEYS[2]), now, 1
if free <= 0 then
  at = tonumber(redis.call('ZRANGE', KEYS[2], -calls, -calls, 'WITHSCORES')[2]) + window
  if at - now > max_wait then return {4, tostring(at - now), 0, 0} end
elseif holding == 0 and not interval then
  k = math.max(1, math.min(free, math.ceil(tonumber(ARGV[9]) * (2 * free / calls - 1))))
end
local went, turns = at, {}
if k > 1 then went = at + tonumber(ARGV[10]) end
for i = 1, k do
  turns[#turns + 1] = went
  turns[#turns + 1] = ARGV[5] .. ':' .. i
end
redis.call('ZADD', KEYS[2], unpack(turns))
redis.call('PEXPIRE', KEYS[2], math.ceil((went - now + window + 1) * 1000))
if holding == 1 then redis.call('HSET', KEYS[1], 'holding', tostring(now + tonumber(ARGV[6]))) end
if interval then redis.call('HSET', KEYS[1], 'probe', tostring(now + interval)) end
return {interval and 1 or 0, tostring(at - now), holding, k}
"""
_LEARN = _KEEP + """
redis.call('HSET', KEYS[1], 'calls', ARGV[1], 'window', ARGV[2], 'learned_until', ARGV[3])
keep(KEYS[1], tonumber(ARGV[4]))
return 0
"""
# A 429: the later of the two holds; the probe's claim is freed (the new hold says when the next goes).
# ARGV: until, now, HOLD_KEPT.
_HOLD = _KEEP + """
local now, kept = tonumber(ARGV[2]), tonumber(ARGV[3])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold'))
if not hold or hold < tonumber(ARGV[1]) then
  hold = tonumber(ARGV[1])
  redis.call('HSET', KEYS[1], 'hold', ARGV[1])
end
redis.call('HDEL', KEYS[1], 'holding')
keep(KEYS[1], math.ceil((hold - now + kept) * 1000))
return 0
"""
_LIFT = """
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold'))
if hold and hold <= tonumber(ARGV[1]) then
  redis.call('HDEL', KEYS[1], 'hold', 'holding', 'released_hold', 'released_until')
else
  redis.call('HDEL', KEYS[1], 'holding')
end
return 0
"""
# The drain's question. ARGV: now, lease, HOLD_KEPT.
_PARKED = """
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'hold', 'holding', 'released_hold', 'released_until')
local hold = tonumber(s[1])
if not hold or now >= hold + tonumber(ARGV[3]) then return {0, '0'} end
if now < hold then return {2, tostring(hold - now)} end
if now < (tonumber(s[2]) or 0) then return {2, '0'} end
if s[3] == s[1] and now < (tonumber(s[4]) or 0) then return {2, '0'} end
redis.call('HSET', KEYS[1], 'released_hold', s[1], 'released_until', tostring(now + tonumber(ARGV[2])))
return {1, '0'}
"""
# ARGV: now, failure window, failures, first interval, open_for, weight, this call's member.
_FAILURE = _KEEP + """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local added = {}
for i = 1, tonumber(ARGV[6]) do
  added[#added + 1] = now
  added[#added + 1] = ARGV[7] .. ':' .. i
end
redis.call('ZADD', KEYS[2], unpack(added))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], math.ceil(window * 1000))
local s = redis.call('HMGET', KEYS[1], 'open', 'open_until')
if (s[1] and now < (tonumber(s[2]) or 0)) or redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'open', ARGV[4], 'open_until', tostring(now + tonumber(ARGV[5])),
           'probe', tostring(now + tonumber(ARGV[4])))
keep(KEYS[1], math.ceil(tonumber(ARGV[5]) * 1000))
redis.call('DEL', KEYS[2])
return 1
"""
# ARGV: now, first interval, max interval, open_for.
_REOPEN = _KEEP + """
local now = tonumber(ARGV[1])
local interval = math.min((tonumber(redis.call('HGET', KEYS[1], 'open')) or tonumber(ARGV[2])) * 2, tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'open', tostring(interval), 'open_until', tostring(now + tonumber(ARGV[4])),
           'probe', tostring(now + interval))
keep(KEYS[1], math.ceil(tonumber(ARGV[4]) * 1000))
return tostring(interval)
"""
_CLOSE = """
redis.call('HDEL', KEYS[1], 'open', 'open_until', 'probe')
redis.call('DEL', KEYS[2])
return 0
"""
ADMISSIONS = (OK, PROBE, BROKEN, HELD, LIMITED)


class RedisBackend:
    """Every process's state in Redis. Each installation's keys share a hash tag (``{id}``): one
    Redis Cluster slot, so each script's keys are together."""

    def __init__(self, client: redis.Redis, prefix: str = "baton:guard:"):
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._learn = client.register_script(_LEARN)
        self._hold = client.register_script(_HOLD)
        self._lift = client.register_script(_LIFT)
        self._parked = client.register_script(_PARKED)
        self._failure = client.register_script(_FAILURE)
        self._reopen = client.register_script(_REOPEN)
        self._close = client.register_script(_CLOSE)

    def _key(self, inst: str, what: str) -> str:
        return f"{self.prefix}{{{inst}}}:{what}"

    def _call(self, inst: str, now: float, default: Budget, max_wait: float, lease: float, gate: bool,
              batch: int, spend_for: float) -> tuple[str, float, bool, int]:
        state, seconds, holding, taken = self._admit(
            keys=[self._key(inst, "state"), self._key(inst, "calls")],
            args=[repr(now), default.calls, repr(default.window), repr(max_wait), _member(now), repr(lease),
                  HOLD_KEPT, int(gate), batch, repr(spend_for)])
        return ADMISSIONS[int(state)], float(seconds), bool(int(holding)), int(taken)

    def admit(self, inst: str, now: float, default: Budget, max_wait: float, lease: float,
              batch: int = 1, spend_for: float = 0.0) -> tuple[str, float, bool, int]:
        return self._call(inst, now, default, max_wait, lease, True, batch, spend_for)

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        state, seconds, _, _ = self._call(inst, now, default, max_wait, 0.0, False, 1, 0.0)
        return -seconds if state == LIMITED else seconds

    def learn(self, inst: str, now: float, budget: Budget) -> None:
        self._learn(keys=[self._key(inst, "state")],
                    args=[budget.calls, repr(budget.window), repr(now + LEARNED_FOR), _ms(LEARNED_FOR)])

    def hold(self, inst: str, now: float, until: float) -> None:
        self._hold(keys=[self._key(inst, "state")], args=[repr(until), repr(now), HOLD_KEPT])

    def lift(self, inst: str, now: float) -> None:
        self._lift(keys=[self._key(inst, "state")], args=[repr(now)])

    def release(self, inst: str) -> None:
        self.client.hdel(self._key(inst, "state"), "holding")

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        state, seconds = self._parked(keys=[self._key(inst, "state")], args=[repr(now), repr(lease), HOLD_KEPT])
        return (ALL, ONE, NONE)[int(state)], float(seconds)

    def failure(self, inst: str, now: float, policy: Policy, weight: int = 1) -> bool:
        return bool(self._failure(keys=[self._key(inst, "state"), self._key(inst, "fails")],
                                  args=[repr(now), repr(policy.failure_window), policy.failures,
                                        repr(policy.first_interval), repr(open_for(policy)), weight, _member(now)]))

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        return float(self._reopen(keys=[self._key(inst, "state")],
                                  args=[repr(now), repr(policy.first_interval), repr(policy.max_interval),
                                        repr(open_for(policy))]))

    def close(self, inst: str) -> None:
        self._close(keys=[self._key(inst, "state"), self._key(inst, "fails")])


def _member(now: float) -> str:
    return f"{now!r}-{secrets.token_hex(4)}"


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

    def admit(self, inst: str, now: float, default: Budget, max_wait: float, lease: float,
              batch: int = 1, spend_for: float = 0.0) -> tuple[str, float, bool, int]:
        return self._call("admit", inst, now, default, max_wait, lease, batch, spend_for)  # type: ignore[no-any-return]

    def take(self, inst: str, now: float, default: Budget, max_wait: float) -> float:
        return self._call("take", inst, now, default, max_wait)  # type: ignore[no-any-return]

    def learn(self, inst: str, now: float, budget: Budget) -> None:
        self._call("learn", inst, now, budget)

    def hold(self, inst: str, now: float, until: float) -> None:
        self._call("hold", inst, now, until)

    def lift(self, inst: str, now: float) -> None:
        self._call("lift", inst, now)

    def release(self, inst: str) -> None:
        self._call("release", inst)

    def parked(self, inst: str, now: float, lease: float) -> tuple[str, float]:
        return self._call("parked", inst, now, lease)  # type: ignore[no-any-return]

    def failure(self, inst: str, now: float, policy: Policy, weight: int = 1) -> bool:
        return self._call("failure", inst, now, policy, weight)  # type: ignore[no-any-return]

    def reopen(self, inst: str, now: float, policy: Policy) -> float:
        return self._call("reopen", inst, now, policy)  # type: ignore[no-any-return]

    def close(self, inst: str) -> None:
        self._call("close", inst)
