"""InstallationRepository: secrets encrypted at rest and never printed, ids safe on a command line,
the admin's flag."""
from cryptography.fernet import Fernet
from sqlalchemy import select

from integration.service.store import Outcome, Vault, installations
from tests.store.common import commit


def test_credentials_are_encrypted_at_rest_and_decrypt_on_read(store):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a@acme.com", "token": "tok-123"},
                                  settings={"api_user_id": "9"}, webhook_secret="whsec-abc")
    with store.engine.connect() as conn:
        raw = conn.execute(select(installations)).mappings().one()
    assert "tok-123" not in str(dict(raw)) and "whsec-abc" not in str(dict(raw))
    again = store.installations.get(inst.id)
    assert again.credentials == {"email": "a@acme.com", "token": "tok-123"}
    assert again.webhook_secret == "whsec-abc" and again.settings == {"api_user_id": "9"}

def test_secrets_are_decrypted_once_per_installation_and_again_after_a_change_or_rotation(store, monkeypatch):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "tok-1"}, webhook_secret="whsec-1")
    opened: list[str] = []
    decrypt = store.vault.decrypt
    monkeypatch.setattr(store.vault, "decrypt", lambda token: opened.append(token) or decrypt(token))
    for _ in range(3):  # every event reads its installation: one decryption of each secret in all
        assert store.installations.get(inst.id).credentials == {"token": "tok-1"}
    assert len(opened) <= 2
    store.installations.update(inst.id, credentials={"token": "tok-2"})  # the admin reconnected
    assert store.installations.get(inst.id).credentials == {"token": "tok-2"}
    opened.clear()
    assert store.installations.rotate_secrets() == 1  # new tokens (here under the same key): read afresh, once
    assert store.installations.get(inst.id).webhook_secret == "whsec-1"
    store.installations.get(inst.id)
    assert len(opened) <= 4  # the rotation's own two, then one read of each new token
    store.installations.get(inst.id).credentials["token"] = "changed by a caller"
    assert store.installations.get(inst.id).credentials == {"token": "tok-2"}  # a caller's copy, not the kept one
    store.lifecycle.uninstall(inst.id, "admin")
    assert store.installations.get(inst.id).credentials == {}


def test_generated_webhook_secrets_have_256_bits(store):
    a = store.installations.add("zendesk", "https://a", {})
    b = store.installations.add("zendesk", "https://b", {})
    assert len(a.webhook_secret) >= 43 and a.webhook_secret != b.webhook_secret  # 32 bytes, url-safe base64

def test_key_rotation_keeps_old_tokens_readable():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = Vault(old).encrypt("s3cret")
    rotated = Vault(f"{new},{old}")
    assert rotated.decrypt(token) == "s3cret"
    assert Vault(new).decrypt(rotated.rotate(token)) == "s3cret"  # after rotation the old key can retire

def test_an_outcome_can_flag_the_installation_for_its_admin(store):
    inst, _ = commit(store, Outcome("dead", "ApiUnauthorized: 401", flag="ApiUnauthorized: 401"))
    assert store.installations.status(inst.id) == ("broken", "ApiUnauthorized: 401")
    assert store.installations.get(inst.id).status == "broken" and store.installations.flagged() == [inst.id]
    store.installations.reactivate(inst.id)
    assert store.installations.status(inst.id) == ("active", None)

def test_an_installation_never_prints_its_secrets(store):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a@acme.com", "token": "tok-123"},
                                  webhook_secret="whsec-abc")
    assert "tok-123" not in repr(inst) and "whsec-abc" not in repr(inst) and inst.id in repr(inst)

def test_installation_ids_can_be_typed_on_a_command_line(store, monkeypatch):
    import secrets as secrets_module

    made = iter(["-starts-with-a-dash", "fine-id-0001"])
    monkeypatch.setattr(secrets_module, "token_urlsafe", lambda n: next(made))
    inst = store.installations.add("zendesk", "https://a", {}, webhook_secret="whsec")
    assert inst.id == "fine-id-0001"
