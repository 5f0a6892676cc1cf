"""The data lifecycle on every helpdesk's sandbox and on both databases (README "Data lifecycle"):
the retention removes old customer text and keeps the figures, and never a write-back still to do;
an uninstall deletes the tenant's data and only that tenant's, saying what it deleted; erasing one
customer removes their text from every table and nothing of anyone else's; the secrets rotate to a
new key; no table ever holds a token in plain text."""
from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import inspect, text

import connectors
from connectors.sandbox import Person
from integration.core.model import Event
from integration.service.pipeline import Pipeline
from integration.service.reports import handoff_report
from integration.service.store import SecretsUnreadable, Store, Vault, decisions, feedback, metadata, outbox, utcnow
from integration.tools.local import install_into
from tests.test_console import Form, console, session  # noqa: F401  (the fixture: two installations and the console app)
from tests.test_pipeline import HUMAN, Clock, Desk, desk  # noqa: F401  (desk: the fixture, on every sandbox)

ROOT = Path(__file__).parents[1]
LATER = timedelta(days=91)  # past the default retention of 90 days


def tenant_rows(store: Store, inst_id: str) -> dict[str, list[dict]]:
    """Every row of the installation in every table (its own row included), as the database holds it."""
    out = {}
    for table in metadata.sorted_tables:
        column = "id" if table.name == "installations" else "installation_id"
        out[table.name] = store.rows(table, **{column: inst_id})
    return out


def dump(rows: object) -> str:
    return json.dumps(rows, default=str, ensure_ascii=False)


def database_dump(store: Store) -> str:
    """Every row of every table in the database (whatever the code knows of), as text."""
    with store.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return dump({n: [list(r) for r in conn.execute(text(f'SELECT * FROM "{n}"'))] for n in names})


def other_tenant(d: Desk, receiver) -> Desk:
    """A second installation of Baton, in the same sandbox and database, with its own pipeline."""
    inst = install_into(d.driver, d.store, receiver.url.removesuffix("/hook"))
    return Desk(d.key, d.driver, d.store, inst, Pipeline(d.store, clock=d.clock, rng=random.Random(2)), d.clock,
                d.billing)


def handoff(d: Desk, text: str = HUMAN, person: Person | None = None, send: bool = True,
            again: str | None = None) -> str:
    """A conversation the pipeline hands over (its note sent unless ``send`` is false), with an
    agent's feedback on it: every table that can hold customer text gets some. ``again``: by the
    customer of that conversation (a helpdesk knows a customer once)."""
    cid = d.driver.new_conversation(text, person=person) if again is None else reopen(d, again, text)
    (held,) = d.pipe.process_event(d.event(cid))
    if send:
        assert d.pipe.send(held) == "sent"
    d.store.decisions.record_feedback(d.inst.id, cid, author_id="7", author_name="Sam Agent", verdict="right",
                                      resolution=None, missing_knowledge=f"what to say about: {text}")
    return cid


def reopen(d: Desk, cid: str, text: str) -> str:
    """A new conversation by the customer of ``cid`` (the driver's own step, for a known customer)."""
    customer = d.driver._customers[cid]
    new = str(d.driver._open(customer, "Another question", text))
    d.driver._customers[new] = customer
    return new


