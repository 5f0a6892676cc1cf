"""The webhook receiver: verify, parse, record, enqueue, answer. Nothing else happens here.

POST /webhooks/<provider>/<installation>
    413 body over 1 MiB (before reading it whole) · 404 unknown helpdesk or installation ·
    401 bad, missing or stale signature (nothing recorded) · 400 not that helpdesk's payload ·
    200 known event we ignore (or our own echo) · 503 database or queue down (never a 2xx for an
    event that is not safely recorded and queued) · 200 recorded and queued, or a duplicate.
HEAD /webhooks/<provider>/<installation>   200: the endpoint check helpdesks make when subscribing
GET /healthz
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from flask import Flask, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

import connectors
from connectors.base import Ignored, InvalidSignature, NotOurs
from integration.store import Store, Vault, default_url, utcnow
from integration.tasks import CeleryQueue, QueueUnavailable

log = logging.getLogger("baton.web")

MAX_BODY = 1024 * 1024


def create_app(store: Store | None = None, queue: Any = None, clock: Callable = utcnow) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY)
    app.config.from_prefixed_env("BATON")
    store = store or Store(default_url(), Vault.from_env())
    queue = queue or CeleryQueue()
    installation = _cached(store.installation, seconds=30.0, clock=time.monotonic)

    @app.post("/webhooks/<provider>/<installation_id>")
    def webhook(provider: str, installation_id: str):  # type: ignore[no-untyped-def]
        body = _read_body()
        if body is None:
            return _answer(413, "body over 1 MiB")
        try:
            connector = connectors.get(provider)
        except KeyError:
            return _answer(404, "unknown helpdesk")
        try:
            inst = installation(installation_id)
        except SQLAlchemyError:
            log.error(f"{provider}.webhook.database-down", extra={"installation": installation_id})
            return _answer(503, "database unavailable")
        if inst is None or inst.provider != provider:
            return _answer(404, "unknown installation")
        try:
            connector.verify(request.headers, body, inst, clock())
        except InvalidSignature as e:
            log.warning(f"{provider}.webhook.invalid-signature", extra={"installation": inst.id, "why": str(e)})
            return _answer(401, "invalid signature")
        try:
            ev = connector.parse(body, inst)
        except Ignored as e:
            return _answer(200, f"ignored: {e}")
        except NotOurs as e:
            log.warning(f"{provider}.webhook.not-ours", extra={"installation": inst.id, "why": str(e)})
            return _answer(400, f"not a {provider} event: {e}")
        try:
            rid, status, new = store.record_event(ev)
            if status == "received":  # new, or recorded while the queue was down: queue it now
                queue.enqueue_event(rid)
                store.mark_enqueued(rid)
        except SQLAlchemyError:
            log.error(f"{provider}.webhook.database-down", extra={"installation": inst.id})
            return _answer(503, "database unavailable")
        except QueueUnavailable:
            log.error(f"{provider}.webhook.queue-down", extra={"installation": inst.id})
            return _answer(503, "queue unavailable")
        return jsonify(status="duplicate" if not new else "queued", event=rid), 200

    @app.route("/webhooks/<provider>/<installation_id>", methods=["HEAD", "GET"])
    def webhook_check(provider: str, installation_id: str):  # type: ignore[no-untyped-def]
        """Intercom checks an endpoint with HEAD before subscribing it; say only whether we serve it."""
        return ("", 200) if provider in connectors.KEYS else ("", 404)

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
        ok = all(v == "ok" for v in checks.values())
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


def _read_body() -> bytes | None:
    """The raw bytes, or None past MAX_BODY: refused from Content-Length before reading, and a
    chunked body is cut at the limit."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = request.stream.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def _answer(status: int, message: str):  # type: ignore[no-untyped-def]
    return jsonify(status=status, message=message), status
