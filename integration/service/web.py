"""The webhook receiver: verify, parse, record, enqueue, answer. Nothing else happens here.

POST /webhooks/<provider>/<installation>
    413 body over 1 MiB (before reading it whole) · 404 unknown helpdesk or installation ·
    401 bad, missing or stale signature (nothing recorded) · 400 not that helpdesk's payload ·
    200 known event we ignore (or our own echo) · 503 database or queue down (never a 2xx for an
    event that is not safely recorded and queued) · 200 recorded and queued, or a duplicate.
    A batched delivery (Sunshine Conversations): each event recorded and queued on its own key;
    200 with the counts (``queued``, ``duplicates``, ``skipped`` and why) even when some items
    were unreadable; 400 when the body is not a batch at all.
HEAD /webhooks/<provider>/<installation>   200: the endpoint check helpdesks make when subscribing
GET /healthz
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable

from flask import Flask, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

import connectors
from connectors.base import json_object
from integration.core.contract import Batch, Ignored, InvalidSignature, NotOurs
from integration.core.model import Event
from integration.service import apps, console, egress, metrics
from integration.service.pipeline import Pipeline
from integration.service.quota import Guards
from integration.service.settings import Settings
from integration.service.store import SecretsUnreadable, Store, Vault, utcnow
from integration.service.tasks import CeleryQueue, QueueUnavailable, celery_config, celery_init_app, check_broker

log = logging.getLogger("baton.web")

MAX_BODY = 1024 * 1024
BATCH_REASONS = 20  # skipped items of a batch named in the answer; the count says how many there were
INSTALLATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what InstallationRepository.add makes


@dataclass(frozen=True)
class Baton:
    """What the web views and the tasks share, kept in ``app.extensions["baton"]``."""

    settings: Settings
    store: Store
    pipeline: Pipeline


def create_app(settings: Settings | None = None, *, store: Store | None = None, queue: Any = None,
               clock: Callable = utcnow) -> Flask:
    """The web app (and, through Flask's Celery pattern, the Celery app the worker runs). Tests and
    the demo pass their own store and queue; a process started by the Procfile passes nothing
    and gets both from the environment."""
    from_env = settings is None  # a process the Procfile started (gunicorn, celery), not a test or the demo
    settings = settings or Settings.from_env()
    if from_env:  # every connection it opens to a helpdesk is checked where it landed (DNS rebinding)
        egress.check_connections(settings.development)
    store = store or Store(settings.database_url, Vault(settings.secret_key))
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY, SECRET_KEY=settings.flask_secret_key,
                            CELERY=celery_config(settings))
    celery = celery_init_app(app)
    # the guards' state lives where the queue does: the Celery broker's Redis, shared by every web
    # and worker process; the embedded queue a caller passes keeps it in this process's memory
    guards = Guards.redis(settings.redis_url) if queue is None else Guards()
    broker_checked = queue is None  # the broker's Redis must not lose work (R8); the embedded queue has none
    if broker_checked:
        check_broker(settings)
    pipeline = Pipeline(store, park_after=settings.park_after, lease=timedelta(seconds=settings.lease_seconds),
                        stranded_after=timedelta(seconds=settings.stranded_seconds),
                        requeue_after=timedelta(seconds=settings.requeue_seconds), guards=guards)
    app.extensions["baton"] = Baton(settings, store, pipeline)
    app.register_blueprint(console.bp)
    apps.register(app)
    queue = queue or CeleryQueue(celery)
    installation = _cached(store.installations.get, seconds=30.0, clock=time.monotonic)
    # a public Intercom app's deliveries name the workspace, not the installation: looked up as rarely
    workspace_installation = _cached(lambda workspace: store.installations.find("intercom", setting=("app_id", workspace)),
                                     seconds=30.0, clock=time.monotonic)

    @app.post("/webhooks/<provider>/<installation_id>")
    def webhook(provider: str, installation_id: str):  # type: ignore[no-untyped-def]
        body = _read_body()
        if body is None:
            return _answer(413, "body over 1 MiB")
        if provider not in connectors.KEYS:
            return _answer(404, "unknown helpdesk")
        if not INSTALLATION_ID.fullmatch(installation_id):
            return _answer(404, "unknown installation")
        return receive(provider, installation_id, body)

    @app.post("/webhooks/intercom")
    def intercom_app_webhook():  # type: ignore[no-untyped-def]
        """A public Intercom app has one webhook URL for every workspace: the workspace is the
        body's ``app_id`` (the signature, checked next, is the app's)."""
        body = _read_body()
        if body is None:
            return _answer(413, "body over 1 MiB")
        try:  # read before the signature is checked: the same bounded parse as every other body
            workspace = json_object(body).get("app_id")
        except NotOurs as e:
            return _answer(e.status, f"not an Intercom notification: {e}")
        if not isinstance(workspace, str) or not workspace:
            return _answer(400, "not an Intercom notification (no app_id)")
        try:
            inst = workspace_installation(workspace)
        except SQLAlchemyError:
            return _answer(503, "database unavailable")
        return receive("intercom", inst.id, body) if inst else _answer(404, "no installation for this workspace")

    def receive(provider: str, installation_id: str, body: bytes):  # type: ignore[no-untyped-def]
        connector = connectors.get(provider)
        try:
            inst = installation(installation_id)
        except SQLAlchemyError:
            log.error(f"{provider}.webhook.database-down", extra={"installation": installation_id})
            return _answer(503, "database unavailable")
        except SecretsUnreadable:
            log.error(f"{provider}.webhook.secrets-unreadable", extra={"installation": installation_id})
            return _answer(503, "cannot read this installation's secrets: check BATON_SECRET_KEY")
        if inst is None or inst.provider != provider:
            return _answer(404, "unknown installation")
        if inst.status == "uninstalled":
            return _answer(410, "Baton was uninstalled from this account")
        try:
            connector.verify(request.headers, body, inst, clock())
        except InvalidSignature as e:
            log.warning(f"{provider}.webhook.invalid-signature", extra={"installation": inst.id, "why": str(e)})
            return _answer(401, "invalid signature")
        except Exception:  # headers nobody expected: unverifiable is refused as unsigned, never a 5xx
            log.exception(f"{provider}.webhook.unverifiable", extra={"installation": inst.id})
            return _answer(401, "invalid signature")
        try:
            parsed = connector.parse(body, inst)
            ev = parsed if isinstance(parsed, Batch) else _storable(parsed)
        except Ignored as e:
            return _answer(200, f"ignored: {e}")
        except NotOurs as e:
            log.warning(f"{provider}.webhook.not-ours", extra={"installation": inst.id, "why": str(e)})
            return _answer(e.status, f"not a {provider} event: {e}")
        except Exception as e:  # a signed payload of a shape nobody expected: the sender's problem, never a 5xx
            log.exception(f"{provider}.webhook.unparseable", extra={"installation": inst.id})
            return _answer(400, f"not a {provider} event Baton can read ({type(e).__name__})")
        if isinstance(ev, Batch):
            return receive_batch(provider, inst.id, ev)
        try:
            rid, new = keep(ev)
        except SQLAlchemyError:
            log.error(f"{provider}.webhook.database-down", extra={"installation": inst.id})
            return _answer(503, "database unavailable")
        except _NotQueued:
            log.error(f"{provider}.webhook.queue-down", extra={"installation": inst.id})
            return _answer(503, "queue unavailable")
        return jsonify(status="duplicate" if not new else "queued", event=rid), 200

    def receive_batch(provider: str, installation_id: str, batch: Batch):  # type: ignore[no-untyped-def]
        """Each event of a batched delivery recorded and queued as if it had come alone (deduplicated
        on its own key); an item that cannot be stored is skipped with its reason, never the whole
        delivery. 200 with the counts; 503 when the database or the queue failed, so the helpdesk
        sends it again (what was recorded meanwhile is then a duplicate)."""
        skipped, rids, queued, unqueued = list(batch.skipped), [], 0, 0
        for index, item in enumerate(batch.events):
            try:
                ev = _storable(item)
            except NotOurs as e:
                skipped.append(f"event {index}: {e}")
                continue
            try:
                rid, new = keep(ev)
            except SQLAlchemyError:
                log.error(f"{provider}.webhook.database-down", extra={"installation": installation_id})
                return _answer(503, "database unavailable")
            except _NotQueued as e:
                rid, new, unqueued = e.event_id, True, unqueued + 1
            rids.append(rid)
            queued += new
        if unqueued:
            log.error(f"{provider}.webhook.queue-down", extra={"installation": installation_id, "events": unqueued})
            return _answer(503, "queue unavailable")
        if skipped:
            log.info(f"{provider}.webhook.batch-skipped", extra={"installation": installation_id, "skipped": len(skipped)})
        status = "queued" if queued else "duplicate" if rids else "ignored"
        return jsonify(status=status, events=rids, queued=queued, duplicates=len(rids) - queued,
                       skipped=len(skipped), reasons=skipped[:BATCH_REASONS]), 200

    def keep(ev: Event) -> tuple[int, bool]:
        """Record the event once per key and queue it: (row id, whether it is new). SQLAlchemyError:
        not recorded; _NotQueued: recorded, left for the drain."""
        rid, status, new = store.events.receive(ev)  # the event's one transaction
        if new or status == "received":  # new, or recorded while the queue was down: queue it now
            try:
                queue.enqueue_event(rid, ev.installation_id)
                if not new:
                    store.events.mark_enqueued(rid)
            except (QueueUnavailable, SQLAlchemyError) as e:
                _leave_for_the_drain(store, rid)
                raise _NotQueued(rid) from e
        return rid, new

    @app.route("/webhooks/<provider>/<installation_id>", methods=["HEAD", "GET"])
    @app.route("/webhooks/<provider>", methods=["HEAD", "GET"])
    def webhook_check(provider: str, installation_id: str = ""):  # type: ignore[no-untyped-def]
        """Intercom checks an endpoint with HEAD before subscribing it; say only whether we serve it."""
        return ("", 200) if provider in connectors.KEYS else ("", 404)

    @app.before_request
    def _started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):  # type: ignore[no-untyped-def]
        if request.endpoint in ("webhook", "intercom_app_webhook") and request.method == "POST":
            helpdesk = (request.view_args or {}).get("provider", "intercom")
            helpdesk = helpdesk if helpdesk in connectors.KEYS else "unknown"
            metrics.WEBHOOKS.labels(helpdesk, metrics.webhook_result(response.status_code, response.get_json(silent=True))).inc()
            metrics.ACK_SECONDS.labels(helpdesk).observe(time.perf_counter() - g.started)
        return response

    @app.get("/metrics")
    def prometheus():  # type: ignore[no-untyped-def]
        return metrics.exposition(store, settings.metrics_dir), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        checks = {}
        try:
            store.ping()
            checks["database"] = "ok"
        except SQLAlchemyError:
            checks["database"] = "down"
        try:
            queue.ping()
            checks["queue"] = "ok"
        except QueueUnavailable:
            checks["queue"] = "down"
        try:
            store.installations.check_secrets()
            checks["secrets"] = "ok"
        except SecretsUnreadable:
            checks["secrets"] = "undecryptable: BATON_SECRET_KEY is not the key they were stored with"
        except SQLAlchemyError:
            checks["secrets"] = "unknown (database down)"
        broker_ok = True
        if broker_checked:  # Redis reconfigured since the start (CONFIG SET, a failover to another node)
            checks["redis_config"], broker_ok = (queue.config_health(settings) if checks["queue"] == "ok"
                                                 else ("unknown: queue down", True))
        ok = broker_ok and all(v == "ok" for k, v in checks.items() if k != "redis_config")
        return jsonify(status="ok" if ok else "degraded", **checks), 200 if ok else 503

    return app


def _cached(load: Callable[[str], Any], seconds: float, clock: Callable[[], float]) -> Callable[[str], Any]:
    """Installations change rarely and are read on every webhook: keep each for ``seconds``
    (a rotated secret or a new installation is seen within that time; unknown ids are not kept)."""
    cache: dict[str, tuple[float, Any]] = {}

    def get(key: str) -> Any:
        hit = cache.get(key)
        if hit and hit[0] > clock():
            return hit[1]
        value = load(key)
        if value is not None:
            cache[key] = (clock() + seconds, value)
        return value

    return get


class _NotQueued(Exception):
    """Recorded but not queued: the drain queues it later."""

    def __init__(self, event_id: int) -> None:
        super().__init__(event_id)
        self.event_id = event_id


def _storable(ev: Event) -> Event:
    """The event as the database can keep it: every field within its column, no control
    characters (PostgreSQL refuses a NUL byte), or NotOurs."""
    for name, value, limit in (("key", ev.key, 255), ("kind", ev.kind, 64), ("ticket id", ev.ticket_id, 64)):
        if not value or len(value) > limit or not value.isprintable():
            raise NotOurs(f"{name} is empty, too long or not printable")
    if ev.actor_id is not None and (len(ev.actor_id) > 64 or not ev.actor_id.isprintable()):
        return replace(ev, actor_id=None)  # who acted is a hint, not worth refusing the event for
    return ev


def _leave_for_the_drain(store: Store, event_id: int) -> None:
    """The event is recorded but not queued: say so, so the drain queues it (best effort: if the
    database is gone too, the drain's lost-task rule still finds it later)."""
    try:
        store.events.unqueue(event_id)
    except SQLAlchemyError:
        log.error("webhook.unqueue-failed", extra={"event": event_id})


def _read_body() -> bytes | None:
    """The raw bytes, or None past MAX_BODY: refused from Content-Length before reading; a chunked
    body is read from the server's own input, because the stream Flask offers for it stops at
    MAX_CONTENT_LENGTH without saying that more was sent."""
    if request.content_length is not None:
        return None if request.content_length > MAX_BODY else request.stream.read(MAX_BODY + 1)
    body = request.environ["wsgi.input"].read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def _answer(status: int, message: str):  # type: ignore[no-untyped-def]
    return jsonify(status=status, message=message), status