def sha256(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()


def customer_of(d: Desk, cid: str) -> dict:
    """The customer as Baton kept them with its decision (the vendor's ids and email)."""
    return d.store.decisions.for_ticket(d.inst.id, cid)[-1]["conversation"]["customer"]


# retention

def test_retention_removes_old_customer_text_and_keeps_the_figures(desk):
    person = Person("Rita Retention", "rita@example.com")
    cid = handoff(desk, "I was charged twice for order 4411, I want to talk to a human", person=person)
    rita = str(customer_of(desk, cid)["id"])
    said = desk.store.events.receive(Event(desk.key, desk.inst.id, "evt-rita", "comment_added", cid, rita))[0]
    desk.pipe.process_event(said)  # her next message: an event whose actor is the customer
    routine = desk.driver.new_conversation("What are your opening hours on Sunday?")
    assert desk.pipe.process_event(desk.event(routine)) == []
    before_report = handoff_report(desk.store, desk.inst.id, utcnow() + LATER, None)
    before = tenant_rows(desk.store, desk.inst.id)
    assert "order 4411" in dump(before["decisions"]) and "rita@example.com" in dump(before)

    assert desk.store.lifecycle.apply_retention(desk.inst.id) == dict.fromkeys(("decisions", "outcomes", "feedback", "outbox",
                                                                        "events"), 0)  # all of it is recent
    counts = desk.store.lifecycle.apply_retention(desk.inst.id, now=utcnow() + LATER)

    after = tenant_rows(desk.store, desk.inst.id)
    for words in ("order 4411", "opening hours", "rita@example.com", "Rita Retention"):
        assert words not in dump(after)
    assert counts["decisions"] == len(before["decisions"]) == 2 and counts["feedback"] == 1
    assert counts["outcomes"] >= 1 and counts["events"] >= 1
    assert rita not in {r["actor_id"] for r in after["events"]}
    # what the figures and the console read stays: ids, times, actions, categories, reason codes
    keep = ("id", "ticket_id", "action", "priority", "category", "tier", "created_at", "route")
    assert [{k: r[k] for k in keep} for r in after["decisions"]] == [{k: r[k] for k in keep} for r in before["decisions"]]
    assert [[x["code"] for x in r["reasons"]] for r in after["decisions"]] == \
        [[x["code"] for x in r["reasons"]] for r in before["decisions"]]
    assert all(r["conversation"] is None and r["explanation"] == "" for r in after["decisions"])
    assert desk.store.decisions.decided_conversations(desk.inst.id) == []  # the preview has nothing left to replay
    report = handoff_report(desk.store, desk.inst.id, utcnow() + LATER, None)
    assert (report.conversations, report.escalated, report.bot_involved) == \
        (before_report.conversations, before_report.escalated, before_report.bot_involved)
    assert report.conversations == 2 and report.escalated == 1
    assert desk.store.outcomes.get(desk.inst.id, cid)["escalated"] is True
    # a second run finds nothing left to remove
    assert set(desk.store.lifecycle.apply_retention(desk.inst.id, now=utcnow() + LATER).values()) == {0}


def test_retention_follows_the_installation_setting_and_skips_others(desk, receiver):
    handoff(desk, "My parcel 9921 never arrived, get me a human")
    other = other_tenant(desk, receiver)
    handoff(other, "Parcel 5150 is lost, I need a person")
    desk.store.installations.change_settings(desk.inst.id, {"retention_days": 7}, "Ada")
    done = desk.store.lifecycle.apply_retention_everywhere(now=utcnow() + timedelta(days=8))
    assert done[desk.inst.id]["decisions"] == 1 and set(done[other.inst.id].values()) == {0}  # 90 days there
    assert "parcel 9921" not in dump(tenant_rows(desk.store, desk.inst.id))
    assert "Parcel 5150" in dump(tenant_rows(desk.store, other.inst.id))


def test_write_backs_still_to_do_survive_the_retention(desk):
    waiting = desk.driver.new_conversation("Charged twice on invoice 7070, a human please")
    (held,) = desk.pipe.process_event(desk.event(waiting))  # claimed, not sent yet
    dead = desk.driver.new_conversation("Refund 8080 never came, I want a person")
    (gave_up,) = desk.pipe.process_event(desk.event(dead))
    desk.store.events.finish(gave_up.row.id, "dead", "the helpdesk refused it")  # dead, and retryable
    desk.store.lifecycle.apply_retention(desk.inst.id, now=utcnow() + LATER)
    notes = dump([r["plan"] for r in desk.store.rows(outbox, installation_id=desk.inst.id)])
    assert "invoice 7070" in notes and "Refund 8080" in notes
    assert desk.pipe.send(held) == "sent" and "invoice 7070" in dump(desk.driver.notes(waiting))
    assert desk.store.events.replay(desk.inst.id) == (0, 1)
    desk.clock.now = max(desk.clock.now, utcnow()) + timedelta(seconds=1)  # replay waits from the real clock
    assert desk.pipe.deliver(gave_up.row.id) == "sent" and "Refund 8080" in dump(desk.driver.notes(dead))


# uninstall

def test_uninstall_deletes_everything_of_that_tenant_and_only_of_it_and_says_what(desk, receiver):
    handoff(desk)
    handoff(desk, "Still waiting on my refund, human now", send=False)  # a write-back not sent yet goes too
    desk.store.rules.publish(desk.inst.id, {"sentiment": {"threshold": 0.9}}, "Ada", "stricter")
    desk.store.rules.save_draft(desk.inst.id, {"sentiment": {"threshold": 0.8}}, "Ada")
    other = other_tenant(desk, receiver)
    handoff(other, "Other tenant: charged twice, human please")
    theirs = tenant_rows(desk.store, other.inst.id)
    mine = tenant_rows(desk.store, desk.inst.id)
    assert all(mine[t] for t in ("events", "decisions", "outbox", "outcomes", "feedback", "rosters", "rule_versions",
                                 "rule_drafts", "conversations", "audit"))

    counts = desk.store.lifecycle.uninstall(desk.inst.id, "the helpdesk")

    assert counts == {t: len(rows) for t, rows in mine.items() if t != "installations"}
    left = tenant_rows(desk.store, desk.inst.id)
    assert all(left[t] == [] for t in left if t not in ("installations", "audit"))
    (entry,) = left["audit"]  # the one row kept, with the counts and no text
    assert entry["action"] == "uninstall" and entry["detail"] == {"deleted": counts}
    (tomb,) = left["installations"]
    assert (tomb["status"], tomb["provider"], tomb["base_url"]) == ("uninstalled", desk.key, desk.inst.base_url)
    inst = desk.store.installations.get(desk.inst.id)
    assert inst.credentials == {} and inst.webhook_secret == "" and inst.rules == {}
    assert HUMAN not in dump(left) and desk.inst.credentials != {}
    assert tenant_rows(desk.store, other.inst.id) == theirs  # the other tenant keeps every row as it was
    assert desk.store.lifecycle.uninstall(desk.inst.id, "again") == dict.fromkeys(counts, 0) | {"audit": 1}


# erasure

def test_erasure_by_email_or_id_removes_that_customer_from_every_table_and_nothing_else(desk, receiver):
    erin = Person("Erin Erase", "Erin@Example.com")
    first = handoff(desk, "I was charged twice for order 5001, I want to talk to a human", person=erin)
    second = reopen(desk, first, "Order 5002 arrived broken, get me a person")
    (dead,) = desk.pipe.process_event(desk.event(second))
    desk.store.events.finish(dead.row.id, "dead", "gave up")  # a dead write-back holds her words too
    kept = handoff(desk, "Tom here: invoice 6001 is wrong, a human please", person=Person("Tom Keep", "tom@example.com"))
    other = other_tenant(desk, receiver)
    elsewhere = handoff(other, "Erin again, other account: order 7001, human please", again=first)
    erin_id = str(customer_of(desk, first)["id"])
    assert customer_of(desk, first)["email"].lower() == "erin@example.com"
    desk.store.events.receive(Event(desk.key, desk.inst.id, "evt-erin", "comment_added", first, erin_id))
    theirs = tenant_rows(desk.store, other.inst.id)

    counts = desk.store.lifecycle.erase_customer(desk.inst.id, email=" erin@example.COM ")

    assert counts["tickets"] == 2 and counts["decisions"] == 2 and counts["feedback"] == 1 and counts["outbox"] >= 1
    assert counts["outcomes"] >= 1
    rows = tenant_rows(desk.store, desk.inst.id)
    for words in ("order 5001", "Order 5002", "Erin Erase", "erin@example.com", "Erin@Example.com"):
        assert words not in dump(rows)
    assert erin_id not in {r["actor_id"] for r in rows["events"]}
    assert "invoice 6001" in dump(rows["decisions"]) and "Tom Keep" in dump(rows["decisions"])  # another customer's stay
    assert "invoice 6001" in dump(desk.store.decisions.feedback_for(desk.inst.id, kept))
    assert [d["action"] for d in desk.store.decisions.for_ticket(desk.inst.id, first)] == ["escalate"]
    assert tenant_rows(desk.store, other.inst.id) == theirs and "order 7001" in dump(theirs)  # and another tenant's
    (entry,) = [r for r in desk.store.rules.audit_log(desk.inst.id) if r["action"] == "erase"]  # whom, only as a hash
    assert entry["detail"] == {"subject_sha256": sha256("email:erin@example.com"), "counts": counts}

    tom_id = str(customer_of(desk, kept)["id"])
    counts = desk.store.lifecycle.erase_customer(desk.inst.id, customer_id=tom_id)
    assert counts["tickets"] == 1 and counts["decisions"] == 1
    assert "invoice 6001" not in dump(tenant_rows(desk.store, desk.inst.id))
    assert desk.store.rules.audit_log(desk.inst.id, limit=1)[0]["detail"] == {"subject_sha256": sha256(f"id:{tom_id}"),
                                                                         "counts": counts}
    assert "order 7001" in dump(desk.store.decisions.for_ticket(other.inst.id, elsewhere))
    with pytest.raises(ValueError):
        desk.store.lifecycle.erase_customer(desk.inst.id)


# secrets

@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A database of its own (the stores below use their own keys)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/baton.db"
        return
    postgres_url = request.getfixturevalue("postgres_url")
    s = Store(postgres_url, Vault(Fernet.generate_key().decode()))
    s.migrate()
    with s.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " RESTART IDENTITY"))
    s.engine.dispose()
    yield postgres_url


