"""Console figures: the preview of a draft and the pages an admin or agent opens. Prints figures;
asserts nothing.

    .venv/bin/python bench/console.py [--conversations 5000] [--preview 500] [--runs 10] [--database URL]

1. preview: the draft replayed on the last ``--preview`` conversations against the live rules
   (read from the database, decoded, decided twice, routed), p50/p95 over ``--runs`` on one core;
   target p95 ≤ 2 s for 500;
2. page render: each console page and the agent panel through the Flask app (no network), p50/p95
   over 50 requests each; target p95 ≤ 100 ms.
The installation holds ``--conversations`` decided conversations: synthetic but varied (routine
questions, explicit requests, billing disputes, frustration, loops, several languages).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integration.core.codec import conversation_to_json  # noqa: E402
from integration.core.engine import evaluate  # noqa: E402
from integration.core.model import Conversation, Customer, Message, Role  # noqa: E402
from integration.service.backtest import backtest  # noqa: E402
from integration.service.console.session import Identity, issue  # noqa: E402
from integration.service.settings import Settings  # noqa: E402
from integration.service.store import Store, Vault, decisions, utcnow  # noqa: E402
from integration.service.web import create_app  # noqa: E402

OPENERS = ["How do I change my delivery address?", "Where is my order #{n}?", "Can I pay by bank transfer?",
           "I was charged twice for order {n}, please fix this", "I want to talk to a real person",
           "This is the third time I ask, your bot is useless!!", "Necesito hablar con un agente por favor",
           "Mon colis {n} n'est jamais arrivé", "I want a refund for my subscription",
           "How do I reset my password?", "My account was hacked, someone changed my email",
           "Your app is down again, nothing loads", "Can you explain the invoice for {n}?"]
BOT = ["Here is our help article about that.", "Could you give me your order number?",
       "I'm sorry to hear that. Let me check.", "You can do that from Settings > Account."]
FOLLOW = ["That doesn't help.", "ok thanks", "I already did that, it still fails", "Can I speak to someone?",
          "Thanks, that worked!", "Still nothing. This is getting ridiculous."]


class NoQueue:
    def enqueue_event(self, event_id: int) -> None:
        pass

    def ping(self) -> None:
        pass


def conversation(i: int, rng: random.Random) -> Conversation:
    msgs = [Message(Role.CUSTOMER, rng.choice(OPENERS).format(n=1000 + i))]
    for _ in range(rng.randint(0, 4)):
        msgs += [Message(Role.BOT, rng.choice(BOT)), Message(Role.CUSTOMER, rng.choice(FOLLOW))]
    tier = rng.choice([None, None, None, "vip"])
    return Conversation(str(10_000 + i), tuple(msgs), Customer(id=str(i), name=f"Customer {i}", tier=tier),
                        subject=f"ticket {i}", as_of=utcnow())


def seed(store: Store, inst_id: str, n: int) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(n):
        c = conversation(i, rng)
        d = evaluate(c)
        rows.append(dict(installation_id=inst_id, ticket_id=c.id, action=d.action.value, priority=d.priority.value,
                         category=d.category, tier=d.tier, reasons=[], explanation=d.explanation,
                         created_at=utcnow(), conversation=conversation_to_json(c)))
    with store.engine.begin() as conn:
        for start in range(0, n, 1000):
            conn.execute(insert(decisions), rows[start:start + 1000])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=5000)
    ap.add_argument("--preview", type=int, default=500)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--database", default=None)
    args = ap.parse_args()
    key = Fernet.generate_key().decode()
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='baton-bench-')}/b.db"
    store = Store(url, Vault(key))
    store.migrate()
    inst = store.installations.add("zendesk", "https://bench.zendesk.com", {"token": "x"})
    t0 = time.perf_counter()
    seed(store, inst.id, args.conversations)
    print(f"seeded {args.conversations} decided conversations in {time.perf_counter() - t0:.1f} s ({store.engine.dialect.name})")

    draft = {"sentiment": {"threshold": 0.35}, "topics": {"refund": {"action": "ignore"}},
             "routing": {"default_group": "g1"}}
    times, cpu = [], []
    for _ in range(args.runs):
        w, c = time.perf_counter(), time.process_time()
        report = backtest(store, inst, draft, args.preview)
        times.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    print(f"preview of {report.conversations} conversations: p50 {statistics.median(times):.3f} s, "
          f"p95 {pct(times, 0.95):.3f} s wall; p95 {pct(cpu, 0.95):.3f} s CPU (one core); "
          f"{len(report.changes)} change; target p95 ≤ 2 s")

    app = create_app(Settings(database_url=url, secret_key=key), store=store, queue=NoQueue())
    client = app.test_client()
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "1", "Bench Admin", "admin", "zendesk"))
    store.rules.save_draft(inst.id, draft, "Bench Admin")
    pages = [("/console/", {}), ("/console/rules", {}), ("/console/activity", {}), ("/console/roster", {}),
             ("/console/versions", {}), ("/panel", {"ticket": "10003"})]
    for path, extra in pages:
        samples = []
        for _ in range(50):
            t = time.perf_counter()
            r = client.get(path, query_string={"s": token, **extra})
            samples.append(time.perf_counter() - t)
            assert r.status_code == 200, (path, r.status_code)
        print(f"render {path:<18} p50 {statistics.median(samples) * 1000:6.1f} ms, p95 {pct(samples, 0.95) * 1000:6.1f} ms"
              f" ({len(r.data) // 1024} KiB); target p95 ≤ 100 ms")


if __name__ == "__main__":
    main()
