"""``python -m integration demo``: Baton end to end on one machine with nothing installed.

Starts Baton (SQLite, in-process queue) and the Zendesk, Freshdesk and Intercom sandboxes,
installs Baton into each, plays the same conversations on each as customers and a bot would,
and prints every ticket after Baton has looked at it. ``--serve`` keeps everything running so the
Zendesk tickets can be opened in a browser, and prints the environment that points the command
line at the demo's data. The demo's folder (a new temporary one unless ``--home`` names one) holds
customer text: it is removed when the demo ends.
"""
from __future__ import annotations

import logging
import random
import os
import shutil
import signal
import sys
import tempfile
import threading
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

import connectors
from connectors.sandbox import Driver, Person, html_to_text
from integration.core.model import State
from integration.service import calibration
from integration.service.pipeline import Pipeline
from integration.core.analytics import reason_label
from integration.service.reports import handoff_report, topic_labels
from integration.service.settings import Settings
from integration.service.store import Store, Vault, decisions
from integration.service.tasks import LocalQueue
from integration.service.web import create_app
from integration.tools import history
from integration.tools.local import Server, free_port, install_into, show_app

HELPDESKS = ("zendesk", "freshdesk", "intercom")  # the order the demo plays them in
ACTIONS = {"escalate": "handed over", "offer_human": "offered a person", "continue": "kept with the bot"}


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


DEMO_APPS = dict(zendesk_client_id="baton-demo", zendesk_client_secret="demo-zendesk-secret", zendesk_app_id="4242",
                 intercom_client_id="baton-demo", intercom_client_secret="demo-intercom-secret")
GROUPS = ("Support", "Billing", "Accounts", "Legal")
AGENTS = ("Kim", "Sam", "Lea", "Noor")  # one per group


# Topics the admin tracks without handing anything over ("action": "ignore"): the analytics count the
# conversations the bot kept under what they are about, as they count the handed-over ones
TRACKED = {
    "invoices": {"label": "invoices and receipts", "phrases": ["invoice*", "receipt*", "pdf"], "action": "ignore"},
    "account_settings": {"label": "account settings", "action": "ignore",
                         "phrases": ["teammate*", "colleague*", "email address", "two-factor", "password*"]},
    "delivery": {"label": "delivery and shipping", "phrases": ["deliver*", "ship*", "parcel*"], "action": "ignore"},
}


