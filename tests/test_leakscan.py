"""The leak scanner (tests/leakscan.py) finds what it must and passes what is clean."""
from __future__ import annotations

import logging
import uuid

from tests.leakscan import RECORDER, Item, Recorder, scan

SECRET = "zK3-planted-webhook-secret"
BODY = "My card was charged twice for order 1234, please help"


def item(text: str, field: str = "message") -> Item:
    return Item("tests/x.py::t", "baton.test", field, text)


def kinds(found) -> list[str]:
    return sorted(f.kind for f in found)


def test_it_finds_an_email_a_planted_secret_and_a_message_body():
    found = scan([item("handoff for ann.customer@example.com"), item(f"verify failed with {SECRET}", "extra.why"),
                  item(f"note: {BODY}", "exc_text")], secrets={SECRET}, bodies={BODY})
    assert kinds(found) == ["email address", "message body", "secret"]
    secret = next(f for f in found if f.kind == "secret")
    assert secret.item.field == "extra.why" and SECRET not in str(secret)  # reported redacted


def test_it_finds_auth_headers_and_random_looking_tokens():
    found = scan([item("headers {'Authorization': 'Bearer abcdefgh12345678'}"),
                  item("key gAAAAABmX3k9Qw7Zr2LJb8vQ1eXyTz0aKq4Wm6Np"),
                  item("state=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.x")])
    assert kinds(found) == ["authorization header", "token-like string", "token-like string"]


def test_a_clean_record_passes():
    clean = [item("event.processed"), item("inst_3f2a9c", "extra.installation"),
             item(uuid.uuid4().hex, "extra.request_id"), item(str(uuid.uuid4()), "extra.id"),
             item("a1f0" * 16, "extra.key_sha256"), item("/tmp/pytest-of-root/pytest-3/test_replay_queues_an0/b.db"),
             item("POST /api/v2/tickets/1004.json: 422 too large", "extra.why"),
             item("test_a_failed_install_leaves_nothing_behind_and_bad_settings", "extra.test")]
    assert scan(clean, secrets={SECRET}, bodies={BODY}) == []


def test_encrypted_credentials_become_secrets_value_by_value():
    rec = Recorder()
    rec.secret('{"email": "agent@acme.example", "token": "tok-12345678", "x": "short"}')
    rec.secret("s3cr3t-webhook-value")
    rec.secret("{}")
    assert rec.secrets == {"agent@acme.example", "tok-12345678", "s3cr3t-webhook-value"}


def test_the_session_recorder_sees_baton_log_records_with_their_extra_fields():
    before = RECORDER.log_records
    logging.getLogger("baton.test-leakscan").info("recorded", extra={"installation": "i-leakscan"})
    assert RECORDER.log_records == before + 1
    assert any(i.field == "extra.installation" and i.text == "i-leakscan" for i in RECORDER.items)
