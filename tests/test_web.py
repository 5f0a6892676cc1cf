import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connectors.zendesk import webhook
from sqlalchemy import event as sa_event

from integration.service.settings import Settings
from integration.service.store import Store, Vault
from integration.service.tasks import QueueUnavailable
from integration.service.web import MAX_BODY, create_app
from integration.tools.local import Server

NOW = datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)
BODY = (Path(__file__).parents[1] / "connectors/zendesk/fixtures/ticket_comment_added.json").read_bytes()


class FakeQueue:
    def __init__(self, up=True):
        self.up, self.events = up, []

    def enqueue_event(self, event_id, installation=None):
        if not self.up:
            raise QueueUnavailable("redis down")
        self.events.append(event_id)

    def ping(self):
        if not self.up:
            raise QueueUnavailable("redis down")


@pytest.fixture
def env(store):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {}, settings={"api_user_id": "1"},
                                   webhook_secret="whsec")
    queue = FakeQueue()
    client = app(store, queue).test_client()
    return store, inst, queue, client


def app(store, queue):
    return create_app(Settings(database_url=store.url), store=store, queue=queue, clock=lambda: NOW)


def headers(body=BODY, secret="whsec"):
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {webhook.SIGNATURE: webhook.sign(secret, stamp, body), webhook.TIMESTAMP: stamp,
            "Content-Type": "application/json"}


def events(store):
    from integration.service.store import events as table
    return store.rows(table)


def test_signed_event_is_recorded_queued_and_acknowledged(env):
    store, inst, queue, client = env
    r = client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers())
    assert r.status_code == 200 and r.json["status"] == "queued"
    (row,) = events(store)
    assert (row["key"], row["ticket_id"], row["status"]) == ("d4f5c389-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "5158", "enqueued")
    assert queue.events == [row["id"]]


def test_duplicates_are_acknowledged_but_queued_once(env):
    store, inst, queue, client = env
    for _ in range(10):
        assert client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers()).status_code == 200
    assert len(events(store)) == 1 and len(queue.events) == 1


@pytest.mark.parametrize("mutate", [
    lambda h: {k: v for k, v in h.items() if k != webhook.SIGNATURE},
    lambda h: {**h, webhook.SIGNATURE: "AAAA"},
    lambda h: headers(secret="another-tenant"),
    lambda h: {**h, webhook.TIMESTAMP: "2026-11-20T14:15:00Z"},  # stale: 10 minutes old
])
def test_bad_signatures_get_401_and_nothing_is_recorded_or_queued(env, mutate):
    store, inst, queue, client = env
    r = client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=mutate(headers()))
    assert r.status_code == 401
    assert events(store) == [] and queue.events == []


def test_a_reserialised_body_does_not_verify(env):
    store, inst, queue, client = env
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=pretty, headers=headers()).status_code == 401


def test_body_over_one_mib_is_refused_before_reading(env):
    store, inst, queue, client = env
    big = b"x" * (MAX_BODY + 1)
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=big, headers=headers(big)).status_code == 413
    exact = b" " * (MAX_BODY - len(BODY)) + BODY  # exactly 1 MiB is fine
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=exact, headers=headers(exact)).status_code == 200


def test_known_unhandled_events_get_200_and_are_not_recorded(env):
    store, inst, queue, client = env
    body = (Path(__file__).parents[1] / "connectors/zendesk/fixtures/ticket_priority_changed.json").read_bytes()
    r = client.post(f"/webhooks/zendesk/{inst.id}", data=body, headers=headers(body))
    assert r.status_code == 200 and "ignored" in r.json["message"]
    assert events(store) == []


def test_payloads_that_are_not_zendesks_get_400(env):
    store, inst, queue, client = env
    body = b'{"hello": "world"}'
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=body, headers=headers(body)).status_code == 400


def test_unknown_installation_or_helpdesk_is_404(env):
    store, inst, queue, client = env
    assert client.post("/webhooks/zendesk/nope", data=BODY, headers=headers()).status_code == 404
    assert client.post(f"/webhooks/acme/{inst.id}", data=BODY, headers=headers()).status_code == 404
    assert client.post(f"/webhooks/freshdesk/{inst.id}", data=BODY, headers=headers()).status_code == 404


def test_queue_down_answers_503_and_the_event_is_queued_on_the_retry(env):
    store, inst, queue, client = env
    queue.up = False
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers()).status_code == 503
    assert [e["status"] for e in events(store)] == ["received"]  # kept, not acknowledged
    queue.up = True
    assert client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers()).status_code == 200
    assert [e["status"] for e in events(store)] == ["enqueued"] and len(queue.events) == 1


def test_database_down_answers_503(vault):
    broken = Store("postgresql://postgres@127.0.0.1:1/none", vault)
    client = app(broken, FakeQueue()).test_client()
    assert client.post("/webhooks/zendesk/x", data=BODY, headers=headers()).status_code == 503
    h = client.get("/healthz")
    assert h.status_code == 503 and h.json["database"] == "down"


def test_healthz(env):
    store, inst, queue, client = env
    assert client.get("/healthz").json == {"status": "ok", "database": "ok", "queue": "ok", "secrets": "ok"}
    queue.up = False
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json["queue"] == "down"


def test_endpoint_checks_are_answered(env):
    store, inst, queue, client = env
    assert client.head(f"/webhooks/intercom/{inst.id}").status_code == 200
    assert client.head(f"/webhooks/acme/{inst.id}").status_code == 404
    assert events(store) == []


