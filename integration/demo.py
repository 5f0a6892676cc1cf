"""``python -m integration demo``: Baton end to end on one machine with nothing installed.

Starts the Zendesk sandbox and Baton (SQLite, in-process queue), installs Baton into the sandbox
through its API, plays conversations as customers and a bot would, and prints each ticket after
Baton has looked at it. ``--serve`` keeps both running so the tickets can be opened in a browser.
"""
from __future__ import annotations

import logging
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from connectors.zendesk.sandbox import ZendeskSandbox
from integration.installs import install
from integration.pipeline import Pipeline
from integration.store import Store, Vault, decisions
from integration.tasks import LocalQueue
from integration.web import create_app


@dataclass(frozen=True)
class Scenario:
    customer: str
    email: str
    subject: str
    turns: tuple[tuple[str, str], ...]  # ("customer" | "bot", text)
    tags: tuple[str, ...] = ()
    organization: str | None = None
    fields: dict[str, Any] | None = None


SCENARIOS = (
    Scenario("Ana Souza", "ana@example.com", "Change delivery address", (
        ("customer", "Hi, how do I change the delivery address on my order?"),
        ("bot", "You can change it under Orders → Edit address until the parcel ships."),
        ("customer", "Great, found it. Thanks!"),
    )),
    Scenario("Ben Okafor", "ben@example.com", "Router keeps dropping", (
        ("customer", "My router keeps dropping the connection every evening."),
        ("bot", "Please restart your router and wait two minutes before reconnecting."),
        ("customer", "I already did that twice. Can I talk to a real person please?"),
    )),
    Scenario("Chloé Martin", "chloe@example.com", "Charged twice", (
        ("customer", "I was charged twice for my November invoice."),
        ("bot", "I'm sorry to hear that. Duplicate charges usually settle within 3-5 days."),
        ("customer", "It's been 10 days!!! This is ridiculous, I want my money back."),
    ), fields={"plan": "Business"}),
    Scenario("Dev Patel", "dev@example.com", "Export invoices", (
        ("customer", "How do I export my invoices as PDF?"),
        ("bot", "You can find your invoices under Billing → History."),
        ("customer", "Yes but how do I export the invoices to PDF?"),
        ("bot", "You can find your invoices under Billing → History."),
        ("customer", "I asked how to export invoices as a PDF file"),
    )),
    Scenario("Eve Laurent", "eve@acme.example", "More seats", (
        ("customer", "Quick question: can we add ten more seats to our workspace this week?"),
    ), tags=("vip",), organization="Acme Corp", fields={"plan": "Enterprise"}),
)


def _serve(app: Any) -> tuple[str, Any]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def run(serve: bool = False, home: str | None = None, out: Any = print) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the demo
    home_dir = Path(home or tempfile.mkdtemp(prefix="baton-demo-"))
    store = Store(f"sqlite:///{home_dir}/baton.db", Vault(Fernet.generate_key().decode()))
    store.migrate()
    queue = LocalQueue(Pipeline(store, park_after=30), drain_every=1.0)
    baton_url, baton_server = _serve(create_app(store, queue))

    sandbox = ZendeskSandbox(retry_delays=(0.2, 0.5, 1.0))
    sandbox_url = sandbox.start()
    bot = sandbox.add_user("Answer Bot", "bot@sandbox.example", role="agent")
    groups = {name: sandbox.add_group(name)["id"] for name in ("Support", "Billing", "Accounts")}
    inst = install(
        store, "zendesk", sandbox_url, {"email": sandbox.api_email, "token": sandbox.api_token}, baton_url,
        settings={"bot_user_ids": [str(bot["id"])], "groups": {
            "billing_dispute": str(groups["Billing"]), "refund": str(groups["Billing"]),
            "account": str(groups["Accounts"]), "default": str(groups["Support"])}},
    )
    out(f"Zendesk sandbox at {sandbox_url}, Baton at {baton_url} (installation {inst.id}, data in {home_dir})\n")

    tickets = []
    for sc in SCENARIOS:
        org = sandbox.add_organization(sc.organization, tags=("enterprise",)) if sc.organization else None
        user = sandbox.add_user(sc.customer, sc.email, tags=sc.tags, organization_id=org and org["id"],
                                user_fields=sc.fields)
        first, *rest = sc.turns
        ticket = sandbox.create_ticket(user["id"], sc.subject, first[1])
        for role, text in rest:
            _settle(sandbox, queue)
            sandbox.add_comment(ticket["id"], user["id"] if role == "customer" else bot["id"], text)
        tickets.append((ticket["id"], sc))
    _settle(sandbox, queue)

    names = {v: k for k, v in groups.items()}
    for ticket_id, sc in tickets:
        _print_ticket(out, sandbox, store, inst.id, ticket_id, sc, names)
    if serve:
        out(f"Serving. Open {sandbox_url}/agent/tickets in a browser; Ctrl-C stops.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    sandbox.stop()
    baton_server.shutdown()
    queue.stop()
    return 0


def _settle(sandbox: ZendeskSandbox, queue: LocalQueue) -> None:
    """Wait until webhooks are delivered and Baton has finished with them (twice: a write-back
    sends webhooks of its own, which Baton must then drop)."""
    for _ in range(2):
        sandbox.wait_for_deliveries(timeout=10)
        queue.wait_idle(timeout=10)


def _print_ticket(out: Any, sandbox: ZendeskSandbox, store: Store, inst_id: str, ticket_id: int, sc: Scenario,
                  groups: dict[int, str]) -> None:
    t = sandbox.get_ticket(ticket_id)
    rows = store.rows(decisions, installation_id=inst_id, ticket_id=str(ticket_id))
    last = rows[-1] if rows else None
    notes = [c for c in sandbox.get_comments(ticket_id) if not c["public"]]
    out(f"#{ticket_id} {sc.subject!r} from {sc.customer}")
    if last:
        reasons = ", ".join(r["code"] for r in last["reasons"]) or "none"
        out(f"  decision : {last['action']} (reasons: {reasons})")
    out(f"  priority : {t['priority'] or '-'}   group: {groups.get(t['group_id'], '-')}   "
        f"tags: {' '.join(t['tags']) or '-'}   notes: {len(notes)}")
    if notes:
        text = notes[-1]["body"]
        lines = [line for line in text.splitlines() if line.strip()][:6]
        out(textwrap.indent("\n".join(textwrap.shorten(line, 110) for line in lines), "  │ "))
    out("")
