"""Installations and their secrets: the helpdesk accounts Baton acts for, their credentials and
webhook secrets encrypted at rest with Fernet (``BATON_SECRET_KEY``; several comma-separated keys
rotate: the first encrypts, all decrypt), their status and 429 hold, and their rosters."""
from __future__ import annotations

import hmac
import json
import secrets
from datetime import datetime
from typing import Any, Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from integration.core.model import Installation, utc
from integration.service.store.base import Repository, _upsert, utcnow
from integration.service.store.lifecycle import LIFECYCLE_BATCH
from integration.service.store.rules import _audit
from integration.service.store.tables import installations, rosters

ENCRYPTED_COLUMNS = ("credentials", "webhook_secret")  # of installations: Fernet tokens (``Vault``)


class SecretsUnreadable(RuntimeError):
    """A stored secret does not decrypt with the configured key (a wrong BATON_SECRET_KEY)."""


class Vault:
    """Fernet encryption of secrets at rest, with key rotation."""

    def __init__(self, keys: str):
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("BATON_SECRET_KEY is not set: generate one with python -m integration secret-key")
        self._fernet = MultiFernet([Fernet(k) for k in parts])
        # installation → (credentials token, secret token, credentials, secret): see ``opened``
        self._opened: dict[str, tuple[str, str, dict[str, str], str]] = {}

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as e:
            raise SecretsUnreadable("cannot decrypt a stored secret: wrong BATON_SECRET_KEY?") from e

    def opened(self, inst_id: str, credentials: str, secret: str) -> tuple[dict[str, str], str]:
        """An installation's credentials and webhook secret, decrypted once per process: kept with
        the tokens they came from, so a change or a rotation (new tokens) decrypts again and drops
        what the old tokens held; an uninstall drops them (:meth:`forget`)."""
        held = self._opened.get(inst_id)
        if held is None or not (hmac.compare_digest(held[0], credentials) and hmac.compare_digest(held[1], secret)):
            held = (credentials, secret, json.loads(self.decrypt(credentials)), self.decrypt(secret))
            self._opened[inst_id] = held
        return dict(held[2]), held[3]  # the caller's own copy of the credentials

    def forget(self, inst_id: str) -> None:
        self._opened.pop(inst_id, None)

    def rotate(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as e:
            raise SecretsUnreadable("cannot decrypt a stored secret: wrong BATON_SECRET_KEY?") from e


def installation_from_row(vault: Vault, row: Mapping[str, Any]) -> Installation:
    credentials, secret = vault.opened(row["id"], row["credentials"], row["webhook_secret"])
    return Installation(
        id=row["id"], provider=row["provider"], base_url=row["base_url"], credentials=credentials,
        webhook_secret=secret, settings=row["settings"], rules=row["rules"], status=row["status"],
        rules_version=row["rules_version"],
    )


# An installation's columns beside another table's in one SELECT, told apart by a prefix.
_INSTALLATION = tuple(c.label(f"i_{c.name}") for c in installations.c)


def _unprefixed(r: Mapping[str, Any]) -> dict[str, Any]:
    return {k[2:]: v for k, v in r.items() if k.startswith("i_")}


class InstallationRepository(Repository):
    def add(self, provider: str, base_url: str, credentials: Mapping[str, str],
            settings: Mapping[str, Any] | None = None, rules: Mapping[str, Any] | None = None,
            webhook_secret: str | None = None, id: str | None = None) -> Installation:
        inst_id = id or _new_id()
        secret = webhook_secret or secrets.token_urlsafe(32)  # 256 bits when we choose it
        with self.engine.begin() as conn:
            conn.execute(insert(installations).values(
                id=inst_id, provider=provider, base_url=base_url,
                credentials=self.vault.encrypt(json.dumps(dict(credentials))),
                webhook_secret=self.vault.encrypt(secret), settings=dict(settings or {}),
                rules=dict(rules or {}), status="active", created_at=utcnow(),
            ))
        return self.get(inst_id)  # type: ignore[return-value]

    def get(self, inst_id: str) -> Installation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(installations).where(installations.c.id == inst_id)).mappings().first()
        return installation_from_row(self.vault, row) if row else None

    def update(self, inst_id: str, *, webhook_secret: str | None = None,
               settings: Mapping[str, Any] | None = None, rules: Mapping[str, Any] | None = None,
               credentials: Mapping[str, str] | None = None) -> None:
        values: dict[str, Any] = {}
        if credentials is not None:  # reconnected: new token, and the admin's problem is solved
            values.update(credentials=self.vault.encrypt(json.dumps(dict(credentials))), status="active",
                          status_reason=None)
        if webhook_secret is not None:
            values["webhook_secret"] = self.vault.encrypt(webhook_secret)
        if settings is not None:
            values["settings"] = dict(settings)
        if rules is not None:
            values["rules"] = dict(rules)
        with self.engine.begin() as conn:
            conn.execute(update(installations).where(installations.c.id == inst_id).values(**values))

    def delete(self, inst_id: str) -> None:
        """Remove an installation that never worked (its install failed): nothing else refers to it yet."""
        with self.engine.begin() as conn:
            conn.execute(installations.delete().where(installations.c.id == inst_id))

    def active(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(installations.c.id).where(installations.c.status == "active"))]

    def flagged(self) -> list[str]:
        """Installations waiting for their admin (credentials refused, rules invalid)."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(installations.c.id).where(installations.c.status == "broken"))]

    def find(self, provider: str, *, base_url: str | None = None,
             setting: tuple[str, str] | None = None) -> Installation | None:
        """The installation of this helpdesk account, found by its address (Zendesk: the JWT's
        issuer) or by a setting (Intercom: the workspace id), uninstalled ones last."""
        q = select(installations.c.id, installations.c.settings, installations.c.status).where(
            installations.c.provider == provider).order_by(installations.c.created_at.desc())
        if base_url is not None:
            url = base_url.rstrip("/").lower()
            q = q.where(func.lower(installations.c.base_url).in_((url, url + "/")))
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        found = [r for r in rows if setting is None or str((r["settings"] or {}).get(setting[0])) == setting[1]]
        found.sort(key=lambda r: r["status"] == "uninstalled")
        return self.get(found[0]["id"]) if found else None

    def reactivate(self, inst_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(status="active", status_reason=None))

    def change_settings(self, inst_id: str, changes: Mapping[str, Any], author: str) -> None:
        """Change some of the installation's settings (not its credentials), audited."""
        now = utcnow()
        with self.engine.begin() as conn:
            current = conn.execute(select(installations.c.settings).where(installations.c.id == inst_id)).scalar()
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(settings={**(current or {}), **changes}))
            _audit(conn, inst_id, author, "settings", {"changed": sorted(changes)}, now)

    def status(self, inst_id: str) -> tuple[str, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(installations.c.status, installations.c.status_reason)
                               .where(installations.c.id == inst_id)).first()
        return (row[0], row[1]) if row else ("unknown", None)

    def rate_limit(self, inst_id: str, until: datetime) -> None:
        with self.engine.begin() as conn:
            _rate_limit(conn, inst_id, until)

    def rate_limited_until(self, inst_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            return utc(conn.execute(select(installations.c.rate_limited_until)
                                    .where(installations.c.id == inst_id)).scalar())

    # secrets

    def check_secrets(self) -> None:
        """Raise SecretsUnreadable when the configured key cannot decrypt the stored secrets (a wrong
        BATON_SECRET_KEY): every webhook would fail, so health must say so."""
        with self.engine.connect() as conn:
            token = conn.execute(select(installations.c.webhook_secret)
                                 .order_by(installations.c.created_at.desc()).limit(1)).scalar()
        if token is not None:
            self.vault.decrypt(token)

    def rotate_secrets(self, batch: int | None = None) -> int:
        """Re-encrypt every stored secret with the first key of BATON_SECRET_KEY ("new,old"), a batch
        of installations per transaction; afterwards the old key can be dropped. Raises
        SecretsUnreadable (naming the installation) when no configured key opens a secret.
        Returns how many rows were rotated."""
        batch = batch or LIFECYCLE_BATCH
        rotated, after = 0, None
        while True:
            with self.engine.begin() as conn:
                q = select(installations.c.id, *(installations.c[c] for c in ENCRYPTED_COLUMNS))
                if after is not None:
                    q = q.where(installations.c.id > after)
                rows = conn.execute(q.order_by(installations.c.id).limit(batch)).mappings().all()
                for r in rows:
                    try:
                        values = {c: self.vault.rotate(r[c]) for c in ENCRYPTED_COLUMNS}
                    except SecretsUnreadable as e:
                        raise SecretsUnreadable(f"installation {r['id']}: {e}") from e
                    conn.execute(update(installations).where(installations.c.id == r["id"]).values(**values))
            rotated += len(rows)
            if len(rows) < batch:
                return rotated
            after = rows[-1]["id"]

    # rosters

    def save_roster(self, inst_id: str, data: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, rosters, ("installation_id",), dict(installation_id=inst_id),
                    {"data": dict(data), "synced_at": utcnow()})

    def roster(self, inst_id: str) -> tuple[dict[str, Any], datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(rosters.c.data, rosters.c.synced_at)
                               .where(rosters.c.installation_id == inst_id)).first()
        return (dict(row[0]), utc(row[1])) if row else ({}, None)


# The worker's per-event writes to an installation, built once (see store/base.py, "Built once").
_FLAG = update(installations).where(installations.c.id == bindparam("b_id")).values(status="broken")
_RATE_LIMIT = update(installations).where(
    installations.c.id == bindparam("b_id"),
    installations.c.rate_limited_until.is_(None) | (installations.c.rate_limited_until < bindparam("b_until")))


def _flag(conn: Connection, inst_id: str, reason: str) -> None:
    """Mark the installation as needing its admin (credentials revoked, rules invalid …)."""
    conn.execute(_FLAG, {"b_id": inst_id, "status_reason": reason})


def _rate_limit(conn: Connection, inst_id: str, until: datetime) -> None:
    """A 429 for one call holds every call to that account (Retry-After is account-wide)."""
    conn.execute(_RATE_LIMIT, {"b_id": inst_id, "b_until": until, "rate_limited_until": until})


def _new_id() -> str:
    """A random installation id that never starts with "-" (a command line would read it as an option)."""
    while (candidate := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return candidate
