"""Feedback-loop and analytics figures. Prints figures; asserts nothing.

    .venv/bin/python bench/analytics.py [--only suggestions|report] [--cases 50000] [--lookups 2000] [--replay 5000]
                                        [--rows 100000] [--runs 20] [--database URL]

suggestion_bench: the suggested resolutions (``integration/core/suggest.py``) over ``--cases``
resolved escalations of one installation: index build time and memory, lookup latency per
escalation (p50/p99 on one core; target p99 ≤ 10 ms with 50,000 cases), the worst case (a pasted
log), the replay hit rate and coverage, the floor sweep that chose ``suggest.FLOOR``, and the
rebuild of an installation's index from the database (``Suggester``: read + build, what the first
handoff after the index expired waits for; SQLite in a temporary folder unless ``--database``).
The texts are synthetic but varied: a dozen intents, each said several ways, with typing mistakes,
filler, names and order numbers, and lengths from three words to long emails, each intent resolved
one of several ways.

report_bench: the handoff metrics of the analytics page (``integration/core/analytics.py``) over
``--rows`` outcomes of one installation in the last 90 days, read through ``reports.handoff_report``
(the closed days' rollups + the open days' outcomes, ``OutcomeRepository.tallies``, then ``figures.summarize``)
and ``tables``, as the page does: p50/p95 over ``--runs`` runs (target p95 ≤ 0.25 s, issue 22), one
run with the read and the build apart, the same report from every outcome (what it was before the
rollups), the rebuild of the rollups (``python -m integration rollups --rebuild``), and what
recording an outcome costs on an open day and on a closed one (its rollup moved in the same
transaction).
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import string
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Sequence, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from integration.core import suggest  # noqa: E402
from integration.service.store import Store, Vault, outcomes  # noqa: E402
from integration.service.reports import _quiet_gc, handoff_report, topic_labels  # noqa: E402
from integration.service.suggestions import CASES, Suggester  # noqa: E402

# intent → (ways the customer says it, {resolution type: (weight, the agent's answer)})
INTENTS: dict[str, tuple[list[str], dict[str, tuple[int, str]]]] = {
    "double_charge": (
        ["I was charged twice for order {n}", "you billed my card two times this month",
         "there is a duplicate payment on my credit card statement", "double charge on my account, please fix",
         "why did you take the money twice for the same invoice"],
        {"refund issued": (8, "Refunded the duplicate charge; it shows on the card in 5-10 days."),
         "billing adjustment": (2, "Voided the second invoice and credited the account.")}),
    "refund_request": (
        ["I want a refund for my subscription", "please refund the annual plan, I no longer use it",
         "can I get my money back for order {n}", "I cancelled within 14 days, where is my refund",
         "the product arrived broken and I want a full refund"],
        {"refund issued": (7, "Issued a full refund under the 30-day guarantee."),
         "policy exception": (3, "Outside the refund window; refunded as a one-time exception.")}),
    "password_reset": (
        ["I can't log in, the password reset email never arrives", "reset password link is expired",
         "how do I reset my password", "locked out of my account after too many login attempts",
         "the two-factor code does not work and I cannot sign in"],
        {"account change": (6, "Unlocked the account and sent a fresh reset link."),
         "how-to answered": (4, "Explained the reset flow; the email was in the spam folder.")}),
    "delivery_late": (
        ["where is my order {n}", "my package has not arrived after two weeks",
         "tracking says delivered but nothing here",
         "the parcel is stuck in customs", "order {n} still not shipped, it has been ten days"],
        {"no action needed": (5, "The parcel was delivered the next day; nothing to do."),
         "policy exception": (3, "Reshipped the order free of charge."),
         "refund issued": (2, "The carrier lost it; refunded the order.")}),
    "address_change": (
        ["how do I change my delivery address", "I moved, please update the shipping address on order {n}",
         "wrong address on my order, can you fix it before it ships"],
        {"account change": (7, "Updated the shipping address before dispatch."),
         "how-to answered": (3, "Showed how to edit the address under Settings > Addresses.")}),
    "app_crash": (
        ["the app crashes when I open the settings page", "your app is down again, nothing loads",
         "error 500 every time I try to upload a file", "the mobile app freezes on startup since the update",
         "checkout page shows a blank screen"],
        {"bug or incident": (9, "Known incident INC-{n}; fixed in the 4.2 release, cache cleared."),
         "how-to answered": (1, "Reinstalling the app cleared the corrupted cache.")}),
    "invoice_question": (
        ["can you explain the invoice for {n}", "why is my bill higher this month",
         "I need a VAT invoice for my company",
         "the invoice shows the wrong company name", "what is this extra fee on my invoice"],
        {"billing adjustment": (5, "Corrected the invoice and sent a new PDF."),
         "how-to answered": (5, "Explained the prorated charge after the plan upgrade.")}),
    "cancel_account": (
        ["I want to cancel my subscription", "please delete my account and all my data",
         "how do I close my account", "stop renewing my plan, I am leaving"],
        {"account change": (8, "Cancelled the subscription; access remains until the end of the term."),
         "policy exception": (2, "Cancelled mid-term and prorated the remaining months.")}),
    "feature_howto": (
        ["how do I export my data to csv", "can I share a project with my team",
         "is there a dark mode", "how to connect the calendar integration", "where do I find the API key"],
        {"how-to answered": (9, "Pointed to the help article and walked through the steps."),
         "no action needed": (1, "The customer found it themselves.")}),
    "security": (
        ["my account was hacked, someone changed my email", "I see logins from a country I have never been to",
         "someone used my card on your site", "suspicious password reset emails I did not request"],
        {"account change": (7, "Secured the account: sessions revoked, email restored, 2FA enforced."),
         "refund issued": (3, "Reversed the fraudulent charges.")}),
    "discount": (
        ["the discount code {n} does not work", "I was promised 20% off but paid full price",
         "promo code says expired but the email says valid until Friday"],
        {"billing adjustment": (6, "Applied the promotion retroactively as a credit."),
         "policy exception": (4, "Honoured the expired code as a goodwill gesture.")}),
    "legal": (
        ["my lawyer will contact you about this", "I will report you to the consumer protection agency",
         "this is a breach of contract and I want compensation"],
        {"policy exception": (6, "Escalated to legal; offered compensation as a settlement."),
         "refund issued": (4, "Refunded in full to close the dispute.")}),
}
FILLER = ["Hi there.", "Hello,", "This is really frustrating!!", "I have been a customer for {years} years.",
          "Please help asap.", "Thanks in advance.", "I already tried what the bot said.", "Can I talk to a human?",
          "My name is {name} and I live in {city}.", "It worked fine last {day}.", "I need this sorted today.",
          "Your chatbot keeps sending me the same article.", "I'm on the {plan} plan.", "ok", "???",
          "I use it on my {device}.", "{name} from {city} here."]
SLOTS = {"name": ["Sam", "Priya", "Jonas", "Maria", "Wei", "Fatima", "Luca", "Chloe", "Tomasz", "Aisha", "Diego",
                  "Emma"],
         "city": ["Leeds", "Lyon", "Austin", "Porto", "Kraków", "Osaka", "Nairobi", "Toronto", "Munich", "Seville"],
         "plan": ["Business", "Starter", "Pro", "Enterprise", "Family"],
         "device": ["iPhone", "Android phone", "laptop", "work PC", "tablet"],
         "day": ["week", "month", "Tuesday", "Friday"], "years": ["two", "five", "ten", "three"]}
START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def typo(word: str, rng: random.Random) -> str:
    """One typing mistake: a swap, a missing letter or a doubled one."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def customer_words(intent: str, rng: random.Random, typos: float = 0.04) -> str:
    """What a customer writes about ``intent``: one to three ways of saying it, filler, sometimes a
    long email, with typing mistakes."""
    says, _ = INTENTS[intent]
    parts = [rng.choice(says) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    parts += rng.sample(FILLER, rng.choice((0, 0, 1, 2, 4)))
    if rng.random() < 0.05:  # a long email
        parts += rng.choices(FILLER, k=30) + [rng.choice(says)]
    rng.shuffle(parts)
    text = " ".join(p.format(n=rng.randint(1000, 99999), **{k: rng.choice(v) for k, v in SLOTS.items()}) for p in parts)
    return " ".join(typo(w, rng) if rng.random() < typos else w for w in text.split())[:2000]


def synthetic_cases(n: int, seed: int = 1, intents: Sequence[str] = ()) -> list[suggest.Case]:
    """``n`` resolved escalations of one installation (about ``intents``, default all), escalated
    two hours apart, each solved a few hours to days later."""
    return [case for _, case in labelled_cases(n, seed, intents)]


def labelled_cases(n: int, seed: int = 1, intents: Sequence[str] = ()) -> list[tuple[str, suggest.Case]]:
    rng = random.Random(seed)
    names = sorted(intents or INTENTS)
    out = []
    for i in range(n):
        intent = rng.choice(names)
        ways = INTENTS[intent][1]
        resolution = rng.choices(list(ways), weights=[w for w, _ in ways.values()])[0]
        escalated = START + timedelta(hours=2 * i)
        out.append((intent, suggest.Case(
            ticket_id=str(10_000 + i), words=customer_words(intent, rng),
            gist=ways[resolution][1].format(n=rng.randint(100, 999)), resolution=resolution,
            url=f"https://acme.zendesk.com/agent/tickets/{10_000 + i}",
            solved_at=escalated + timedelta(hours=rng.randint(1, 96)), escalated_at=escalated)))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def suggestion_bench(cases: int = 50_000, lookups: int = 2000, replay: int = 5000) -> None:
    """Index build time and memory, lookup p50/p99 per escalation, replay hit rate and coverage."""
    history = synthetic_cases(cases)
    gc.collect()
    index, build = _timed(lambda: suggest.Index(history))
    del index
    gc.collect()
    tracemalloc.start()  # a second build, traced (tracing slows it down)
    index = suggest.Index(history)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rng = random.Random(99)
    queries = [customer_words(rng.choice(sorted(INTENTS)), rng) for _ in range(lookups)]
    for q in queries[:50]:  # warm up
        suggest.suggest(index, q)
    latencies, found = [], 0
    for q in queries:
        t = time.perf_counter()
        found += bool(suggest.suggest(index, q))
        latencies.append((time.perf_counter() - t) * 1000)
    print(f"suggestions over {cases:,} resolved cases")
    print(f"  index build   {build:.2f} s, {memory / 2**20:.1f} MiB (tracemalloc: arrays, vocabulary, the cases' shown fields)")
    print(f"  lookup        p50 {statistics.median(latencies):.2f} ms  p99 {percentile(latencies, 0.99):.2f} ms  "
          f"max {max(latencies):.2f} ms over {lookups:,} escalations (target p99 ≤ 10 ms)")
    print(f"  coverage      {found / lookups:.1%} of lookups got a suggestion")
    log = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 12))) for _ in range(400))
    pasted = []
    for _ in range(20):
        t = time.perf_counter()
        suggest.suggest(index, log)
        pasted.append((time.perf_counter() - t) * 1000)
    print(f"  worst case    {statistics.median(pasted):.2f} ms for a pasted 2,000-character log of unknown words "
          f"(typo look-ups capped at {suggest.CORRECTIONS} words)")
    sample = synthetic_cases(replay, seed=2)
    measured, took = _timed(lambda: suggest.hit_rate(sample))
    print(f"  replay        {replay:,} escalations in time order, each against the cases solved before it "
          f"({took:.1f} s): hit rate {measured.hit_rate:.1%}, coverage {measured.coverage:.1%}, "
          f"precision {measured.precision:.1%}")
    floor_sweep()


