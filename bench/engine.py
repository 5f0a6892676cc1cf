"""Engine speed and memory on one core. Prints figures; asserts nothing.

    .venv/bin/python bench/engine.py [DEV_JSONL]

1. the dev set (../shared/data/escalation_dev.jsonl when present): evaluations per second;
2. 50-turn conversations, evaluated after each new customer message as the worker does:
   latency of one evaluation, p50/p99, with warm caches (the same worker saw the earlier
   messages) and cold caches (every message analysed from scratch);
3. peak memory of the process.
Targets (issue #2): ≤ 5 ms p99 per new message in a 50-turn conversation; ≥ 500 evaluations/s.
"""
from __future__ import annotations

import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration.core.engine import evaluate, explicit, language, loop, sentiment, text  # noqa: E402
from integration.core.engine import classifier  # noqa: E402
from integration.tools.evaluate import conversation_from_dict  # noqa: E402
from integration.core.model import Conversation, Message, Role  # noqa: E402

CACHED = [text.fold, text.tokens, text.shingles, explicit.match, explicit.concept, sentiment.mood,
          loop.bot_failed, loop.customer_corrected, language.guess, classifier._text_features]

CUSTOMER = [
    "I was charged twice for my subscription this month", "Can you check my order {n}?",
    "It still doesn't work after the restart", "where is my parcel, it was due on Monday",
    "ok thanks", "I already tried clearing the cache", "How do I change my billing address?",
    "This is getting really frustrating", "The app crashes when I open settings",
    "Can I get an invoice for order {n}?",
]
BOT = [
    "Sorry, I couldn't find that order. Could you check the number?", "Please restart the app and try again.",
    "Your parcel is on its way and should arrive in 2 days.", "You can change it under Settings → Billing.",
    "I understand. Let me look into that for you.",
]


def clear_caches() -> None:
    for f in CACHED:
        f.cache_clear()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def long_conversations(count: int, turns: int, rng: random.Random) -> list[list[Message]]:
    out = []
    for c in range(count):
        msgs = []
        for t in range(turns):
            msgs.append(Message(Role.CUSTOMER, rng.choice(CUSTOMER).format(n=rng.randint(1000, 9999)) + f" ({c}-{t})"))
            msgs.append(Message(Role.BOT, rng.choice(BOT)))
        out.append(msgs)
    return out


def bench_dev(path: Path) -> None:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    convs = [conversation_from_dict(r) for r in rows]
    clear_caches()
    t = time.perf_counter()
    for c in convs:
        evaluate(c)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for c in convs:
        evaluate(c)
    warm = time.perf_counter() - t
    print(f"dev set: {len(convs)} conversations")
    print(f"  evaluations/s, cold caches: {len(convs) / cold:,.0f}")
    print(f"  evaluations/s, warm caches: {len(convs) / warm:,.0f}")


def bench_long(turns: int = 50, count: int = 40) -> None:
    rng = random.Random(7)
    convs = long_conversations(count, turns, rng)
    warm: list[float] = []
    cold_last: list[float] = []
    clear_caches()
    for i, msgs in enumerate(convs):
        for n in range(2, len(msgs) + 1, 2):  # after each customer message + bot reply
            c = Conversation(f"long-{i}", tuple(msgs[:n - 1]))
            t = time.perf_counter()
            evaluate(c)
            warm.append((time.perf_counter() - t) * 1000)
    for i, msgs in enumerate(convs):
        clear_caches()
        c = Conversation(f"long-{i}", tuple(msgs[:-1]))
        t = time.perf_counter()
        evaluate(c)
        cold_last.append((time.perf_counter() - t) * 1000)
    at_50 = warm[turns - 1 :: turns]
    print(f"{count} conversations of {turns} customer turns ({2 * turns} messages):")
    print(f"  one new message, warm caches, all turns: p50 {statistics.median(warm):.2f} ms, p99 {pct(warm, 0.99):.2f} ms")
    print(f"  one new message, warm caches, turn {turns}: p50 {statistics.median(at_50):.2f} ms, p99 {pct(at_50, 0.99):.2f} ms")
    print(f"  whole {turns}-turn conversation, cold caches: p50 {statistics.median(cold_last):.2f} ms, p99 {pct(cold_last, 0.99):.2f} ms")
    print(f"  evaluations/s in long conversations (warm): {1000 / statistics.mean(warm):,.0f}")


def main() -> int:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(f"pinned to one core (cpu {min(os.sched_getaffinity(0))})")
    except (AttributeError, OSError):
        print("could not pin to one core; figures are for the whole machine")
    evaluate(Conversation("warmup", (Message(Role.CUSTOMER, "hello"),)))  # load model + VADER once
    dev = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/escalation_dev.jsonl"
    if dev.exists():
        bench_dev(dev)
    else:
        print(f"dev set not found at {dev}; skipped")
    bench_long()
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