def _rules(ids: dict[str, Any]) -> dict[str, Any]:
    """Where each escalation goes, as an admin would set it. Legal works one hour a day, starting
    three hours from now, so the demo always shows an after-hours handoff."""
    billing, accounts, support, legal = (str(ids[g]) for g in ("Billing", "Accounts", "Support", "Legal"))
    start = (datetime.now(timezone.utc) + timedelta(hours=3)).hour
    window = f"{start:02d}:00-{start + 1:02d}:00" if start < 23 else "23:00-23:59"
    return {"topics": TRACKED, "routing": {
        "categories": {"billing_dispute": {"group": billing}, "refund": {"group": billing}, "legal": {"group": legal}},
        "segments": {"vip": accounts, "enterprise": accounts}, "default_group": support, "notify_customer": True,
        "hours": {legal: {"timezone": "UTC", "weekly": {d: [window] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}},
    }}


def history_rng(helpdesk: str) -> random.Random:
    """The demo's history is the same every run (the calibration proposal the README walks through
    is there each time); each helpdesk's its own."""
    return random.Random(f"demo-{helpdesk}")


def _team(driver: Driver) -> dict[str, str]:
    """One online agent per group, as the helpdesk's admin set it up, with the brands, skills and tags
    the console's pickers then offer by name (where the helpdesk has them); group name → id."""
    groups, agents = {}, []
    for group, agent in zip(GROUPS, AGENTS):
        groups[group] = driver.add_group(group)
        agents.append(driver.add_agent(agent, groups[group]))
    for brand in ("Acme Store", "Acme Pro"):
        driver.add_brand(brand)
    driver.add_skill("French", agents[:1])
    driver.add_skill("Refunds", agents[1:2])
    for tag in ("vip", "enterprise", "newsletter"):
        driver.add_tag(tag)
    return groups


def run(serve: bool = False, home: str | None = None, out: Any = print) -> int:
    """The demo; its folder is removed when it ends (kept while ``serve`` runs), unless ``home`` names it."""
    home_dir = Path(home).absolute() if home else Path(tempfile.mkdtemp(prefix="baton-demo-"))
    if threading.current_thread() is threading.main_thread():  # a plain kill cleans up as Ctrl-C does
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _run(serve, home_dir, home is not None, out)
    finally:
        if home is None:
            shutil.rmtree(home_dir, ignore_errors=True)  # customer text: never left in the temporary folder


def _run(serve: bool, home_dir: Path, kept: bool, out: Any) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the demo
    home_dir.mkdir(parents=True, exist_ok=True)
    key, port = Fernet.generate_key().decode(), free_port()
    # Baton's marketplace apps as this demo deployment registered them with each sandbox
    settings = Settings(database_url=f"sqlite:///{home_dir}/baton.db", secret_key=key,
                        public_url=f"http://127.0.0.1:{port}", development=True, **DEMO_APPS)
    store = Store(settings.database_url, Vault(key))
    store.migrate()
    queue = LocalQueue(Pipeline(store, park_after=30), drain_every=1.0)
    server = Server(create_app(settings, store=store, queue=queue), port=port)
    out(f"Baton at {server.url} (SQLite in {home_dir}, in-process queue)")
    if serve or kept:
        _environment(out, home_dir, settings.database_url, key, kept)

    desks = [connectors.driver(key)(retry_delays=(0.2, 0.5, 1.0)) for key in HELPDESKS]
    for desk in desks:
        desk.start()
    bot_held = BotHeld(desks, out, store, queue, server.url, serve)  # issue 19's bot-held conversations: see BotHeld
    if serve:
        out("Sandboxes: " + ", ".join(f"{connectors.get(d.key).descriptor.name} {d.url}" for d in desks))
        out(f"Zendesk's agent view: {desks[0].url}/agent/tickets (full notes for every helpdesk are printed below)")
    apps = []
    try:
        _play(desks, store, server, queue, settings, serve, out, apps, bot_held)
    finally:
        for desk in desks:
            desk.stop()
        bot_held.stop()
        server.stop()
        queue.stop()
        store.engine.dispose()
    return 0


def _environment(out: Any, home_dir: Path, database_url: str, key: str, kept: bool) -> None:
    """What points ``python -m integration`` (report, knowledge, backtest, installations …) at this
    demo's data: the database and the key, the key in a file only the user reads."""
    key_file = home_dir / "secret-key"
    key_file.write_text(key + "\n", encoding="utf-8")
    os.chmod(key_file, 0o600)
    out("The command line reads this demo's data with this environment (in another terminal):")
    out(f"  export DATABASE_URL={database_url}")
    out(f"  export BATON_SECRET_KEY=$(cat {key_file})")
    out("  ./run installations")
    out("  (then report, knowledge or backtest --installation <id>; "
        + ("the folder stays: you named it)" if kept else "the folder is removed when the demo stops)"))


def _play(desks: list[Driver], store: Store, server: Server, queue: LocalQueue, settings: Settings, serve: bool,
          out: Any, apps: list[tuple[str, str, str]], bot_held: BotHeld) -> None:
    for desk in desks:
        inst = install_into(desk, store, server.url, rules=_rules(_team(desk)))
        out(f"\n══ {connectors.get(desk.key).descriptor.name} sandbox at {desk.url} (installation {inst.id}) ══\n")
        handed_over = None
        for sc in SCENARIOS:
            (_, first), *rest = sc.turns
            person = Person(sc.customer, sc.email, sc.tags, sc.organization, sc.fields or {})
            cid = desk.new_conversation(first, person, subject=sc.subject)
            for role, text in rest:
                _settle(desk, queue)
                desk.say(cid, text, role)
            _settle(desk, queue)
            _print(out, store, desk, inst.id, cid, sc, full=serve)
            if handed_over is None and store.events.state(inst.id, str(cid)) is State.ESCALATED:
                handed_over = cid
        agents = [str(a["id"]) for a in store.installations.roster(inst.id)[0].get("agents", [])]
        now = datetime.now(timezone.utc)
        days = history.seed(store, inst.id, now, agents, rng=history_rng(desk.key))
        for line in history_summary(store, inst.id, now, days):
            out(line)
        bot_held.play(desk, inst)
        if serve:
            show_app(desk, store, settings, inst)
            apps.append((connectors.get(desk.key).descriptor.name, desk.console_url("admin"),
                         desk.panel_url(handed_over, "agent")))
    if serve:
        out("\nBaton inside each helpdesk (open in a browser):")
        for name, console, panel in apps:
            out(f"  {name}: console (as the admin) {console}")
            out(f"  {' ' * len(name)}  panel on a handed-over ticket (as an agent) {panel}")
        out(f"Serving. Zendesk's ticket list: {desks[0].url}/agent/tickets; Ctrl-C stops.")
        wait_for_interrupt()


def history_summary(store: Store, inst_id: str, now: datetime, days: int) -> list[str]:
    """What the analytics page and the calibration review show of the seeded history, in the same
    figures (the 30 days the page shows by default)."""
    rep = handoff_report(store, inst_id, now, now - timedelta(days=30))
    h, hits, over = rep.handoff.overall, rep.suggestions[0], rep.over.total
    lines = [f"(and {days} conversations of the last 30 days, decided by the engine, with what became of them; "
             "the console's Analytics and Calibration pages read them)",
             f"  analytics: {h.escalated} of {h.conversations} conversations with a bot handed over "
             f"({h.rate or 0:.0%}); {over.count} of {over.base} handoffs needless ({over.share or 0:.0%})",
             "  suggested resolutions: " + (f"{hits.rate:.0%} hit ({hits.hits} of {hits.judged} handoffs whose suggested "
                                            "and final resolution types are known)" if hits.rate is not None
                                            else "none judged yet")]
    inst = store.installations.get(inst_id)
    effects = calibration.review(store, inst, now)[1] if inst else []
    lines.append("  calibration review: " + (f"{effects[0].summary} (Calibration → Preview as a draft)" if effects
                                             else "no small change would decide better"))
    return lines


def wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _settle(desk: Driver, queue: LocalQueue) -> None:
    """Wait until webhooks are delivered and Baton has finished with them (twice: a write-back
    sends webhooks of its own, which Baton must then drop)."""
    for _ in range(2):
        desk.wait_for_deliveries(timeout=10)
        queue.wait_idle(timeout=10)


def _print(out: Any, store: Store, desk: Driver, inst_id: str, cid: Any, sc: Scenario, full: bool = False) -> None:
    view = desk.view(cid)
    priority, tags, notes, said = view.priority or "-", view.tags, view.notes, view.said
    group = f"{desk.names.get(view.group_id or '', '-')} / {desk.names.get(view.agent_id or '', '-')}"
    rows = store.rows(decisions, installation_id=inst_id, ticket_id=str(cid))
    out(f"#{cid} {sc.subject!r} from {sc.customer}")
    if rows:
        topics = topic_labels(store.installations.get(inst_id))
        reasons = "; ".join(reason_label(r["code"], topics) for r in rows[-1]["reasons"]) or "no signal"
        out(f"  decision : {ACTIONS.get(rows[-1]['action'], rows[-1]['action'])} ({reasons})")
    out(f"  priority : {priority}   group / agent: {group}   tags: {' '.join(tags) or '-'}   notes: {len(notes)}")
    if notes:
        lines = [line for line in _text(notes[0]).splitlines() if line.strip()]  # the handoff; later ones follow it up
        shown = lines if full else [textwrap.shorten(line, 110) for line in lines[:4]]
        out(textwrap.indent("\n".join(shown), "  │ "))
    for text in said:
        out(textwrap.indent(textwrap.fill(f"to the customer: {text.strip()}", 110), "  » "))
    out("")


def _text(note_html: str) -> str:
    return html_to_text(note_html.replace("<ul>", "\n<ul>"))


# -- conversations a bot holds in each helpdesk's messaging product (issue 19) ----------------------
# Apart from the six scenarios above: on each helpdesk the bot's conversations live somewhere the
# ticket path does not reach, and Baton hands them over its own way there. Zendesk: a Web Widget
# conversation the AI agent holds on the Sunshine Conversations switchboard (an AI agent ticket,
# read-only until control passes). Freshdesk: a Freshdesk Messaging (Freshchat) conversation Freddy
# holds, a product with its own API, webhooks and Baton installation. Intercom: a conversation in
# Fin's "Let Fin handle" step, each Fin reply arriving on two webhook topics.

BOT_HELD = {  # the customer asks for a person in the last turn, while the bot still holds the conversation
    "zendesk": Scenario("Gia Romano", "gia@example.com", "Subscription paused (Web Widget, Zendesk's AI agent holds it)", (
        ("customer", "How do I turn my paused subscription back on?"),
        ("bot", "Go to Settings → Subscription and press Resume."),
        ("customer", "I pressed Resume and now I've been charged twice for this month. Can I talk to a person please?"),
    )),
    "freshdesk": Scenario("Hugo Lefèvre", "hugo@example.com", "Wrong size (Freshdesk Messaging, Freddy holds it)", (
        ("customer", "Can I change the size of my order before it ships?"),
        ("bot", "Orders can be changed until they are packed: Orders → Edit."),
        ("customer", "It's already packed and it's the wrong size. I want a refund, please get me a real person."),
    )),
    "intercom": Scenario("Ines Duarte", "ines@example.com", "Invoice download (Fin holds it)", (
        ("customer", "Where do I download last month's invoice?"),
        ("bot", "Go to Settings → Billing → Invoices and press Download."),
        ("customer", "There is no Download button there. I'd like to talk to a human, please."),
    )),
}


class BotHeld:
    """Plays BOT_HELD[helpdesk] through the real path (the sandbox's webhooks, Baton's web tier,
    its queue and the helpdesk's API) and prints it like the tickets, then what the handover did
    there. Made before Baton is installed (what the admin sets up first), ``play`` after the six
    scenarios, ``stop`` at the end (the Freshchat sandbox it started, kept up through --serve)."""

    def __init__(self, desks: list[Driver], out: Any, store: Store, queue: LocalQueue, baton_url: str,
                 serve: bool) -> None:
        self.out, self.store, self.queue, self.baton_url, self.serve = out, store, queue, baton_url, serve
        self.freshchat: Driver | None = None
        for desk in desks:
            if desk.key == "zendesk":  # the admin's Conversations API key, which the install then receives
                desk.enable_messaging()  # type: ignore[attr-defined]

    def play(self, desk: Driver, inst: Any) -> None:
        {"zendesk": self._zendesk, "freshdesk": self._freshchat, "intercom": self._fin}[desk.key](desk, inst)

    def stop(self) -> None:
        if self.freshchat is not None:
            self.freshchat.stop()

    def _turns(self, desk: Driver, cid: str, sc: Scenario) -> None:
        """The rest of the scenario's turns, each once Baton has finished with the one before."""
        for role, text in sc.turns[1:]:
            _settle(desk, self.queue)
            desk.say(cid, text, role)
        _settle(desk, self.queue)

    def _heading(self, text: str) -> None:
        self.out(f"\n── {text} ──\n")

    def _detail(self, line: str) -> None:
        """What the handover did, at the width of the tickets' lines."""
        self.out(textwrap.fill(line, 110, subsequent_indent="      "))

    def _print(self, desk: Driver, inst: Any, cid: str, sc: Scenario) -> None:
        """As the tickets above (without their closing blank line: what the handover did follows)."""
        lines: list[str] = []
        _print(lines.append, self.store, desk, inst.id, cid, sc, full=self.serve)
        for line in lines[:-1] if lines and lines[-1] == "" else lines:
            self.out(line)

    def _zendesk(self, desk: Any, inst: Any) -> None:
        sc = BOT_HELD["zendesk"]
        self._heading("A messaging conversation the AI agent holds (Conversations API key installed, Baton on the "
                      "switchboard on standby)")
        cid = desk.new_messaging_conversation(sc.turns[0][1], Person(sc.customer, sc.email))
        ticket, before = desk.ticket_of(cid), desk.control(cid)
        self._turns(desk, cid, sc)
        self._print(desk, inst, cid, sc)
        passes = [r for r in desk.sandbox.requests_log if r["method"] == "POST" and r["status"] == 200
                  and r["path"].endswith(f"/conversations/{cid}/passControl")]
        meta = passes[0]["json"]["metadata"] if passes else {}
        field = "dataCapture.systemField."
        captured = ", ".join(f"{name} {desk.names.get(str(meta[field + key]), meta[field + key])}"
                             for name, key in (("group", "group_id"), ("agent", "assignee_id"), ("priority", "priority"),
                                               ("tags", "tags")) if field + key in meta) or "nothing"
        refused = [w for w in desk.sandbox.ai_ticket_writes if w["ticket_id"] == ticket]
        updates = [r["at"] for r in desk.sandbox.requests_log
                   if r["method"] == "PUT" and r["path"].removesuffix(".json") == f"/api/v2/tickets/{ticket}"]
        when = "none" if not updates else "after the pass" if passes and min(updates) > passes[0]["at"] else "BEFORE the pass"
        self._detail(f"  switchboard: {before} → {desk.control(cid)} by Baton's passControl ({len(passes)} call), "
                     f"captured: {captured}")
        self._detail(f"  ticket #{ticket}: an AI agent ticket while the bot held it (writes sent to it: {len(refused)}), "
                     f"{'still read-only' if desk.sandbox.is_ai_agent_ticket(ticket) else 'now a regular ticket'} "
                     f"(status {desk.sandbox.get_ticket(ticket)['status']}); Baton's update of it (the note): {when}")
        if self.serve:
            self.out(f"  open in a browser: {desk.url}/agent/tickets/{ticket}")

    def _freshchat(self, freshdesk: Driver, freshdesk_inst: Any) -> None:
        sc = BOT_HELD["freshdesk"]
        fc = self.freshchat = connectors.driver("freshchat")(retry_delays=(0.2, 0.5, 1.0))
        fc.start()
        # its own installation, linked to the Freshdesk one: the console and panel open through the Freshdesk app
        inst = install_into(fc, self.store, self.baton_url, rules=_rules(_team(fc)),
                            settings={"freshdesk_installation": freshdesk_inst.id})
        self._heading(f"A Freshdesk Messaging conversation Freddy holds (Freshchat sandbox at {fc.url}, installation "
                      f"{inst.id}, linked to the Freshdesk installation {freshdesk_inst.id})")
        cid = fc.new_conversation(sc.turns[0][1], Person(sc.customer, sc.email), subject=sc.subject)
        self._turns(fc, cid, sc)
        self._print(fc, inst, cid, sc)
        writes = fc.writes(cid)
        updates = [w for w in writes if w["method"] == "PUT"]
        notes = [w for w in writes if w["method"] == "POST" and (w["json"] or {}).get("message_type") == "private"]
        status = fc.sandbox.get_conversation(cid)["status"]  # type: ignore[attr-defined]
        self._detail(f"  assignment: {len(updates)} PUT of the conversation (status now {status}, group and agent "
                     f"above); the note: {len(notes)} private message by Baton's agent")
        if self.serve:
            self.out(f"  open in a browser: {fc.inbox_url(cid)}")  # type: ignore[attr-defined]

    def _fin(self, desk: Any, inst: Any) -> None:
        from integration.service.store import events

        sc = BOT_HELD["intercom"]
        self._heading("A conversation in Fin's \"Let Fin handle\" step (each Fin reply is sent on two topics)")
        cid = desk.new_conversation(sc.turns[0][1], Person(sc.customer, sc.email), subject=sc.subject)
        for role, text in sc.turns[1:]:
            _settle(desk, self.queue)
            if role == "bot":
                desk.sandbox.fin_answer(cid, text)
            else:
                desk.say(cid, text, role)
        _settle(desk, self.queue)
        after = desk.sandbox.fin_answer(cid, "Let me check that for you.")  # Fin's step, once Baton handed over
        _settle(desk, self.queue)
        self._print(desk, inst, cid, sc)
        fin_parts = {str(p["id"]) for p in desk.sandbox.get_parts(cid) if p["author"].get("from_ai_agent")}
        deliveries = [d for d in desk.sandbox.deliveries if d["attempt"] == 1 and _last_part(d["body"]) in fin_parts]
        topics = sorted({d["topic"] for d in deliveries})
        recorded = {e["key"] for e in self.store.rows(events, installation_id=inst.id, ticket_id=str(cid))}
        fin_events = [p for p in fin_parts if f"part:{cid}:{p}" in recorded]
        assignments = [w["json"] for w in desk.writes(cid) if w["path"].endswith("/parts")
                       and (w["json"] or {}).get("message_type") == "assignment"]
        to = " then ".join(f"{a['type']} {desk.names.get(str(a['assignee_id']), a['assignee_id'])}" for a in assignments)
        self._detail(f"  Fin      : {len(fin_parts)} answer while it held the conversation, sent {len(deliveries)} "
                     f"times ({' and '.join(topics)}), recorded as {len(fin_events)} event")
        fin_after = "none, the assignment ended its step" if after is None else "sent (Baton notes that Fin kept answering)"
        self._detail(f"  handoff  : {len(desk.notes(cid))} note, assigned to {to or 'nobody'}; Fin's answer after it: "
                     f"{fin_after}")
        if self.serve:
            self.out(f"  open in a browser: {desk.panel_url(cid, 'agent')}")


def _last_part(body: bytes) -> str | None:
    """The id of the last conversation part an Intercom notification carries: the one it is about."""
    import json

    parts = (json.loads(body)["data"]["item"].get("conversation_parts") or {}).get("conversation_parts") or []
    return str(parts[-1]["id"]) if parts else None
