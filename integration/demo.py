"""``python -m integration demo``: Baton end to end on one machine with nothing installed.

Starts Baton (SQLite, in-process queue) and the Zendesk, Freshdesk and Intercom sandboxes,
installs Baton into each, plays the same conversations on each as customers and a bot would,
and prints every ticket after Baton has looked at it. ``--serve`` keeps everything running so the
Zendesk tickets can be opened in a browser.
"""
from __future__ import annotations

import logging
import tempfile
import html
import re
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from connectors.freshdesk.client import AUTOMATION_BODY
from connectors.freshdesk.sandbox import FreshdeskSandbox
from connectors.freshdesk.webhook import SECRET_HEADER
from connectors.intercom.sandbox import IntercomSandbox
from connectors.intercom.webhook import SUPPORTED_TOPICS
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
    Scenario("Farid Haddad", "farid@example.com", "Data deleted", (
        ("customer", "Your update deleted a month of our data. If this isn't fixed today my lawyer will be in touch."),
    )),
)


GROUPS = ("Support", "Billing", "Accounts", "Legal")
AGENTS = ("Kim", "Sam", "Lea", "Noor")  # one per group


def _rules(ids: dict[str, Any]) -> dict[str, Any]:
    """Where each escalation goes, as an admin would set it. Legal works one hour a day, starting
    three hours from now, so the demo always shows an after-hours handoff."""
    billing, accounts, support, legal = (str(ids[g]) for g in ("Billing", "Accounts", "Support", "Legal"))
    start = (datetime.now(timezone.utc) + timedelta(hours=3)).hour
    window = f"{start:02d}:00-{start + 1:02d}:00" if start < 23 else "23:00-23:59"
    return {"routing": {
        "categories": {"billing_dispute": {"group": billing}, "refund": {"group": billing}, "legal": {"group": legal}},
        "segments": {"vip": accounts, "enterprise": accounts}, "default_group": support, "notify_customer": True,
        "hours": {legal: {"timezone": "UTC", "weekly": {d: [window] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}},
    }}


class Zendesk:
    name = "Zendesk"

    def __init__(self, store: Store, baton_url: str):
        self.sandbox = ZendeskSandbox(retry_delays=(0.2, 0.5, 1.0))
        self.url = self.sandbox.start()
        self.bot = self.sandbox.add_user("Answer Bot", "bot@sandbox.example", role="agent")
        self.group_ids = {g: self.sandbox.add_group(g)["id"] for g in GROUPS}
        self.agents = {}
        for group, name in zip(GROUPS, AGENTS):  # one agent per group, online, synced at install
            agent = self.sandbox.add_user(name, f"{name.lower()}@yourco.example", role="agent")["id"]
            self.sandbox.add_membership(agent, self.group_ids[group])
            self.sandbox.set_availability(agent, "online")
            self.agents[agent] = name
        self.inst = install(store, "zendesk", self.url, {"email": self.sandbox.api_email, "token": self.sandbox.api_token},
                            baton_url, settings={"bot_user_ids": [str(self.bot["id"])]}, rules=_rules(self.group_ids))

    def start(self, sc: Scenario, text: str) -> Any:
        org = self.sandbox.add_organization(sc.organization, tags=("enterprise",)) if sc.organization else None
        user = self.sandbox.add_user(sc.customer, sc.email, tags=sc.tags, organization_id=org and org["id"],
                                     user_fields=sc.fields)
        self.customer = user["id"]
        return self.sandbox.create_ticket(user["id"], sc.subject, text)["id"]

    def say(self, cid: Any, role: str, text: str) -> None:
        self.sandbox.add_comment(cid, self.customer if role == "customer" else self.bot["id"], text)

    def result(self, cid: Any) -> tuple[str, str, list[str], list[str], list[str]]:
        t = self.sandbox.get_ticket(cid)
        names = {v: k for k, v in self.group_ids.items()}
        comments = self.sandbox.get_comments(cid)
        notes = [c["html_body"] for c in comments if not c["public"]]
        said = [c["body"] for c in comments if c["public"] and c["author_id"] == self.sandbox.api_user_id]
        return (t["priority"] or "-", names.get(t["group_id"], "-") + f" / {self.agents.get(t['assignee_id'], '-')}",
                t["tags"], notes, said)

    def settle(self) -> None:
        self.sandbox.wait_for_deliveries(timeout=10)


class Freshdesk:
    name = "Freshdesk"
    PRIORITIES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}

    def __init__(self, store: Store, baton_url: str):
        self.sandbox = FreshdeskSandbox(retry_delays=(0.2, 0.5, 1.0))
        self.url = self.sandbox.start()
        self.bot = self.sandbox.add_agent("Freddy Bot", "bot@sandbox.example")
        self.group_ids = {g: self.sandbox.add_group(g)["id"] for g in GROUPS}
        self.agents = {self.sandbox.add_agent(name, f"{name.lower()}@yourco.example", group_ids=[self.group_ids[g]])["id"]: name
                       for g, name in zip(GROUPS, AGENTS)}
        self.inst = install(store, "freshdesk", self.url, {"api_key": self.sandbox.api_key}, baton_url,
                            settings={"bot_user_ids": [str(self.bot["id"])]}, rules=_rules(self.group_ids),
                            mode="automation")
        # what the admin pastes into the automation rule (connectors/freshdesk/README.md)
        self.sandbox.add_automation(f"{baton_url}/webhooks/freshdesk/{self.inst.id}", AUTOMATION_BODY,
                                    {SECRET_HEADER: self.inst.webhook_secret})

    def start(self, sc: Scenario, text: str) -> Any:
        company = self.sandbox.add_company(sc.organization, custom_fields=sc.fields) if sc.organization else None
        contact = self.sandbox.add_contact(sc.customer, sc.email, company_id=company and company["id"], tags=sc.tags,
                                           custom_fields=None if company else sc.fields)
        self.customer = contact["id"]
        return self.sandbox.create_ticket(contact["id"], sc.subject, text)["id"]

    def say(self, cid: Any, role: str, text: str) -> None:
        if role == "customer":
            self.sandbox.customer_reply(cid, self.customer, text)
        else:
            self.sandbox.agent_reply(cid, self.bot["id"], text)

    def result(self, cid: Any) -> tuple[str, str, list[str], list[str], list[str]]:
        t = self.sandbox.get_ticket(cid)
        names = {v: k for k, v in self.group_ids.items()}
        convs = self.sandbox.get_conversations(cid)
        notes = [c["body"] for c in convs if c["private"]]
        said = [c["body_text"] for c in convs if not c["private"] and c["user_id"] == self.sandbox.api_agent_id]
        return (self.PRIORITIES.get(t["priority"], "-"),
                names.get(t["group_id"], "-") + f" / {self.agents.get(t['responder_id'], '-')}", t["tags"], notes, said)

    def settle(self) -> None:
        self.sandbox.wait_for_deliveries(timeout=10)


