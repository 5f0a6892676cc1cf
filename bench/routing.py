"""Routing decision latency with a large roster. Prints figures; asserts nothing.

    .venv/bin/python bench/routing.py [--agents 5000] [--groups 200]

Target (issue #5): p99 ≤ 5 ms per routing decision with 5,000 agents and 200 groups.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time as clock
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integration.core.engine import evaluate  # noqa: E402
from integration.core.model import Conversation, Customer, Message, Role  # noqa: E402
from integration.core.routing import Agent, BusinessHours, CategoryRoute, Group, Roster, RoutingRule, route  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=5000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--decisions", type=int, default=5000)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    rng = random.Random(3)
    now = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)
    hours = BusinessHours("Europe/Paris", {d: ((time(8), time(20)),) for d in ("mon", "tue", "wed", "thu", "fri")},
                          holidays_country="FR")
    groups = {f"g{i}": Group(f"g{i}", f"Group {i}", hours if i % 2 else None, rng.randint(0, 20),
                             tuple(rng.uniform(1, 30) for _ in range(20))) for i in range(args.groups)}
    skills = ["billing", "legal", "tech", "accounts", "security"]
    agents = tuple(
        Agent(f"a{i}", groups=frozenset(rng.sample(sorted(groups), 2)), skills=frozenset(rng.sample(skills, 2)),
              languages=frozenset(rng.sample(["en", "es", "fr", "de", "pt"], 2)), online=rng.random() < 0.7,
              capacity=5, load=rng.randint(0, 6), idle_since=now - timedelta(minutes=rng.randint(0, 600)))
        for i in range(args.agents))
    roster = Roster(agents, groups)
    rule = RoutingRule(categories={"billing_dispute": CategoryRoute("g1", ("billing",)), "legal": CategoryRoute("g2", ("legal",))},
                       segments={"vip": "g3"}, tiers={"3": "g4"}, default_group="g5")
    convs = []
    for i in range(200):
        text = rng.choice(["I was charged twice!!", "I want to talk to a human", "My lawyer will call you", "the app is down"])
        customer = Customer(tier=rng.choice([None, "vip"]), language=rng.choice(["en", "es", "fr"]), timezone="America/New_York")
        c = Conversation(str(i), (Message(Role.CUSTOMER, text),), customer)
        convs.append((c, evaluate(c), [f"a{rng.randrange(args.agents)}"]))
    for c, d, prev in convs[:20]:
        route(d, c, roster, rule, now, prev)  # warm up
    lat = []
    for n in range(args.decisions):
        c, d, prev = convs[n % len(convs)]
        t = clock.perf_counter()
        route(d, c, roster, rule, now + timedelta(minutes=n), prev)
        lat.append((clock.perf_counter() - t) * 1000)
    lat.sort()
    print(f"{args.agents} agents, {args.groups} groups, {args.decisions} routing decisions on one core: "
          f"p50 {statistics.median(lat):.3f} ms, p99 {lat[int(0.99 * len(lat))]:.3f} ms, max {lat[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
