"""What the Zendesk sandbox sends: its webhooks (event subscriptions, or trigger notifications
rendered from a trigger's body template), signed as Zendesk signs them, and the Conversations
API's webhooks with their own retry policy; webhooks and triggers as the API creates them.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

from connectors.sandbox import JSON, Outgoing, fill, iso, sid
from connectors.zendesk.sandbox.conversations import SUNCO_NOT_RETRIED, SUNCO_TIMEOUT, SUNCO_TRIES
from connectors.zendesk.sandbox.state import (ACCOUNT_ID, CONDITIONAL, CONDITIONS, EVENT_PREFIX, STATUSES, _Job,
                                              ZendeskState, invalid, upper, webhook_error)


class ZendeskWebhooks(ZendeskState):
    """What Zendesk sends when a ticket changes, and the webhooks and triggers that say where."""

    def signed_request(self, webhook_id: str, body: bytes, timestamp: str | None = None,
                       invocation_id: str | None = None) -> dict[str, str]:
        """The headers Zendesk sends with ``body``: signature = base64(HMAC-SHA256(secret, timestamp + body))."""
        with self._lock:
            secret = self._secrets[webhook_id]
        stamp = timestamp or iso(self.clock())
        digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Webhook-Id": webhook_id,
                "X-Zendesk-Webhook-Invocation-Id": invocation_id or str(uuid.uuid4()),
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode()}
    # -- webhooks --------------------------------------------------------------------------------
    def _dispatch(self, ticket: JSON, actor_id: int, changes: list[tuple[str, JSON]], comment: JSON | None,
                  create: bool) -> None:
        """Queue the deliveries one change causes; bodies are rendered now, from this snapshot."""
        for hook in self._webhooks.values():
            if hook["status"] != "active":
                continue
            if hook["subscriptions"] == [CONDITIONAL]:
                for trigger in self._triggers.values():
                    for action in trigger["actions"]:
                        if (trigger["active"] and action.get("field") == "notification_webhook"
                                and action["value"][0] == hook["id"]
                                and self._fires(trigger, ticket, actor_id, comment, create)):
                            body = self._render(action["value"][1], ticket, actor_id).encode()
                            self._enqueue(_Job(hook["id"], body, None))
                continue
            for kind, event in changes:
                if f"{EVENT_PREFIX}ticket.{kind}" in hook["subscriptions"]:
                    payload = {"type": f"{EVENT_PREFIX}ticket.{kind}", "account_id": ACCOUNT_ID,
                               "id": str(uuid.uuid4()), "time": ticket["updated_at"],
                               "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket['id']}",
                               "detail": self._detail(ticket, actor_id), "event": event}
                    self._enqueue(_Job(hook["id"], json.dumps(payload).encode(), payload["id"]))

    @staticmethod
    def _detail(ticket: JSON, actor_id: int) -> JSON:
        return {"actor_id": str(actor_id), "assignee_id": sid(ticket["assignee_id"]),
                "created_at": ticket["created_at"], "description": ticket["description"],
                "group_id": sid(ticket["group_id"]), "id": str(ticket["id"]), "is_public": True,
                "organization_id": sid(ticket["organization_id"]), "priority": upper(ticket["priority"]),
                "requester_id": str(ticket["requester_id"]), "status": ticket["status"].upper(),
                "subject": ticket["subject"], "submitter_id": str(ticket["submitter_id"]),
                "tags": list(ticket["tags"]), "updated_at": ticket["updated_at"], "via": dict(ticket["via"])}

    @staticmethod
    def _fires(trigger: JSON, ticket: JSON, actor_id: int, comment: JSON | None, create: bool) -> bool:
        def holds(cond: JSON) -> bool:
            field, op, value = cond["field"], cond["operator"], cond.get("value")
            if field == "status" and op in ("less_than", "greater_than"):
                current, bound = STATUSES.index(ticket["status"]), STATUSES.index(value)
                return current < bound if op == "less_than" else current > bound
            if field == "current_tags":
                return bool(set(str(value).split()) & set(ticket["tags"])) == (op == "includes")
            actual: Any = {"update_type": "Create" if create else "Change", "status": ticket["status"],
                           "current_user": str(actor_id),
                           "comment_is_public": None if comment is None else comment["public"]}[field]
            expected = str(value).lower() == "true" if field == "comment_is_public" else str(value)
            return (actual == expected) == (op == "is")

        conditions = trigger["conditions"]
        return all(map(holds, conditions["all"])) and (not conditions["any"] or any(map(holds, conditions["any"])))

    def _render(self, template: str, ticket: JSON, actor_id: int) -> str:
        comments = self._comments[ticket["id"]]
        # Zendesk renders status and priority placeholders as their display titles ("Open", "High").
        values = {"ticket.id": str(ticket["id"]), "ticket.updated_at_with_timestamp": ticket["updated_at"],
                  "ticket.status": ticket["status"].title(), "ticket.priority": (ticket["priority"] or "").title(),
                  "ticket.requester.id": str(ticket["requester_id"]), "current_user.id": str(actor_id),
                  "ticket.latest_comment.id": str(comments[-1]["id"]) if comments else "",
                  "ticket.tags": " ".join(ticket["tags"])}
        return fill(template, values)

    def _still_wanted(self, job: _Job) -> bool:
        if job.sunco:
            return self._sc_hook_secret(job.webhook_id) is not None
        with self._lock:  # a webhook deleted meanwhile gets no more attempts
            return job.webhook_id in self._webhooks

    def _enqueue_sunco(self, hook_id: str, body: bytes, event_id: str) -> None:
        self._enqueue(_Job(hook_id, body, event_id, sunco=True))

    def _outgoing(self, job: _Job) -> Outgoing:
        if job.sunco:  # the Conversations API sends its webhook's secret as is: no signature, no timestamp
            return Outgoing("POST", str(self._sc_target(job.webhook_id)),
                            {"Content-Type": "application/json", "X-API-Key": str(self._sc_hook_secret(job.webhook_id))})
        with self._lock:
            hook = self._webhooks[job.webhook_id]
        # Signed per attempt: the signature covers the attempt's timestamp.
        return Outgoing(hook["http_method"], hook["endpoint"],
                        self.signed_request(job.webhook_id, job.body, None, job.invocation_id))

    def _deliver(self, job: _Job) -> None:
        """Support webhooks as the base retries them; Conversations API webhooks "up to 5 times over
        a 15 minute window", never after a non-recoverable 400/401/403/404/406."""
        if not job.sunco:
            return super()._deliver(job)
        for attempt in range(1, SUNCO_TRIES + 1):
            if self._halted.is_set() or not self._still_wanted(job):
                return
            status, _ = self._send(job, attempt)
            if status is not None and (200 <= status < 300 or status in SUNCO_NOT_RETRIED):
                return
            wait = self.sunco_retry_delays[min(attempt, len(self.sunco_retry_delays)) - 1]
            if attempt < SUNCO_TRIES and self._halted.wait(wait):
                return

    def _timeout(self, job: _Job) -> float:
        return SUNCO_TIMEOUT if job.sunco else self.delivery_timeout

    def _delivery(self, job: _Job, headers: dict[str, str]) -> JSON:
        return {"webhook_id": job.webhook_id, "event_id": job.event_id, "invocation_id": job.invocation_id,
                "sunco": job.sunco}

    def _redelivery(self, old: JSON) -> _Job:
        """A new invocation of the same body: fresh invocation id, timestamp and signature."""
        return _Job(old["webhook_id"], old["body"], old["event_id"], sunco=old.get("sunco", False))
    def _create_webhook(self, spec: JSON) -> JSON:
        subs = spec.get("subscriptions")
        if not spec.get("name") or not str(spec.get("endpoint", "")).startswith(("http://", "https://")):
            raise webhook_error(422, "InvalidInput", "name and an http(s) endpoint are required")
        if not isinstance(subs, list) or not subs or not all(
                s == CONDITIONAL or str(s).startswith(EVENT_PREFIX) for s in subs):
            raise webhook_error(422, "InvalidInput", "subscriptions must be event types or conditional_ticket_events")
        if CONDITIONAL in subs and len(subs) > 1:
            raise webhook_error(422, "InvalidInput", "event types cannot be mixed with conditional_ticket_events")
        with self._lock:
            hook_id = "01H" + "".join(secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(23))
            hook = {"id": hook_id, "name": spec["name"], "status": spec.get("status", "active"),
                    "endpoint": spec["endpoint"], "http_method": spec.get("http_method", "POST"),
                    "request_format": spec.get("request_format", "json"), "subscriptions": list(subs),
                    "created_at": iso(self.clock()), "created_by": str(self._caller())}
            self._webhooks[hook_id], self._secrets[hook_id] = hook, secrets.token_urlsafe(32)
            return copy.deepcopy(hook)

    def _create_trigger(self, spec: JSON) -> JSON:
        raw = spec.get("conditions") if isinstance(spec.get("conditions"), dict) else {}
        conditions = {"all": list(raw.get("all") or []), "any": list(raw.get("any") or [])}
        actions = spec.get("actions")
        if not spec.get("title"):
            raise invalid("title", "Title: cannot be blank")
        if not isinstance(actions, list) or not actions:
            raise invalid("actions", "Actions: cannot be blank")
        for cond in conditions["all"] + conditions["any"]:
            if cond.get("operator") not in CONDITIONS.get(cond.get("field"), ()):
                raise invalid("conditions", f"the sandbox does not support the condition {cond!r}")
            if cond["field"] == "status" and cond.get("value") not in STATUSES:
                raise invalid("conditions", f"unknown status {cond.get('value')!r}")
        with self._lock:
            for action in actions:
                if action.get("field") == "notification_webhook" and not (
                        isinstance(action.get("value"), list) and len(action["value"]) == 2
                        and action["value"][0] in self._webhooks):
                    raise invalid("actions", "notification_webhook needs [existing webhook id, body]")
            now = iso(self.clock())
            trigger = {"id": next(self._ids["trigger"]), "title": spec["title"], "active": spec.get("active", True),
                       "position": len(self._triggers) + 1, "conditions": conditions, "actions": actions,
                       "created_at": now, "updated_at": now}
            self._triggers[trigger["id"]] = trigger
            return copy.deepcopy(trigger)
