"""Every setting Baton reads from its environment, read here and nowhere else.

``Settings.from_env()`` is called by the process entry points (the web and worker factories, the
CLI); everything below them receives a ``Settings`` or plain values, so a test builds one with
the values it wants instead of patching the environment.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Fernet key(s) for credentials and webhook secrets at rest; "new,old" rotates. Empty: not set.
    secret_key: str = ""
    # Flask's SECRET_KEY (sessions, signed cookies): BATON_SESSION_KEY, else derived from secret_key
    # for that one purpose; never the Fernet key itself.
    session_key: str = ""
    visibility_timeout: int = 3600  # the broker's; countdowns stay well below it
    drain_seconds: float = 15.0  # beat re-queues parked and stranded work this often
    roster_seconds: float = 300.0  # beat re-reads every roster this often
    reprobe_seconds: float = 300.0  # beat tries installations flagged for their admin this often
    reconcile_seconds: float = 300.0  # beat sweeps each helpdesk for changes whose webhooks never came
    stranded_seconds: float = 30.0  # an event recorded but not queued this long ago is queued again
    requeue_seconds: float = 900.0  # an event queued this long ago and never processed lost its task
    lease_seconds: float = 60.0  # a delivery attempt holds its outbox row this long (> one API call)
    # The marketplace apps. Where helpdesks reach Baton (webhooks, app iframes, OAuth redirects):
    public_url: str = ""
    # Baton's own OAuth clients, registered once with each vendor (global, not per account)
    zendesk_client_id: str = ""
    zendesk_client_secret: str = ""
    zendesk_app_id: str = ""  # the ZAF app's id: its public key verifies the signed iframe loads
    intercom_client_id: str = ""
    intercom_client_secret: str = ""  # also the key of Canvas Kit's X-Body-Signature
    # helpdesks at local or private addresses (the sandboxes) are accepted only with this on; it
    # also lets the processes start on a broker Redis that can lose work (as redis_unsafe does)
    development: bool = False
    # start even though the broker Redis may evict keys or has no append-only file (a development
    # or throwaway broker): a warning instead of refusing (tasks.check_broker)
    redis_unsafe: bool = False
    # prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR, which the library also reads at
    # import): gunicorn's and Celery's processes on one machine write their counters there and /metrics sums them
    metrics_dir: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("BATON_HOME", ".baton"))
        secret = env.get("BATON_SECRET_KEY", "")

        def number(name: str, default: float) -> float:
            value = env.get(name)
            try:
                return float(value) if value else default
            except ValueError as e:
                raise ValueError(f"{name} must be a number (got {value!r})") from e

        return cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{home / 'baton.db'}",
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            secret_key=secret,
            session_key=env.get("BATON_SESSION_KEY", ""),
            visibility_timeout=int(number("BATON_VISIBILITY_TIMEOUT", cls.visibility_timeout)),
            drain_seconds=number("BATON_DRAIN_SECONDS", cls.drain_seconds),
            roster_seconds=number("BATON_ROSTER_SECONDS", cls.roster_seconds),
            reprobe_seconds=number("BATON_REPROBE_SECONDS", cls.reprobe_seconds),
            reconcile_seconds=number("BATON_RECONCILE_SECONDS", cls.reconcile_seconds),
            stranded_seconds=number("BATON_STRANDED_SECONDS", cls.stranded_seconds),
            requeue_seconds=number("BATON_REQUEUE_SECONDS", cls.requeue_seconds),
            lease_seconds=number("BATON_LEASE_SECONDS", cls.lease_seconds),
            public_url=env.get("BATON_PUBLIC_URL", "").rstrip("/"),
            zendesk_client_id=env.get("BATON_ZENDESK_CLIENT_ID", ""),
            zendesk_client_secret=env.get("BATON_ZENDESK_CLIENT_SECRET", ""),
            zendesk_app_id=env.get("BATON_ZENDESK_APP_ID", ""),
            intercom_client_id=env.get("BATON_INTERCOM_CLIENT_ID", ""),
            intercom_client_secret=env.get("BATON_INTERCOM_CLIENT_SECRET", ""),
            development=env.get("BATON_DEVELOPMENT", "") in ("1", "true", "yes"),
            redis_unsafe=env.get("BATON_REDIS_UNSAFE", "") in ("1", "true", "yes"),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
        )

    @property
    def flask_secret_key(self) -> str:
        return self.session_key or derived_key(self.secret_key, "flask-session")

    @property
    def park_after(self) -> float:
        """Waits longer than this are parked in the database, never given to the broker as a countdown."""
        return min(300.0, self.visibility_timeout / 4)


def derived_key(secret: str, purpose: str) -> str:
    """A key for one purpose derived from the configured secret (HMAC-SHA256, the purpose as the
    message), so one secret in the environment never serves two purposes as itself. Empty when
    no secret is set."""
    if not secret:
        return ""
    mac = hmac.new(secret.split(",")[0].strip().encode(), f"baton:{purpose}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode()
