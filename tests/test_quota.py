"""Baton's own share of each helpdesk account's rate limit (O4), the per-installation circuit
breaker (O3) and the per-ticket loop breaker (L3/O5): on a fake clock, in memory and on the real
Redis (several guard books standing for several processes), then on each helpdesk's sandbox."""
from __future__ import annotations

import dataclasses
import logging
import uuid
from bisect import bisect_left
from typing import Any, Callable

import pytest
import redis
from redis.commands.core import Script

import connectors
from integration.core.contract import ApiHostError, ApiNotFound, ApiRateLimited, CircuitOpen
from integration.core.model import Installation
from integration.service.pipeline import LOOP_CAP, LOOP_REASON, MAX_ATTEMPTS, RetryLater
from integration.service.quota import ALL, NONE, ONE, PUBLISHED, Budget, Guards, Held, Policy, announced_limit
from integration.service.quota_state import MemoryBackend, RedisBackend
from integration.service.store import outbox
from tests.test_pipeline import HUMAN, desk  # noqa: F401 - the fixture, reused

REDIS_URL = "redis://127.0.0.1:6379/0"
QUICK = Policy(first_interval=30.0, max_interval=120.0)


class FakeTime:
    """The guards' clock; sleeping moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Books:
    """Makes guard books that share one state: one process's memory, or Redis (each book its own
    connection, as separate worker processes have)."""

    def __init__(self, kind: str, clock: FakeTime) -> None:
        self.kind, self.clock = kind, clock
        self.memory = MemoryBackend()
        self.prefix = f"baton:test:{uuid.uuid4().hex}:"
        self.clients: list[redis.Redis] = []

    def __call__(self, policy: Policy = QUICK, sleep: Callable[[float], None] | None = None) -> Guards:
        if self.kind == "memory":
            return Guards(self.memory, policy, self.clock, sleep or self.clock.sleep)
        client = redis.Redis.from_url(REDIS_URL)
        self.clients.append(client)
        return Guards(RedisBackend(client, self.prefix), policy, self.clock, sleep or self.clock.sleep)

    def close(self) -> None:
        for client in self.clients[:1]:
            keys = list(client.scan_iter(f"{self.prefix}*"))
            if keys:
                client.delete(*keys)
        for client in self.clients:
            client.close()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture(params=["memory", "redis"])
def books(request, clock):
    made = Books(request.param, clock)
    yield made
    made.close()


def installation(helpdesk: str = "zendesk", url: str = "http://127.0.0.1:9") -> Installation:
    return Installation(f"inst-{uuid.uuid4().hex[:12]}", helpdesk, url, {}, "secret")


def calls(guard: Any, count: int, clock: FakeTime, headers: dict[str, str] | None = None) -> list[float]:
    """Make ``count`` calls as a busy worker would: each one as soon as the guard lets it (waiting
    in the queue for the retry_after it gives); returns when each went."""
    went = []
    while len(went) < count:
        try:
            guard.before("GET", "/x")
        except ApiRateLimited as e:
            clock.now += e.retry_after
            continue
        went.append(clock.now)
        guard.after(200, headers or {}, False)
    return went


def busiest_minute(times: list[float]) -> int:
    """The most calls in any 60 s window [t, t + 60)."""
    return max(bisect_left(times, t + 60) - i for i, t in enumerate(times))


# Baton's budget: half the account's limit in any window (O4)

def test_calls_never_exceed_half_the_accounts_limit_over_any_minute(books, clock):
    guard = books().guard(installation("zendesk"))
    announced = {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "650"}
    guard.after(200, announced, False)  # an earlier response told the account's limit
    went = calls(guard, 2000, clock, announced)
    assert busiest_minute(went) == 350  # half of 700, and Baton does use its share
    assert all(s <= 1.0 for s in clock.slept)  # a call sleeps at most a second; longer, it waits in the queue


def test_intercoms_ten_second_windows_get_half_each(books, clock):
    guard = books().guard(installation("intercom"))
    announced = {"X-RateLimit-Limit": "167"}  # 1,000 a minute, counted per 10 s
    guard.after(200, announced, False)
    went = calls(guard, 1000, clock, announced)
    assert max(bisect_left(went, t + 10) - i for i, t in enumerate(went)) == 83
    assert busiest_minute(went) <= 500


def test_the_limit_the_responses_announce_lowers_or_raises_the_rate(books, clock):
    guard = books().guard(installation("freshdesk"))
    per_minute = {}
    for total in ("400", "100", "700"):  # the account's plan as X-RateLimit-Total announces it
        guard.after(200, {"X-RateLimit-Total": total}, False)
        clock.now += 61  # the earlier calls leave the window
        went = calls(guard, 1000, clock)
        per_minute[total] = busiest_minute(went)
    assert per_minute == {"400": 200, "100": 50, "700": 350}


def test_the_published_default_holds_until_a_response_tells_the_accounts_limit(books, clock):
    guard = books().guard(installation("zendesk"))
    went = calls(guard, 500, clock)  # no response announces the account's limit
    assert busiest_minute(went) <= PUBLISHED["zendesk"].default // 2


def test_announced_limits_follow_each_helpdesks_headers():
    assert announced_limit("zendesk", {"X-Rate-Limit": "700"}) == 700
    assert announced_limit("zendesk", {"ratelimit-limit": "2500"}) == 2500
    assert announced_limit("freshdesk", {"X-RateLimit-Total": "400", "X-RateLimit-Remaining": "3"}) == 400
    assert announced_limit("intercom", {"X-RateLimit-Limit": "167"}) == 167  # per 10 s window
    assert announced_limit("zendesk", {"X-Rate-Limit": "garbage"}) is None
    assert announced_limit("freshdesk", {}) is None


def test_a_spent_budget_defers_the_call_with_the_seconds_until_its_turn(books, clock):
    slept: list[float] = []
    guard = books(sleep=slept.append).guard(installation("zendesk"))  # the clock moves only when told
    guard.after(200, {"X-Rate-Limit": "700"}, False)
    for _ in range(349):
        guard.before("GET", "/x")
    clock.now += 20
    guard.before("GET", "/x")  # the 350th call of the minute
    assert slept == []  # Baton's share of the minute goes at once
    with pytest.raises(ApiRateLimited) as refused:
        guard.before("GET", "/x")
    assert refused.value.retry_after == pytest.approx(40)  # when the first call leaves the window
    clock.now += 39.5
    guard.before("GET", "/x")  # half a second early: it sleeps until its turn
    assert slept == pytest.approx([0.5])


def test_two_processes_share_one_installations_budget(books, clock):
    still = Policy(max_wait=0.0)  # no sleeping: the clock stands still
    inst = installation("freshdesk")
    first, second = books(still).guard(inst), books(still).guard(inst)
    first.after(200, {"X-RateLimit-Total": "400"}, False)  # learned by one, used by both
    taken = 0
    for guard in [first, second] * 150:
        try:
            guard.before("GET", "/x")
        except ApiRateLimited:
            break
        taken += 1
    assert taken == Budget.of(400, 60, still).calls == 200
    with pytest.raises(ApiRateLimited):
        first.before("GET", "/x")
    # another installation of the same helpdesk has its own budget
    books(still).guard(installation("freshdesk")).before("GET", "/x")


def test_a_learned_limit_is_forgotten_after_a_day_without_a_response_confirming_it(books, clock):
    """A plan changes: the limit a response announced holds a day, then the published default again."""
    guard = books().guard(installation("zendesk"))
    guard.after(200, {"X-Rate-Limit": "700"}, False)
    assert busiest_minute(calls(guard, 400, clock)) == 350
    clock.now += 86_400 + 61
    assert busiest_minute(calls(guard, 400, clock)) == PUBLISHED["zendesk"].default // 2


class Counting(redis.Redis):
    """A Redis client that counts the commands it sends."""

    sent: list[str]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return super().execute_command(*args, **options)


def test_a_process_asks_redis_once_per_batch_of_calls_and_an_answer_nothing_unless_it_changes_the_state(clock):
    """The guard's share of Redis's work (README "Capacity"): while the window is nearly empty one
    script takes a batch of turns (checking the hold and the breaker) that this process then spends
    without asking again; an ordinary answer sends nothing; a failure drops what is left."""
    client = Counting.from_url(REDIS_URL)
    client.sent = []
    prefix = f"baton:test:{uuid.uuid4().hex}:"
    backend = RedisBackend(client, prefix)
    for script in vars(backend).values():  # in Redis's script cache, as after a process's first calls
        if isinstance(script, Script):
            client.script_load(script.script)
    guard = Guards(backend, QUICK, clock, clock.sleep).guard(installation("zendesk"))
    try:
        guard.before("GET", "/x")
        guard.after(200, {"X-Rate-Limit": "700"}, False)  # a limit learned: one more, once an hour
        client.sent.clear()
        for _ in range(QUICK.batch):
            guard.before("GET", "/x")
            guard.after(200, {"X-Rate-Limit": "700"}, False)
        assert client.sent == ["EVALSHA"]
        client.sent.clear()
        guard.before("GET", "/x")  # a new batch
        guard.after(None, {}, True)  # a timeout counts three failures: one script, and the batch is dropped
        guard.before("GET", "/x")
        assert client.sent == ["EVALSHA"] * 3
        client.sent.clear()
        clock.now += QUICK.spend_for  # what is left of a batch lapses
        guard.before("GET", "/x")
        assert client.sent == ["EVALSHA"]
    finally:
        client.delete(*client.scan_iter(f"{prefix}*"))
        client.close()


def test_a_batch_shrinks_to_one_turn_as_the_window_fills_and_unspent_turns_count_as_made(clock):
    """Turns taken for later count in every process's window whether spent or not: Baton never
    goes over its share, it may only leave some of it unused."""
    backend = RedisBackend(redis.Redis.from_url(REDIS_URL), f"baton:test:{uuid.uuid4().hex}:")
    budget = Budget.of(200, 60, QUICK)  # 100 calls a minute
    taken = []
    while (admitted := backend.admit("i", clock.now, budget, 0.0, 30.0, 8, 1.0))[0] == "ok":
        taken.append(admitted[3])
    assert taken[0] == 8 and taken == sorted(taken, reverse=True) and taken[-50:] == [1] * 50
    assert sum(taken) == 100  # spent or not, the whole share, then refused
    # the single turns leave the window a minute later; the batches count as made a second later
    # (the end of the time they might be spent in), and leave it a second after them
    assert backend.admit("i", clock.now + 60, budget, 0.0, 30.0, 8, 1.0)[3] == 1
    assert backend.admit("i", clock.now + 61, budget, 0.0, 30.0, 8, 1.0)[3] == 8
    backend.client.close()


def test_a_batch_the_calls_left_unspent_makes_the_next_one_smaller(clock):
    """Unspent turns are Baton's share lost for a window: a process asks for twice what its last
    batch served."""
    backend = RedisBackend(redis.Redis.from_url(REDIS_URL), f"baton:test:{uuid.uuid4().hex}:")
    inst = installation()
    guard = Guards(backend, QUICK, clock, clock.sleep).guard(inst)
    counted = lambda: backend.client.zcard(backend._key(inst.id, "calls"))  # noqa: E731
    guard.before("GET", "/x")
    assert counted() == QUICK.batch  # nothing known of this process's calls yet: a whole batch
    clock.now += QUICK.spend_for  # one call served, the rest lapsed
    guard.before("GET", "/x")
    assert counted() == QUICK.batch + 2
    guard.before("GET", "/x")
    guard.before("GET", "/x")  # both served: the next batch asks for 4
    assert counted() == QUICK.batch + 2 + 4
    backend.client.delete(backend._key(inst.id, "calls"))
    backend.client.close()


def test_another_process_sees_a_429_once_its_batch_lapses_and_the_limited_one_at_once(books, clock):
    inst = installation()
    first, second = books().guard(inst), books().guard(inst)
    first.before("GET", "/x")  # with Redis: a batch, most of it left
    first.after(200, {}, False)
    limited(second)
    with pytest.raises(Held):
        second.before("GET", "/x")
    clock.now += QUICK.spend_for
    with pytest.raises(Held):
        first.before("GET", "/x")


# the circuit breaker (O3)

def fail(guard: Any, times: int, status: int | None = 503) -> None:
    for _ in range(times):
        guard.before("GET", "/x")
        guard.after(status, {}, True)


def test_failures_within_the_window_break_the_circuit_and_one_probe_per_interval_tests_it(books, clock):
    inst = installation()
    first, second = books().guard(inst), books().guard(inst)
    fail(first, 4)
    clock.now += 61  # older failures leave the window
    fail(second, QUICK.failures - 1)
    first.before("GET", "/x")  # four in the window: still closed
    first.after(None, {}, True)  # the fifth: a timeout
    with pytest.raises(CircuitOpen) as refused:
        second.before("GET", "/x")
    assert refused.value.transient and refused.value.retry_after == pytest.approx(QUICK.first_interval)
    clock.now += QUICK.first_interval
    first.before("GET", "/x")  # the probe
    for guard in (first, second):  # exactly one, whichever process asks
        with pytest.raises(CircuitOpen):
            guard.before("GET", "/x")
    first.after(502, {}, True)  # it failed: broken twice as long
    clock.now += QUICK.first_interval
    with pytest.raises(CircuitOpen) as refused:
        second.before("GET", "/x")
    assert refused.value.retry_after == pytest.approx(QUICK.first_interval)
    clock.now += QUICK.first_interval
    second.before("GET", "/x")  # the next probe, from the other process
    second.after(200, {}, False)  # it answered: closed
    for guard in (first, second, first):
        guard.before("GET", "/x")
        guard.after(200, {}, False)


def test_the_probe_interval_doubles_up_to_its_cap(books, clock):
    guard = books().guard(installation())
    fail(guard, QUICK.failures)
    intervals = []
    for _ in range(4):
        with pytest.raises(CircuitOpen) as refused:
            guard.before("GET", "/x")
        intervals.append(refused.value.retry_after)
        clock.now += refused.value.retry_after
        fail(guard, 1)  # the probe fails
    assert intervals == pytest.approx([30.0, 60.0, 120.0, 120.0])


def test_a_probe_the_budget_refuses_leaves_the_probe_to_the_next_call(books, clock):
    inst = installation()
    guard = books(dataclasses.replace(QUICK, max_wait=0.0)).guard(inst)
    fail(guard, QUICK.failures)
    clock.now += QUICK.first_interval
    while guard.backend.take(inst.id, clock.now, guard.default, 0.0) >= 0:  # spend the budget, no probe
        pass
    with pytest.raises(ApiRateLimited) as e:
        guard.before("GET", "/x")  # granted the probe, refused a token: no call made
    clock.now += e.value.retry_after + 0.001
    guard.before("GET", "/x")  # so this one is the probe, not refused by the breaker
    guard.after(200, {}, False)
    clock.now += 1
    guard.before("GET", "/x")  # closed


def test_two_calls_without_an_answer_break_the_circuit_where_it_takes_five_errors(books, clock):
    """A hanging helpdesk holds a worker for the whole read timeout: it must not take five of them
    (bench/load.py --chaos blackhole)."""
    answering, hanging = installation(), installation()
    fail(books().guard(answering), QUICK.failures - 1)  # four 503s, answered at once: still closed
    books().guard(answering).before("GET", "/x")
    fail(books().guard(hanging), 2, status=None)  # two timeouts
    with pytest.raises(CircuitOpen):
        books().guard(hanging).before("GET", "/x")


def test_another_installations_breaker_stays_closed(books, clock):
    broken, other = installation(), installation()
    fail(books().guard(broken), QUICK.failures)
    with pytest.raises(CircuitOpen):
        books().guard(broken).before("GET", "/x")
    books().guard(other).before("GET", "/x")


# the hold after a helpdesk's 429: one probe per Retry-After across every process

def limited(guard: Any, retry_after: str = "30") -> None:
    """One call the helpdesk answers 429."""
    guard.before("GET", "/x")
    guard.after(429, {"Retry-After": retry_after}, False)


def test_a_429_holds_every_process_until_retry_after_then_lets_exactly_one_probe_go(books, clock):
    inst, other = installation(), installation()
    first, second = books().guard(inst), books().guard(inst)
    limited(first)
    for guard in (first, second):  # before Retry-After: no call, in any process
        with pytest.raises(Held) as held:
            guard.before("GET", "/x")
        assert held.value.retry_after == pytest.approx(30)
    books().guard(other).before("GET", "/x")  # another installation is not held
    clock.now += 30
    second.before("GET", "/x")  # the probe, whichever process asks first
    for guard in (first, second, books().guard(inst)):  # the others wait for its answer
        with pytest.raises(Held):
            guard.before("GET", "/x")
    second.after(429, {"Retry-After": "45"}, False)  # still limited: held until the new Retry-After
    clock.now += 44
    with pytest.raises(Held) as held:
        first.before("GET", "/x")
    assert held.value.retry_after == pytest.approx(1)
    clock.now += 1
    first.before("GET", "/x")  # the next probe
    with pytest.raises(Held):
        second.before("GET", "/x")
    first.after(200, {}, False)  # answered: the hold is lifted for every process
    for guard in (second, first, second):
        guard.before("GET", "/x")
        guard.after(200, {}, False)


def test_a_probe_without_an_answer_or_refused_by_the_budget_leaves_the_probe_to_the_next_call(books, clock):
    inst = installation()
    guard = books(dataclasses.replace(QUICK, max_wait=0.0)).guard(inst)
    limited(guard, "10")
    clock.now += 10
    guard.before("GET", "/x")  # the probe
    guard.after(None, {}, True)  # a timeout: no answer, the hold stays
    guard.before("GET", "/x")  # so the next call probes at once
    guard.after(503, {}, True)  # answered (not a 429): lifted; the breaker counts the 503 as it would
    guard.before("GET", "/x")
    guard.after(200, {}, False)
    limited(guard, "10")
    clock.now += 10
    while guard.backend.take(inst.id, clock.now, guard.default, 0.0) >= 0:  # spend the budget
        pass
    with pytest.raises(ApiRateLimited) as deferred:
        guard.before("GET", "/x")  # granted the probe, refused a turn: no call made
    assert not isinstance(deferred.value, Held)
    clock.now += deferred.value.retry_after + 0.001
    guard.before("GET", "/x")  # the probe again, not held
    guard.after(200, {}, False)


def test_a_probe_whose_process_died_lapses_after_its_lease(books, clock):
    inst = installation()
    limited(books().guard(inst))
    clock.now += 30
    books().guard(inst).before("GET", "/x")  # the probe; its process dies before the answer
    with pytest.raises(Held) as held:
        books().guard(inst).before("GET", "/x")
    assert held.value.retry_after == pytest.approx(QUICK.probe_lease)
    clock.now += QUICK.probe_lease
    books().guard(inst).before("GET", "/x")  # the next probe


def test_the_drain_may_release_one_parked_step_per_retry_after_and_all_once_the_probe_answers(books, clock):
    inst, other = installation(), installation()
    guards = books()
    guard = guards.guard(inst)
    assert guards.parked(inst.id) == ALL  # never limited
    limited(guard)
    assert guards.parked(inst.id) == NONE and guards.parked(other.id) == ALL
    clock.now += 30
    assert [guards.parked(inst.id) for _ in range(3)] == [ONE, NONE, NONE]  # one probe for this Retry-After
    guard.before("GET", "/x")  # the released step makes its call: the probe
    assert guards.parked(inst.id) == NONE
    guard.after(429, {"Retry-After": "30"}, False)
    assert guards.parked(inst.id) == NONE  # held again
    clock.now += 30
    assert guards.parked(inst.id) == ONE  # the next Retry-After's probe
    clock.now += QUICK.probe_lease  # released, and it never called (a duplicate event, a lost task)
    assert [guards.parked(inst.id) for _ in range(2)] == [ONE, NONE]
    guard.before("GET", "/x")
    guard.after(200, {}, False)  # the probe answered
    assert guards.parked(inst.id) == ALL


# on each helpdesk's sandbox: what the API sees

@pytest.fixture(params=connectors.KEYS)
def sandbox(request):
    driver = connectors.driver(request.param)()
    driver.start()
    setup = driver.setup()
    inst = Installation(f"inst-{uuid.uuid4().hex[:12]}", request.param, driver.url, setup.credentials, "secret",
                        settings=setup.settings)
    yield driver, inst
    driver.stop()


def test_an_open_breaker_makes_no_call_and_a_4xx_or_429_never_opens_it(sandbox, clock):
    driver, inst = sandbox
    guards = Guards(MemoryBackend(), QUICK, clock, clock.sleep)
    client = connectors.get(inst.provider).client(inst, guard=guards.guard(inst))
    driver.fail(3 * QUICK.failures, 404)
    for _ in range(3 * QUICK.failures):
        with pytest.raises(ApiNotFound):
            client.probe()
    driver.throttle(3 * QUICK.failures, retry_after=1)
    for _ in range(3 * QUICK.failures):
        with pytest.raises(ApiRateLimited) as limited:
            client.probe()
        assert not isinstance(limited.value, Held)  # the helpdesk's own 429 (each call the hold's probe)
        clock.now += 1  # Retry-After
    client.probe()  # the helpdesk answered every time: still closed
    driver.fail(QUICK.failures, 503)
    for _ in range(QUICK.failures):
        with pytest.raises(ApiHostError) as e:
            client.probe()
        assert not isinstance(e.value, CircuitOpen)  # the helpdesk's own 503s
    made = len(driver.api_log())
    for _ in range(10):
        with pytest.raises(CircuitOpen):
            client.probe()
    assert len(driver.api_log()) == made  # broken: the helpdesk heard nothing
    clock.now += QUICK.first_interval
    client.probe()  # the probe answers: closed
    client.probe()
    assert len(driver.api_log()) == made + 2


def test_with_redis_down_calls_still_go_and_it_is_logged_once(sandbox, caplog):
    driver, inst = sandbox
    guards = Guards.redis("redis://127.0.0.1:1/0")  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="baton.quota"):
        for _ in range(3):
            connectors.get(inst.provider).client(inst, guard=guards.guard(inst)).probe()
    assert len(driver.api_log()) == 3
    assert [r.message for r in caplog.records].count("quota.redis-unavailable") == 1


# the pipeline on each helpdesk's sandbox

def follow(desk: Any) -> Guards:
    """The desk's pipeline with guards on its own clock (the breaker's window and intervals)."""
    guards = Guards(MemoryBackend(), QUICK,
                    lambda: desk.clock.now.timestamp(), desk.clock.advance)
    desk.pipe.guards = guards
    return guards


def test_a_5xx_storm_holds_the_installation_until_it_recovers_then_everything_lands_once(desk):
    follow(desk)
    first, _, (held,) = desk.decide()
    second = desk.driver.new_conversation(HUMAN)
    eid = desk.event(second)
    desk.driver.fail(1000, 503)  # the helpdesk goes down
    with pytest.raises(RetryLater):
        desk.pipe.send(held)  # failure 1
    for _ in range(QUICK.failures - 1):  # failures 2 to 5: the breaker opens
        with pytest.raises(RetryLater):
            desk.pipe.process_event(eid)
    made = len(desk.driver.api_log())
    for _ in range(MAX_ATTEMPTS + 2):  # while broken: waits for the probe without calls, never a dead letter
        with pytest.raises(RetryLater) as e:
            desk.pipe.process_event(eid)
        assert QUICK.first_interval <= e.value.delay <= QUICK.first_interval + 1
    desk.clock.advance(5)  # the write-back's own backoff after its failure has passed, not the interval
    with pytest.raises(RetryLater):
        desk.pipe.deliver(held.row.id)
    assert len(desk.driver.api_log()) == made
    assert desk.store.events.get(eid).status != "dead" and desk.store.events.get(eid).attempts == QUICK.failures - 1
    desk.driver.fail(0, 503)  # it recovers
    desk.clock.advance(QUICK.first_interval + 1)
    assert desk.pipe.deliver(held.row.id) == "sent"  # the probe: it closes the breaker
    (again,) = desk.pipe.process_event(eid)
    assert desk.pipe.send(again) == "sent"
    assert len(desk.driver.notes(first)) == 1 and len(desk.driver.notes(second)) == 1
    assert desk.store.events.get(eid).status == "processed"


def test_the_loop_breaker_stops_the_eleventh_write_to_one_ticket_and_only_that_ticket(desk, caplog):
    follow(desk)
    cid, _, (held,) = desk.decide()
    assert desk.pipe.send(held) == "sent"
    for n in range(1, LOOP_CAP):  # each new customer message is one more note: writes 2 to 10
        desk.driver.say(cid, f"Hello? Still nobody? This is message {n} and I want my money back")
        (note,) = desk.pipe.process_event(desk.event(cid))
        assert desk.pipe.send(note) == "sent"
    desk.driver.say(cid, "Hello??? Anyone??? I want my money back NOW")
    (eleventh,) = desk.pipe.process_event(desk.event(cid))
    writes = len(desk.driver.writes(cid))
    with caplog.at_level(logging.WARNING, logger="baton.pipeline"):
        assert desk.pipe.send(eleventh) == "dead"
    assert len(desk.driver.writes(cid)) == writes and len(desk.driver.notes(cid)) == LOOP_CAP
    (row,) = desk.store.rows(outbox, id=eleventh.row.id)
    assert (row["status"], row["last_error"]) == ("dead", LOOP_REASON)
    (logged,) = [r for r in caplog.records if r.message == "baton.loop-breaker"]
    assert (logged.installation, logged.ticket) == (desk.inst.id, cid)
    # another ticket of the same installation is written as usual
    other, _, (handoff,) = desk.decide()
    assert desk.pipe.send(handoff) == "sent" and len(desk.driver.notes(other)) == 1
    assert desk.store.events.replay(desk.inst.id) == (0, 1)  # the console's Retry gives it another chance
