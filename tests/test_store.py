from datetime import timedelta

from cryptography.fernet import Fernet
import hashlib
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from integration.service import store as store_module

from integration.core.model import AddNote, AddTags, Event, Plan, Priority, SetPriority, State
from integration.service.store import Outcome, Vault, events, installations, metadata, plan_from_json, plan_to_json, utcnow

RELEASED_0001 = "88107c954e2cae2bb7242fa5da974e6a29693cefa22861a2702947e0f52322aa"
RELEASED_0003 = "91026d069f66d2f6300b282227288e5263c0741cf775318618f8bb17fc88c537"
RELEASED_0002 = "41699c7ca406ed5fd024c247832c64542151709c0c0cc44ff5bfb170e31ba4bd"


def test_migrations_are_idempotent(store):
    before = _schema(store)
    store.migrate()  # running again changes nothing and does not fail
    assert _schema(store) == before


def test_the_migrations_build_exactly_the_tables_the_code_declares(store):
    """Tables are declared in store.py and built by the Alembic migrations: a column, type,
    nullability, key or index that one has and the other lacks fails here."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrations_are_append_only():
    """A released migration is never edited: its file must hash as when it was released. A new
    schema change is a new file (0002_… with down_revision "0001")."""
    versions = Path(store_module.__file__).with_name("migrations") / "versions"
    released = {"0001_initial.py": RELEASED_0001, "0002_outbox_ticket_index.py": RELEASED_0002,
                "0003_messages_at_handoff.py": RELEASED_0003}
    for name, digest in released.items():
        assert hashlib.sha256((versions / name).read_bytes()).hexdigest() == digest, f"{name} was edited in place"


def _schema(store):
    inspector = inspect(store.engine)
    return {t: sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t))
            for t in inspector.get_table_names()}


def test_credentials_are_encrypted_at_rest_and_decrypt_on_read(store):
    inst = store.add_installation("zendesk", "https://acme.zendesk.com", {"email": "a@acme.com", "token": "tok-123"},
                                  settings={"api_user_id": "9"}, webhook_secret="whsec-abc")
    with store.engine.connect() as conn:
        raw = conn.execute(select(installations)).mappings().one()
    assert "tok-123" not in str(dict(raw)) and "whsec-abc" not in str(dict(raw))
    again = store.installation(inst.id)
    assert again.credentials == {"email": "a@acme.com", "token": "tok-123"}
    assert again.webhook_secret == "whsec-abc" and again.settings == {"api_user_id": "9"}


def test_secrets_are_decrypted_once_per_installation_and_again_after_a_change_or_rotation(store, monkeypatch):
    inst = store.add_installation("zendesk", "https://acme.zendesk.com", {"token": "tok-1"}, webhook_secret="whsec-1")
    opened: list[str] = []
    decrypt = store.vault.decrypt
    monkeypatch.setattr(store.vault, "decrypt", lambda token: opened.append(token) or decrypt(token))
    for _ in range(3):  # every event reads its installation: one decryption of each secret in all
        assert store.installation(inst.id).credentials == {"token": "tok-1"}
    assert len(opened) <= 2
    store.update_installation(inst.id, credentials={"token": "tok-2"})  # the admin reconnected
    assert store.installation(inst.id).credentials == {"token": "tok-2"}
    opened.clear()
    assert store.rotate_secrets() == 1  # new tokens (here under the same key): read afresh, once
    assert store.installation(inst.id).webhook_secret == "whsec-1"
    store.installation(inst.id)
    assert len(opened) <= 4  # the rotation's own two, then one read of each new token
    store.installation(inst.id).credentials["token"] = "changed by a caller"
    assert store.installation(inst.id).credentials == {"token": "tok-2"}  # a caller's copy, not the kept one
    store.uninstall(inst.id, "admin")
    assert store.installation(inst.id).credentials == {}


def test_generated_webhook_secrets_have_256_bits(store):
    a = store.add_installation("zendesk", "https://a", {})
    b = store.add_installation("zendesk", "https://b", {})
    assert len(a.webhook_secret) >= 43 and a.webhook_secret != b.webhook_secret  # 32 bytes, url-safe base64


def test_key_rotation_keeps_old_tokens_readable():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault(old).encrypt("s3cret")
    rotated = Vault(f"{new},{old}")
    assert rotated.decrypt(token) == "s3cret"
    assert Vault(new).decrypt(rotated.rotate(token)) == "s3cret"  # after rotation the old key can retire


def test_events_are_recorded_once_per_key(store):
    ev = Event("zendesk", "i1", "evt-1", "comment_added", "42", "100")
    rid, status, new = store.receive(ev)
    assert (status, new) == ("enqueued", True)
    assert store.receive(ev) == (rid, "enqueued", False)
    store.unqueue(rid)  # the queue was down: left for the drain
    assert store.receive(ev) == (rid, "received", False)
    other_tenant = Event("zendesk", "i2", "evt-1", "comment_added", "42", "100")
    assert store.receive(other_tenant)[2] is True


def test_events_the_queue_refused_are_found_once_their_wait_is_over(store):
    rid, _, _ = store.receive(Event("zendesk", "i1", "e", "comment_added", "1"))
    store.unqueue(rid)
    later = utcnow() + timedelta(minutes=1)
    assert store.stranded_events(timedelta(seconds=30), later) == [rid]
    store.mark_enqueued(rid)  # the drain queued it
    assert store.stranded_events(timedelta(seconds=30), later) == []


def test_conversation_state_defaults_to_bot_and_moves(store):
    assert store.state("i1", "42") is State.BOT
    store.set_state("i1", "42", State.ESCALATED)
    store.set_state("i1", "42", State.ESCALATED)
    assert store.state("i1", "42") is State.ESCALATED


PLAN = Plan("k-1", "42", (AddNote("<p>n</p>", "n"), AddTags(("a",)), SetPriority(Priority.HIGH)), {"tags": ["x"]})


def test_plan_round_trips_through_json():
    assert plan_from_json(plan_to_json(PLAN)) == PLAN


def commit(store, outcome, key="e1", now=None):
    """An event received and its outcome committed, as the worker does: (installation, what commit returned)."""
    inst = store.installation("i-commit") or store.add_installation("zendesk", "https://a", {}, id="i-commit")
    eid = store.receive(Event("zendesk", inst.id, key, "comment_added", "42"))[0]
    return inst, store.commit(store.event_context(eid), outcome, now or utcnow(), timedelta(seconds=60))


def test_a_plan_is_stored_once_claimed_by_its_worker_and_a_claim_is_exclusive(store):
    now = utcnow()
    _, row = commit(store, Outcome("processed", plan=PLAN), now=now)
    assert (row.plan, row.status, row.attempts) == (PLAN, "sending", 1)
    assert commit(store, Outcome("processed", plan=PLAN), key="e2", now=now)[1] is None  # the key exists once
    assert store.claim(row.id, timedelta(seconds=60), now) is None  # held by the committing worker's lease
    assert store.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=61)).row.attempts == 2  # it died
    store.finish(row.id, "sent")
    assert store.claim(row.id, timedelta(seconds=60), now + timedelta(hours=1)) is None
    assert store.outbox_row(row.id).plan is None  # customer text is not kept once sent


def test_parked_writes_wait_for_their_time(store):
    now = utcnow()
    _, row = commit(store, Outcome("processed", plan=PLAN), now=now)
    store.finish(row.id, "parked", "429", now + timedelta(seconds=30))
    assert store.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=29)) is None
    assert store.due_outbox(now + timedelta(seconds=29)) == []
    assert store.due_outbox(now + timedelta(seconds=31)) == [row.id]
    assert store.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=31)) is not None


def test_decisions_are_kept_with_reasons(store):
    from integration.core.engine import evaluate
    from tests.builders import conv

    d = evaluate(conv("I want to talk to a human"))
    inst, _ = commit(store, Outcome("processed", decision=d))
    (row,) = store.decisions_for(inst.id, "42")
    assert row["action"] == "escalate" and row["reasons"][0]["code"] == "explicit_request"
    assert row["reasons"][0]["evidence"][0]["quote"] == "I want to talk to a human"


def test_an_outcome_can_flag_the_installation_for_its_admin(store):
    inst, _ = commit(store, Outcome("dead", "ApiUnauthorized: 401", flag="ApiUnauthorized: 401"))
    assert store.installation_status(inst.id) == ("broken", "ApiUnauthorized: 401")
    assert store.installation(inst.id).status == "broken" and store.flagged_installations() == [inst.id]
    store.reactivate(inst.id)
    assert store.installation_status(inst.id) == ("active", None)


def test_a_queued_event_whose_task_was_lost_is_queued_again(store):
    rid, _, _ = store.receive(Event("zendesk", "i1", "lost", "comment_added", "1"))
    now = utcnow()
    assert store.stranded_events(timedelta(seconds=30), now, requeue_after=timedelta(minutes=15)) == []
    later = now + timedelta(minutes=16)
    assert store.stranded_events(timedelta(seconds=30), later, requeue_after=timedelta(minutes=15)) == [rid]
    store.mark_enqueued(rid)  # the drain queued it again: its clock restarts
    assert store.stranded_events(timedelta(seconds=30), utcnow(), requeue_after=timedelta(minutes=15)) == []
    with store.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == rid).values(status="processed"))
    assert store.stranded_events(timedelta(seconds=30), later + timedelta(hours=1)) == []


def test_an_installation_never_prints_its_secrets(store):
    inst = store.add_installation("zendesk", "https://acme.zendesk.com", {"email": "a@acme.com", "token": "tok-123"},
                                  webhook_secret="whsec-abc")
    assert "tok-123" not in repr(inst) and "whsec-abc" not in repr(inst) and inst.id in repr(inst)


def test_installation_ids_can_be_typed_on_a_command_line(store, monkeypatch):
    import secrets as secrets_module

    made = iter(["-starts-with-a-dash", "fine-id-0001"])
    monkeypatch.setattr(secrets_module, "token_urlsafe", lambda n: next(made))
    inst = store.add_installation("zendesk", "https://a", {}, webhook_secret="whsec")
    assert inst.id == "fine-id-0001"