def test_secrets_rotate_to_the_new_key_over_every_row(url):
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = Store(url, Vault(a))
    old.migrate()
    made = [old.installations.add("zendesk", f"https://t{i}.zendesk.com", {"token": f"tok-{i}"}, webhook_secret=f"s-{i}")
            for i in range(5)]
    assert Store(url, Vault(f"{b},{a}")).installations.rotate_secrets(batch=2) == 5
    new_only, old_only = Store(url, Vault(b)), Store(url, Vault(a))
    for i, inst in enumerate(made):
        read = new_only.installations.get(inst.id)
        assert (read.credentials, read.webhook_secret) == ({"token": f"tok-{i}"}, f"s-{i}")
        with pytest.raises(SecretsUnreadable):
            old_only.installations.get(inst.id)
    with pytest.raises(SecretsUnreadable):  # a key that opens nothing rotates nothing
        Store(url, Vault(Fernet.generate_key().decode())).installations.rotate_secrets()
    for s in (old, new_only, old_only):
        s.engine.dispose()


def test_no_table_holds_a_token_or_secret_in_plain_text(desk):
    handoff(desk)
    secrets = [v for v in desk.inst.credentials.values() if isinstance(v, str) and len(v) >= 8]
    secrets.append(desk.inst.webhook_secret)
    assert secrets and len(desk.inst.webhook_secret) >= 16
    everything = database_dump(desk.store)
    assert HUMAN in everything  # the dump does see the rows (and the customer text, until the retention)
    for secret in secrets:
        assert secret not in everything