def floor_sweep(history: int = 5000, queries: int = 2000, unseen: Sequence[str] = ("discount", "legal")) -> None:
    """How the floor was chosen: a history without two intents, asked about the intents it has
    (a suggestion should come, of the same intent) and about the two it never saw (none should)."""
    rng = random.Random(5)
    seen = [name for name in sorted(INTENTS) if name not in unseen]
    labelled = labelled_cases(history, seed=3, intents=seen)
    index = suggest.Index(case for _, case in labelled)
    intent_of = {case.ticket_id: intent for intent, case in labelled}

    def best(intent: str) -> tuple[float, bool]:
        found = index.search(suggest.terms(customer_words(intent, rng)), 1, 0.0)
        if not found:
            return 0.0, False
        i, score = found[0]
        return score, intent_of[index.cases[i].ticket_id] == intent

    related = [best(rng.choice(seen)) for _ in range(queries)]
    unrelated = [best(rng.choice(sorted(unseen)))[0] for _ in range(queries // 2)]
    print(f"  floor sweep   {history:,} cases of {len(seen)} intents; {queries:,} questions about them, "
          f"{queries // 2:,} about {len(unseen)} intents never seen (FLOOR = {suggest.FLOOR})")
    print("    floor  suggested (seen intents)  same intent  suggested (unseen intents)")
    for floor in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        kept = [same for score, same in related if score >= floor]
        print(f"    {floor:.2f}   {len(kept) / len(related):>22.1%}  {sum(kept) / max(1, len(kept)):>11.1%}  "
              f"{sum(score >= floor for score in unrelated) / len(unrelated):>26.1%}")


def suggestion_store_bench(cases: int, database: str | None = None) -> None:
    """An installation's index rebuilt from the outcomes table, as ``Suggester`` does it."""
    url = database or f"sqlite:///{tempfile.mkdtemp(prefix='baton-bench-')}/b.db"
    store = Store(url, Vault(Fernet.generate_key().decode()))
    store.migrate()
    inst = f"bench-{random.randrange(10**9)}"
    rows = [dict(installation_id=inst, ticket_id=c.ticket_id, created_at=c.escalated_at, updated_at=c.solved_at,
                 escalated=True, escalated_at=c.escalated_at, solved_at=c.solved_at, resolution=c.resolution,
                 query_text=c.words, answer_text=c.gist) for c in synthetic_cases(cases, seed=4)]
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(outcomes), rows[start:start + 5000])
    suggester = Suggester(store)
    _, read = _timed(lambda: store.outcomes.resolved_escalations(inst, CASES))
    _, rebuild = _timed(lambda: suggester.index(inst))
    print(f"  rebuild       {rebuild:.2f} s for {cases:,} cases from {store.engine.dialect.name} "
          f"(of which {read:.2f} s reading OutcomeRepository.resolved_escalations)")
    store.engine.dispose()


def seed_outcomes(store: Store, inst_id: str, n: int, now: datetime, seed: int = 3) -> None:
    """``n`` outcomes over the last 90 days, written in bulk: a dozen categories, most with a bot,
    about a third of those handed over, assignments, replies, solves, reopens, ratings, resolution
    types, suggestions, and panel feedback on a fifth of the handoffs."""
    from integration.service.store import feedback

    rng = random.Random(seed)
    names, types = sorted(INTENTS), ["how-to answered", "refund issued", "account change", "bug or incident"]
    signals = ["sentiment", "explicit_request", "loop", "model", "risky_topic:refund"]
    rows, said = [], []
    for i in range(n):
        at = now - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
        bot = rng.random() < 0.85
        escalated = bot and rng.random() < 0.35
        row = dict(installation_id=inst_id, ticket_id=str(i), created_at=at, updated_at=at,
                   channel="messaging" if bot else "email", bot_involved=bot, escalated=escalated,
                   escalated_at=at if escalated else None, category=rng.choice(names),
                   reasons=rng.sample(signals, rng.randint(0, 2)), asked_for_human_later=bot and rng.random() < 0.02,
                   reopens=int(rng.random() < 0.05), suggested=rng.choice(types) if escalated else None,
                   query_text="I was charged twice for order 1234", assigned_at=None, assignee_id=None,
                   first_agent_reply_at=None, answer_text=None, solved_at=None, resolution=None, csat=None, csat_at=None)
        if not bot or escalated:
            assigned = at + timedelta(minutes=rng.uniform(1, 30))
            row.update(assigned_at=assigned, assignee_id=str(rng.randint(1, 40)),
                       first_agent_reply_at=assigned + timedelta(minutes=rng.uniform(1, 20)),
                       answer_text=f"Resolved it the usual way ({rng.randint(1, 60)}).")
        if rng.random() < 0.8 and at < now - timedelta(hours=6):
            row.update(solved_at=at + timedelta(minutes=rng.uniform(2, 600)), resolution=rng.choice(types))
        if rng.random() < 0.3:
            row.update(csat=rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]), csat_at=at + timedelta(hours=8))
        rows.append(row)
        if escalated and rng.random() < 0.2:
            said.append(dict(installation_id=inst_id, ticket_id=str(i), verdict=rng.choice(["right", "not_needed"]),
                             resolution=rng.choice(types), missing_knowledge=None, author_id="1", author_name="bench",
                             created_at=now))
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(outcomes), rows[start:start + 5000])
        if said:
            conn.execute(insert(feedback), said)


