"""Engine speed and memory on one core. Prints figures; asserts nothing.

    .venv/bin/python bench/engine.py [DEV_JSONL] [--runs 5]

Times are the CPU time of this process (``time.process_time``), pinned to one core, and each
throughput is the best of ``--runs`` runs: on a machine shared with other work, wall-clock time
measures the neighbours as much as the engine.

1. real-looking conversations, first evaluation: a bot's greeting and the customer's first
   message, the messages taken from the multilingual suite (tests/engine/suite: requests,
   refusals, "are you a bot?" and routine messages in ten languages) and routine English ones;
   - cold: every cache the engine keeps (texts and words) emptied before the run, as in a worker
     that has just started;
   - cold messages: the caches of whole texts emptied, those of single words (typing mistakes,
     the topics' vocabulary) kept, as in a worker that has run for a while and meets new messages;
2. the dev set (../shared/data/escalation_dev.jsonl when present): the same two figures, and warm;
3. 50-turn conversations, evaluated after each new customer message as the worker does: latency of
   one evaluation, p50/p99 (CPU time of that evaluation), with warm caches (the same worker saw the
   earlier messages) and the whole conversation cold;
4. peak memory of the process.
Targets (issue 21): ≥ 5,000 first evaluations/s cold on one core; ≤ 5 ms p99 for a new message in
a 50-turn conversation; ≤ 150 MiB peak memory.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration.core.engine import classifier, evaluate, explicit, language, loop, sentiment, text, topic  # noqa: E402
from integration.core.model import Conversation, Message, Role  # noqa: E402
from integration.core.rules import DEFAULT_RULES  # noqa: E402
from integration.tools.evaluate import conversation_from_dict  # noqa: E402

# caches of whole texts: a new message misses them
MESSAGE_CACHES = [text.fold, text.tokens, text.shingles, explicit.analyse, explicit.written_in, sentiment.mood, loop.bot_failed,
                  loop.customer_corrected, loop._progressed, language.guess, classifier._text_features, topic._corrected]
# caches of single words: a worker that has run a while has most of them
WORD_CACHES = [explicit._word, explicit._typo, explicit.concept]

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
GREETING = "Hi! I'm the virtual assistant. How can I help you today?"


def clear(word_caches: bool) -> None:
    for f in MESSAGE_CACHES + (WORD_CACHES if word_caches else []):
        f.cache_clear()
    if word_caches:
        topic._prepared(DEFAULT_RULES.topics)[1].lookup.cache_clear()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def best_rate(convs: list[Conversation], runs: int, before: Callable[[], None]) -> tuple[float, list[float]]:
    """Evaluations per CPU-second, the best of ``runs`` runs, and the per-evaluation CPU times
    (ms) of that run."""
    best, times = 0.0, []
    for _ in range(runs):
        before()
        gc.collect()
        run: list[float] = []
        clock = time.process_time
        start = clock()
        for c in convs:
            t = clock()
            evaluate(c)
            run.append((clock() - t) * 1000)
        rate = len(convs) / (clock() - start)
        if rate > best:
            best, times = rate, run
    return best, times


def suite_messages() -> list[str]:
    out = []
    for path in sorted((ROOT / "tests/engine/suite").glob("*.txt")):
        out += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith(("#", "["))]
    return out


def bench_first(runs: int) -> None:
    rng = random.Random(3)
    texts = suite_messages() + [rng.choice(CUSTOMER).format(n=rng.randint(1000, 9999)) for _ in range(400)]
    convs = [Conversation(f"first-{i}", (Message(Role.BOT, GREETING), Message(Role.CUSTOMER, t))) for i, t in enumerate(texts)]
    print(f"real-looking conversations, first evaluation ({len(convs):,}: a greeting and a first message in ten languages)")
    rate, times = best_rate(convs, runs, lambda: clear(True))
    print(f"  cold: {rate:,.0f}/s (p50 {statistics.median(times):.3f} ms, p99 {pct(times, 0.99):.2f} ms)")
    rate, _ = best_rate(convs, runs, lambda: clear(False))
    print(f"  cold messages, words known: {rate:,.0f}/s")


def bench_dev(path: Path, runs: int) -> None:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    convs = [conversation_from_dict(r) for r in rows]
    print(f"dev set: {len(convs):,} conversations")
    rate, _ = best_rate(convs, runs, lambda: clear(True))
    print(f"  cold: {rate:,.0f}/s")
    rate, _ = best_rate(convs, runs, lambda: clear(False))
    print(f"  cold messages, words known: {rate:,.0f}/s")
    rate, _ = best_rate(convs, runs, lambda: None)
    print(f"  warm: {rate:,.0f}/s")


def long_conversations(count: int, turns: int, rng: random.Random) -> list[list[Message]]:
    out = []
    for c in range(count):
        msgs = []
        for t in range(turns):
            msgs.append(Message(Role.CUSTOMER, rng.choice(CUSTOMER).format(n=rng.randint(1000, 9999)) + f" ({c}-{t})"))
            msgs.append(Message(Role.BOT, rng.choice(BOT)))
        out.append(msgs)
    return out


def bench_long(turns: int = 50, count: int = 40) -> None:
    rng = random.Random(7)
    convs = long_conversations(count, turns, rng)
    clock = time.process_time
    warm: list[float] = []
    cold_last: list[float] = []
    clear(True)
    gc.collect()
    for i, msgs in enumerate(convs):
        for n in range(2, len(msgs) + 1, 2):  # after each customer message + bot reply
            c = Conversation(f"long-{i}", tuple(msgs[:n - 1]))
            t = clock()
            evaluate(c)
            warm.append((clock() - t) * 1000)
    for i, msgs in enumerate(convs):
        clear(True)
        c = Conversation(f"long-{i}", tuple(msgs[:-1]))
        t = clock()
        evaluate(c)
        cold_last.append((clock() - t) * 1000)
    at_50 = warm[turns - 1 :: turns]
    print(f"{count} conversations of {turns} customer turns ({2 * turns} messages):")
    print(f"  one new message, warm caches, all turns: p50 {statistics.median(warm):.2f} ms, p99 {pct(warm, 0.99):.2f} ms")
    print(f"  one new message, warm caches, turn {turns}: p50 {statistics.median(at_50):.2f} ms, p99 {pct(at_50, 0.99):.2f} ms")
    print(f"  whole {turns}-turn conversation, cold caches: p50 {statistics.median(cold_last):.2f} ms, p99 {pct(cold_last, 0.99):.2f} ms")
    print(f"  evaluations/s in long conversations (warm): {1000 / statistics.mean(warm):,.0f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dev", nargs="?", default=str(ROOT.parent / "shared/data/escalation_dev.jsonl"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(f"pinned to one core (cpu {min(os.sched_getaffinity(0))}); CPU time, best of {args.runs} runs")
    except (AttributeError, OSError):
        print("could not pin to one core; figures are for the whole machine")
    evaluate(Conversation("warmup", (Message(Role.CUSTOMER, "hello"),)))  # load model + VADER once
    bench_first(args.runs)
    dev = Path(args.dev)
    if dev.exists():
        bench_dev(dev, args.runs)
    else:
        print(f"dev set not found at {dev}; skipped")
    bench_long()
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
