"""Rules, their published versions and the draft, and the audit log of what admins changed."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from integration.service.store.base import Repository, _upsert, utcnow
from integration.service.store.tables import audit, installations, rule_drafts, rule_versions


class RuleRepository(Repository):
    def publish(self, inst_id: str, rules: Mapping[str, Any], author: str, comment: str,
                action: str = "publish") -> int:
        """Make ``rules`` the installation's rules as a new version (the rules it had before the
        first publish are kept as version 1, "as installed"); the draft is gone and the change is
        audited, all in one transaction. Returns the new version's number."""
        now = utcnow()
        with self.engine.begin() as conn:
            numbers = select(func.max(rule_versions.c.number)).where(rule_versions.c.installation_id == inst_id)
            last = conn.execute(numbers).scalar()
            if last is None:
                before = conn.execute(select(installations.c.rules).where(installations.c.id == inst_id)).scalar()
                conn.execute(insert(rule_versions).values(installation_id=inst_id, number=1, rules=before or {},
                                                          comment="as installed", author="installation",
                                                          created_at=now))
                last = 1
            number = last + 1
            conn.execute(insert(rule_versions).values(installation_id=inst_id, number=number, rules=dict(rules),
                                                      comment=comment, author=author, created_at=now))
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(rules=dict(rules), rules_version=number))
            conn.execute(rule_drafts.delete().where(rule_drafts.c.installation_id == inst_id))
            _audit(conn, inst_id, author, action, {"version": number, "comment": comment}, now)
        return number

    def versions(self, inst_id: str) -> list[dict[str, Any]]:
        """Every published version, the newest first."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(rule_versions).where(
                rule_versions.c.installation_id == inst_id).order_by(rule_versions.c.number.desc())).mappings()]

    def version(self, inst_id: str, number: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(rule_versions).where(rule_versions.c.installation_id == inst_id,
                                                         rule_versions.c.number == number)).mappings().first()
        return dict(r) if r else None

    def save_draft(self, inst_id: str, rules: Mapping[str, Any], author: str) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            _upsert(conn, rule_drafts, ("installation_id",), dict(installation_id=inst_id),
                    {"rules": dict(rules), "author": author, "updated_at": now})
            _audit(conn, inst_id, author, "draft", {}, now)

    def draft(self, inst_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(rule_drafts).where(rule_drafts.c.installation_id == inst_id)).mappings().first()
        return dict(r) if r else None

    def discard_draft(self, inst_id: str, author: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(rule_drafts.delete().where(rule_drafts.c.installation_id == inst_id)).rowcount:
                _audit(conn, inst_id, author, "discard draft", {}, utcnow())

    # the audit log

    def audit_log(self, inst_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(audit).where(audit.c.installation_id == inst_id)
                                                  .order_by(audit.c.id.desc()).limit(limit)).mappings()]

    def record_audit(self, inst_id: str, actor: str, action: str, detail: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            _audit(conn, inst_id, actor, action, detail, utcnow())


def _audit(conn: Connection, inst_id: str, actor: str, action: str, detail: Mapping[str, Any],
           now: datetime) -> None:
    conn.execute(insert(audit).values(installation_id=inst_id, actor=actor, action=action, detail=dict(detail),
                                      created_at=now))
