from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import select

from integration.model import AddNote, AddTags, Event, Plan, Priority, SetPriority, State
from integration.store import Vault, installations, plan_from_json, plan_to_json, utcnow


def test_migrations_are_idempotent(store):
    store.migrate()  # running again changes nothing and does not fail
    store.ping()


def test_credentials_are_encrypted_at_rest_and_decrypt_on_read(store):
    inst = store.add_installation("zendesk", "https://acme.zendesk.com", {"email": "a@acme.com", "token": "tok-123"},
                                  settings={"api_user_id": "9"}, webhook_secret="whsec-abc")
    with store.engine.connect() as conn:
        raw = conn.execute(select(installations)).mappings().one()
    assert "tok-123" not in str(dict(raw)) and "whsec-abc" not in str(dict(raw))
    again = store.installation(inst.id)
    assert again.credentials == {"email": "a@acme.com", "token": "tok-123"}
    assert again.webhook_secret == "whsec-abc" and again.settings == {"api_user_id": "9"}


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
    rid, status, new = store.record_event(ev)
    assert (status, new) == ("received", True)
    assert store.record_event(ev) == (rid, "received", False)
    store.mark_enqueued(rid)
    assert store.record_event(ev) == (rid, "enqueued", False)
    other_tenant = Event("zendesk", "i2", "evt-1", "comment_added", "42", "100")
    assert store.record_event(other_tenant)[2] is True


def test_stranded_events_are_found_once_their_wait_is_over(store):
    rid, _, _ = store.record_event(Event("zendesk", "i1", "e", "comment_added", "1"))
    later = utcnow() + timedelta(minutes=1)
    assert store.stranded_events(timedelta(seconds=30), later) == [rid]
    store.park_event(rid, later + timedelta(minutes=5), "rate limited")
    assert store.stranded_events(timedelta(seconds=30), later) == []
    assert store.stranded_events(timedelta(seconds=30), later + timedelta(minutes=6)) == [rid]


def test_conversation_state_defaults_to_bot_and_moves(store):
    assert store.state("i1", "42") is State.BOT
    store.set_state("i1", "42", State.ESCALATED)
    store.set_state("i1", "42", State.ESCALATED)
    assert store.state("i1", "42") is State.ESCALATED


PLAN = Plan("k-1", "42", (AddNote("<p>n</p>", "n"), AddTags(("a",)), SetPriority(Priority.HIGH)), {"tags": ["x"]})


def test_plan_round_trips_through_json():
    assert plan_from_json(plan_to_json(PLAN)) == PLAN


def test_outbox_key_is_unique_and_a_claim_is_exclusive(store):
    oid, new = store.add_outbox("i1", None, PLAN)
    assert new and store.add_outbox("i1", None, PLAN) == (oid, False)
    now = utcnow()
    row = store.claim(oid, timedelta(seconds=60), now)
    assert row.plan == PLAN and row.attempts == 1
    assert store.claim(oid, timedelta(seconds=60), now) is None  # held by a live lease
    assert store.claim(oid, timedelta(seconds=60), now + timedelta(seconds=61)).attempts == 2  # sender died
    store.finish(oid, "sent")
    assert store.claim(oid, timedelta(seconds=60), now + timedelta(hours=1)) is None
    assert store.outbox_row(oid).plan is None  # customer text is not kept once sent


def test_parked_writes_wait_for_their_time(store):
    oid, _ = store.add_outbox("i1", None, PLAN)
    now = utcnow()
    store.claim(oid, timedelta(seconds=60), now)
    store.finish(oid, "parked", "429", now + timedelta(seconds=30))
    assert store.claim(oid, timedelta(seconds=60), now + timedelta(seconds=29)) is None
    assert store.due_outbox(now + timedelta(seconds=29)) == []
    assert store.due_outbox(now + timedelta(seconds=31)) == [oid]
    assert store.claim(oid, timedelta(seconds=60), now + timedelta(seconds=31)) is not None


def test_decisions_are_kept_with_reasons(store):
    from integration.engine import evaluate
    from tests.builders import conv

    d = evaluate(conv("I want to talk to a human"))
    store.record_decision("i1", "42", None, d)
    (row,) = store.decisions_for("i1", "42")
    assert row["action"] == "escalate" and row["reasons"][0]["code"] == "explicit_request"
    assert row["reasons"][0]["evidence"][0]["quote"] == "I want to talk to a human"


def test_flagged_installation_is_broken_with_reason(store):
    inst = store.add_installation("zendesk", "https://a", {})
    store.flag_installation(inst.id, "ApiUnauthorized: 401")
    assert store.installation_status(inst.id) == ("broken", "ApiUnauthorized: 401")
    assert store.installation(inst.id).status == "broken"


def test_a_queued_event_whose_task_was_lost_is_queued_again(store):
    rid, _, _ = store.record_event(Event("zendesk", "i1", "lost", "comment_added", "1"))
    store.mark_enqueued(rid)
    now = utcnow()
    assert store.stranded_events(timedelta(seconds=30), now, requeue_after=timedelta(minutes=15)) == []
    later = now + timedelta(minutes=16)
    assert store.stranded_events(timedelta(seconds=30), later, requeue_after=timedelta(minutes=15)) == [rid]
    store.mark_enqueued(rid)  # the drain queued it again: its clock restarts
    assert store.stranded_events(timedelta(seconds=30), utcnow(), requeue_after=timedelta(minutes=15)) == []
    store.mark_event(rid, "processed")
    assert store.stranded_events(timedelta(seconds=30), later + timedelta(hours=1)) == []