class Intercom:
    name = "Intercom"

    def __init__(self, store: Store, baton_url: str):
        self.sandbox = IntercomSandbox(retry_delays=(0.2, 0.5, 1.0))
        self.url = self.sandbox.start()
        self.bot = self.sandbox.add_admin("Fin", "fin@sandbox.example")
        self.group_ids = {g: self.sandbox.add_team(g)["id"] for g in GROUPS}
        self.agents = {str(self.sandbox.add_admin(name, f"{name.lower()}@yourco.example", team_ids=[self.group_ids[g]])["id"]): name
                       for g, name in zip(GROUPS, AGENTS)}
        self.inst = install(store, "intercom", self.url,
                            {"access_token": "sandbox-token", "client_secret": "sandbox-client-secret"}, baton_url,
                            settings={"bot_user_ids": [str(self.bot["id"])]}, rules=_rules(self.group_ids),
                            mode="webhooks")
        self.sandbox.add_webhook(f"{baton_url}/webhooks/intercom/{self.inst.id}", SUPPORTED_TOPICS)

    def start(self, sc: Scenario, text: str) -> Any:
        fields = dict(sc.fields or {})
        company_ids = ()
        if sc.organization:
            company_ids = (self.sandbox.add_company(sc.organization, plan=fields.pop("plan", None))["id"],)
        if "vip" in sc.tags:
            fields["tier"] = "vip"
        contact = self.sandbox.add_contact(sc.customer, sc.email, company_ids=company_ids, custom_attributes=fields)
        self.customer = contact["id"]
        return self.sandbox.start_conversation(contact["id"], text)["id"]

    def say(self, cid: Any, role: str, text: str) -> None:
        if role == "customer":
            self.sandbox.user_reply(cid, self.customer, text)
        else:
            self.sandbox.admin_reply(cid, self.bot["id"], text, author_type="bot")

    def result(self, cid: Any) -> tuple[str, str, list[str], list[str], list[str]]:
        c = self.sandbox.get_conversation(cid)
        names = {str(v): k for k, v in self.group_ids.items()}
        parts = self.sandbox.get_parts(cid)
        notes = [p["body"] for p in parts if p["part_type"] == "note"]
        said = [_text(p["body"]) for p in parts if p["part_type"] == "comment"
                and str(p["author"]["id"]) == str(self.sandbox.api_admin_id)]
        tags = [t["name"] for t in c["tags"]["tags"]]
        who = self.agents.get(str(c["admin_assignee_id"]), "-")
        return "(in the note)", names.get(str(c["team_assignee_id"]), "-") + f" / {who}", tags, notes, said

    def settle(self) -> None:
        self.sandbox.wait_for_deliveries(timeout=10)


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
    out(f"Baton at {baton_url} (SQLite in {home_dir}, in-process queue)")

    desks = [Zendesk(store, baton_url), Freshdesk(store, baton_url), Intercom(store, baton_url)]
    for desk in desks:
        out(f"\n══ {desk.name} sandbox at {desk.url} (installation {desk.inst.id}) ══\n")
        for sc in SCENARIOS:
            first, *rest = sc.turns
            cid = desk.start(sc, first[1])
            for role, text in rest:
                _settle(desk, queue)
                desk.say(cid, role, text)
            _settle(desk, queue)
            _print(out, store, desk, cid, sc)
    if serve:
        out(f"Serving. Open {desks[0].url}/agent/tickets in a browser; Ctrl-C stops.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    for desk in desks:
        desk.sandbox.stop()
    baton_server.shutdown()
    queue.stop()
    return 0


def _settle(desk: Any, queue: LocalQueue) -> None:
    """Wait until webhooks are delivered and Baton has finished with them (twice: a write-back
    sends webhooks of its own, which Baton must then drop)."""
    for _ in range(2):
        desk.settle()
        queue.wait_idle(timeout=10)


def _print(out: Any, store: Store, desk: Any, cid: Any, sc: Scenario) -> None:
    priority, group, tags, notes, said = desk.result(cid)
    rows = store.rows(decisions, installation_id=desk.inst.id, ticket_id=str(cid))
    out(f"#{cid} {sc.subject!r} from {sc.customer}")
    if rows:
        reasons = ", ".join(r["code"] for r in rows[-1]["reasons"]) or "none"
        out(f"  decision : {rows[-1]['action']} (reasons: {reasons})")
    out(f"  priority : {priority}   group / agent: {group}   tags: {' '.join(tags) or '-'}   notes: {len(notes)}")
    if notes:
        lines = [line for line in _text(notes[-1]).splitlines() if line.strip()][:4]
        out(textwrap.indent("\n".join(textwrap.shorten(line, 110) for line in lines), "  │ "))
    for text in said:
        out(textwrap.indent(textwrap.fill(f"to the customer: {text.strip()}", 110), "  » "))
    out("")


def _text(note_html: str) -> str:
    text = re.sub(r"</(p|h3|li|blockquote)>|<br\s*/?>|<ul>", "\n", note_html)
    return html.unescape(re.sub(r"<[^>]+>", "", text))