def test_a_delivery_is_one_transaction(env):
    store, inst, queue, client = env
    client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers())  # the installation is now cached
    other = BODY.replace(b"d4f5c389", b"aaaaaaaa")
    transactions = []

    def count(conn):
        transactions.append(conn)

    sa_event.listen(store.engine, "begin", count)
    try:
        r = client.post(f"/webhooks/zendesk/{inst.id}", data=other, headers=headers(other))
    finally:
        sa_event.remove(store.engine, "begin", count)
    assert r.status_code == 200 and r.json["status"] == "queued"
    assert len(transactions) == 1 and len(queue.events) == 2


def test_a_wrong_secret_key_is_reported_by_health_and_answered_503(env):
    store, inst, queue, client = env
    wrong = Store(store.url, Vault(Fernet.generate_key().decode()))  # the operator changed BATON_SECRET_KEY
    wrong_client = app(wrong, queue).test_client()
    h = wrong_client.get("/healthz")
    assert h.status_code == 503 and h.json["secrets"].startswith("undecryptable")
    r = wrong_client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers())
    assert r.status_code == 503 and "BATON_SECRET_KEY" in r.json["message"]  # the helpdesk retries later
    assert events(store) == []


@pytest.mark.parametrize("installation_id", ["%00", "a%00b", "x" * 65, "..", "a b"])
def test_an_installation_id_that_cannot_exist_is_404_without_asking_the_database(env, installation_id):
    store, inst, queue, client = env
    assert client.post(f"/webhooks/zendesk/{installation_id}", data=BODY, headers=headers()).status_code == 404


def test_a_chunked_body_over_one_mib_is_413_not_cut(env):
    store, inst, queue, client = env
    server = Server(app(store, queue))
    try:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"POST /webhooks/zendesk/{inst.id} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Content-Type: application/json\r\n\r\n".encode())
            data = b" " * (MAX_BODY + 100)
            for i in range(0, len(data), 65536):
                piece = data[i:i + 65536]
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
            status = sock.makefile("rb").readline()
    finally:
        server.stop()
    assert status.split()[1] == b"413"
    assert events(store) == []


def test_the_intercom_apps_single_webhook_url_finds_the_workspace_by_its_app_id(store):
    from connectors.intercom import webhook as intercom

    body = (Path(__file__).parents[1] / "connectors/intercom/fixtures/conversation_user_replied.json").read_bytes()
    workspace = json.loads(body)["app_id"]
    inst = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "t"},
                                   settings={"app_id": workspace, "api_user_id": "1"}, webhook_secret="client-secret")
    queue = FakeQueue()
    client = app(store, queue).test_client()
    signed = {intercom.SIGNATURE: intercom.sign("client-secret", body), "Content-Type": "application/json"}
    r = client.post("/webhooks/intercom", data=body, headers=signed)
    assert r.status_code == 200 and r.json["status"] == "queued"
    assert events(store)[0]["installation_id"] == inst.id
    other = body.replace(workspace.encode(), b"unknown1")
    assert client.post("/webhooks/intercom", data=other,
                       headers={intercom.SIGNATURE: intercom.sign("client-secret", other)}).status_code == 404
    assert client.post("/webhooks/intercom", data=body, headers={intercom.SIGNATURE: "sha1=00"}).status_code == 401
    assert client.post("/webhooks/intercom", data=b"[1]", headers=signed).status_code == 400
    assert client.head("/webhooks/intercom").status_code == 200
    store.lifecycle.uninstall(inst.id, "Intercom")  # seen by a web process within its 30 s installation cache
    assert app(store, queue).test_client().post("/webhooks/intercom", data=body, headers=signed).status_code == 410


def test_metrics_count_webhooks_by_result_with_bounded_labels(env):
    store, inst, queue, client = env

    def value(text: str, name: str) -> float:  # the counters are the process's: compare before and after
        line = next((l for l in text.splitlines() if l.startswith(name + " ")), None)
        return float(line.split()[-1]) if line else 0.0

    names = [f'baton_webhooks_total{{helpdesk="zendesk",result="{r}"}}' for r in ("queued", "duplicate", "invalid_signature")]
    before = client.get("/metrics").get_data(as_text=True)
    client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers())
    client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers())
    client.post(f"/webhooks/zendesk/{inst.id}", data=BODY, headers=headers(secret="wrong"))
    text = client.get("/metrics").get_data(as_text=True)
    assert [value(text, n) - value(before, n) for n in names] == [1, 1, 1]
    assert 'baton_queue_depth{helpdesk="zendesk"} 1.0' in text
    assert "baton_webhook_ack_seconds_bucket" in text
    assert inst.id not in text and "5158" not in text  # no installation or ticket ids in labels


def test_metrics_sum_the_counters_of_every_process_sharing_the_multiprocess_directory(tmp_path):
    import os
    import subprocess
    import sys

    count = ("from integration.service import metrics\n"
             "metrics.WEBHOOKS.labels('zendesk', 'queued').inc({n})\n")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (3, 4):  # two gunicorn or Celery processes
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True, cwd=Path(__file__).parents[1])
    show = ("from integration.service import metrics\n"
            "class Events:\n    def backlog(self): return ({'zendesk': 2}, {('zendesk', 'event'): 1})\n"
            "class Store:\n    events = Events()\n"
            f"print(metrics.exposition(Store(), {str(tmp_path)!r}).decode())\n")
    out = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1]).stdout
    assert 'baton_webhooks_total{helpdesk="zendesk",result="queued"} 7.0' in out
    assert 'baton_queue_depth{helpdesk="zendesk"} 2.0' in out and 'baton_dead_letters{helpdesk="zendesk",kind="event"} 1.0' in out