# the command line

def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=120)


def test_the_commands_uninstall_erase_and_rotate_and_print_what_they_changed(tmp_path, receiver):
    key = Fernet.generate_key().decode()
    store = Store(f"sqlite:///{tmp_path}/baton.db", Vault(key))
    store.migrate()
    driver = connectors.driver("zendesk")()
    driver.start()
    try:
        inst = install_into(driver, store, receiver.url.removesuffix("/hook"))
        d = Desk("zendesk", driver, store, inst, Pipeline(store, clock=Clock()), Clock(), "")
        cid = handoff(d, person=Person("Cli Customer", "cli@example.com"))
        env = {"DATABASE_URL": store.url, "BATON_SECRET_KEY": key}

        p = cli(env, "erase", "--installation", inst.id, "--email", "cli@example.com")
        assert p.returncode == 0, p.stderr
        assert "1 conversation(s)" in p.stdout and "  decisions: 1" in p.stdout and "  feedback: 1" in p.stdout
        assert "cli@example.com" not in dump(tenant_rows(store, inst.id))
        assert cli(env, "erase", "--installation", inst.id).returncode == 2  # whom: --email or --customer-id
        assert "no installation 'nope'" in cli(env, "erase", "--installation", "nope", "--customer-id", "1").stderr

        new = Fernet.generate_key().decode()
        p = cli({**env, "BATON_SECRET_KEY": f"{new},{key}"}, "rotate-keys")
        assert p.returncode == 0 and "rotated the secrets of 1 installation(s)" in p.stdout
        assert Store(store.url, Vault(new)).installations.get(inst.id).credentials == inst.credentials
        env["BATON_SECRET_KEY"] = new

        p = cli(env, "uninstall", "--installation", inst.id)
        assert p.returncode == 0, p.stderr
        assert f"uninstalled {inst.id}" in p.stdout and "  decisions: 1" in p.stdout and "  outbox: 1" in p.stdout
        assert store.rows(decisions, installation_id=inst.id) == [] and store.rows(feedback, installation_id=inst.id) == []
        assert Store(store.url, Vault(new)).installations.get(inst.id).status == "uninstalled" and cid
    finally:
        driver.stop()
        store.engine.dispose()