def report_bench(rows: int = 100_000, runs: int = 20, database: str | None = None) -> None:
    """The handoff metrics over ``rows`` outcomes of one installation in the last 90 days, as the
    analytics page computes them (SQLite in a temporary folder unless ``database``): p50/p95 over
    ``runs`` runs after a warm-up (target p95 ≤ 0.25 s), each step apart, the report from every
    outcome, the rebuild, and the cost of recording an outcome."""
    from integration.core import analytics

    with tempfile.TemporaryDirectory(prefix="baton-bench-") as home:
        store = Store(database or f"sqlite:///{home}/r.db", Vault(Fernet.generate_key().decode()))
        store.migrate()
        inst = store.installations.add("zendesk", "https://bench.zendesk.com", {"token": "x"})
        now = datetime.now(timezone.utc)
        _, seeded = _timed(lambda: seed_outcomes(store, inst.id, rows, now))
        built, rebuild = _timed(lambda: store.outcomes.rebuild_rollups(inst.id, now.date(), topic_labels(inst)))
        since = now - timedelta(days=90)
        totals, cpu = [], []
        for run in range(runs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            analytics.tables(handoff_report(store, inst.id, now, since))
            if run:  # the first run warms the caches
                totals.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        with _quiet_gc():  # the same read and build apart, then the report from every outcome
            t0 = time.perf_counter()
            got = store.outcomes.tallies(inst.id, now, since, topic_labels(inst))
            t1 = time.perf_counter()
            analytics.tables(analytics.summarize(got, now, since))
            t2 = time.perf_counter()
            every = store.outcomes.rows(inst.id, since=since)
            analytics.tables(analytics.report(every, now, since))
            apart = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        open_day, closed_day = _record_costs(store, inst.id, now)
        store.engine.dispose()
    print(f"analytics report over {rows:,} outcomes of one installation ({store.engine.dialect.name}, "
          f"seeded in {seeded:.1f} s), {runs} runs")
    print(f"  total         p50 {statistics.median(totals):.3f} s  p95 {percentile(totals, 0.95):.3f} s"
          f"  (target p95 ≤ 0.25 s); this process's CPU p50 {statistics.median(cpu):.3f} s  "
          f"p95 {percentile(cpu, 0.95):.3f} s (the database's own work not in it)")
    print(f"  one run apart: read {apart[0]:.3f} s ({len(got):,} tallies), summarize+tables {apart[1]:.3f} s")
    print(f"  from every outcome instead (before the rollups): {apart[2]:.3f} s")
    print(f"  rollups --rebuild  {rebuild:.2f} s, {built:,} rows")
    print(f"  record_outcome     {open_day:.2f} ms on an open day, {closed_day:.2f} ms on a closed day (rollup moved)")


def _record_costs(store: Store, inst_id: str, now: datetime, n: int = 200) -> tuple[float, float]:
    """Milliseconds per ``OutcomeRepository.record``: a new conversation today, and a late rating of a
    conversation of a closed day."""
    rows = store.outcomes.rows(inst_id, since=now - timedelta(days=60))
    old = [r["ticket_id"] for r in rows if r["created_at"] < now - timedelta(days=2)][:n]
    t0 = time.perf_counter()
    for i in range(n):
        store.outcomes.record(inst_id, f"new-{i}", {"bot_involved": True, "category": "billing"}, now)
    t1 = time.perf_counter()
    for i, ticket in enumerate(old):
        store.outcomes.record(inst_id, ticket, {"csat": (i % 5) / 4}, now)
    t2 = time.perf_counter()
    return (t1 - t0) * 1000 / n, (t2 - t1) * 1000 / max(1, len(old))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["suggestions", "report"], help="run one part")
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--replay", type=int, default=5000)
    ap.add_argument("--rows", type=int, default=100_000, help="outcomes for the report (default 100,000)")
    ap.add_argument("--runs", type=int, default=20, help="report runs (default 20)")
    ap.add_argument("--database", default=None,
                    help="where the rebuild and the report read from (default: a temporary SQLite)")
    args = ap.parse_args()
    _one_core()
    if args.only in (None, "suggestions"):
        suggestion_bench(args.cases, args.lookups, args.replay)
        suggestion_store_bench(args.cases, args.database)
    if args.only in (None, "report"):
        report_bench(args.rows, args.runs, args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