# the console

def test_the_admin_sets_the_retention_on_the_overview_and_a_bad_value_is_refused(console, store):
    app, a, b = console
    token, csrf = session(app, a)
    client = app.test_client()
    page = client.get("/console/", query_string={"s": token}).get_data(as_text=True)
    assert Form(page, "retention-form").values["retention_days"] == "90"  # the default, shown
    assert client.post("/console/retention", data={"s": token, "csrf": csrf, "retention_days": "30"}).status_code == 303
    assert store.installations.get(a.id).settings["retention_days"] == 30
    assert "retention_days" not in store.installations.get(b.id).settings
    for bad in ("0", "3651", "ninety", "", "1.5"):
        r = client.post("/console/retention", data={"s": token, "csrf": csrf, "retention_days": bad})
        assert r.status_code == 422 and "whole number of days from 1 to 3650" in r.get_data(as_text=True)
    assert store.installations.get(a.id).settings["retention_days"] == 30
    assert store.rules.audit_log(a.id)[0]["detail"] == {"changed": ["retention_days"]}


# the hourly run

def test_beat_runs_the_retention_hourly_one_task_per_installation(tmp_path, monkeypatch):
    from integration.service.settings import Settings
    from integration.service.web import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", redis_url="redis://127.0.0.1:1/5",
                        secret_key=Fernet.generate_key().decode())
    app = create_app(settings)
    store, celery = app.extensions["baton"].store, app.extensions["celery"]
    store.migrate()
    assert celery.conf.beat_schedule["baton-retention"] == {"task": "baton.retention", "schedule": 3600.0}
    a, b, gone = (store.installations.add("zendesk", f"https://{n}.zendesk.com", {"token": n}) for n in "abc")
    store.lifecycle.uninstall(gone.id, "Zendesk")
    store.outcomes.record(a.id, "1", {"query_text": "words from long ago"}, now=utcnow() - LATER)
    store.outcomes.record(a.id, "2", {"query_text": "words from today"})
    sent = []
    monkeypatch.setattr(celery, "send_task", lambda name, args=(), **kw: sent.append((name, args)))
    with app.app_context():
        celery.tasks["baton.retention"].run()
        assert sorted(sent) == sorted([("baton.retain", (a.id,)), ("baton.retain", (b.id,))])
        for name, args in sent:
            celery.tasks[name].run(*args)
    assert store.outcomes.get(a.id, "1")["query_text"] is None and store.outcomes.get(a.id, "2")["query_text"] == "words from today"
