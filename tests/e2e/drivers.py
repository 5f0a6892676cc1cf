"""One driver per helpdesk: how the shared end-to-end suite plays a customer, reads the result and
forges deliveries on that helpdesk's sandbox. The suite itself never names a helpdesk."""
from __future__ import annotations

import json
import time
from typing import Any

from connectors.freshdesk import webhook as freshdesk_webhook
from connectors.freshdesk.client import AUTOMATION_BODY
from connectors.freshdesk.sandbox import FreshdeskSandbox
from connectors.intercom import webhook as intercom_webhook
from connectors.intercom.sandbox import IntercomSandbox
from connectors.intercom.webhook import SUPPORTED_TOPICS
from connectors.zendesk import webhook as zendesk_webhook
from connectors.zendesk.sandbox import ZendeskSandbox
from integration.installs import install
from integration.model import Installation
from integration.store import Store


class Driver:
    key: str
    write_method: str  # the HTTP method of the first write-back call (delayed to kill a worker inside it)
    sandbox: Any

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def start(self) -> None:
        self.sandbox.start()

    def stop(self) -> None:
        self.sandbox.stop()

    # what every sandbox offers the same way
    def throttle(self, count: int, retry_after: float) -> None:
        self.sandbox.throttle(count, retry_after=retry_after)

    def delay(self, seconds: float) -> None:
        self.sandbox.delay(seconds, self.write_method)

    def wait_for_deliveries(self, timeout: float = 10) -> None:
        self.sandbox.wait_for_deliveries(timeout=timeout)

    def deliveries_for(self, cid: Any) -> list[int]:
        return [i for i, d in enumerate(self.sandbox.deliveries) if self._mentions(d["body"], cid)]

    @staticmethod
    def _mentions(body: bytes, cid: Any) -> bool:
        return f'"{cid}"'.encode() in body or f'"id": {cid},'.encode() in body or f'"id":{cid},'.encode() in body

    def redeliver(self, index: int) -> int | None:
        return self.sandbox.redeliver(index)

    def status_of(self, index: int) -> int | None:
        return self.sandbox.deliveries[index]["status"]

    def api_log(self) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log if r["path"].startswith(self.api_prefix)]

    api_prefix = "/api/v2"


class ZendeskDriver(Driver):
    key, write_method = "zendesk", "PUT"

    def __init__(self) -> None:
        super().__init__()
        self.sandbox = ZendeskSandbox(retry_delays=(0.2, 0.2, 0.2))

    def install(self, store: Store, baton_url: str, rules: dict[str, Any] | None = None) -> Installation:
        bot = self.sandbox.add_user("Answer Bot", "bot@sandbox.example", role="agent")
        return install(store, "zendesk", self.sandbox.url,
                       {"email": self.sandbox.api_email, "token": self.sandbox.api_token}, baton_url,
                       settings={"bot_user_ids": [str(bot["id"])]}, rules=rules)

    def new_conversation(self, text: str) -> int:
        n = self._next()
        user = self.sandbox.add_user(f"Customer {n}", f"c{n}@example.com")
        return int(self.sandbox.create_ticket(user["id"], f"Ticket {n}", text)["id"])

    def notes(self, cid: Any) -> list[str]:
        return [c["html_body"] for c in self.sandbox.get_comments(cid) if not c["public"]]

    def seed_team(self) -> tuple[str, str, str]:
        """A group with one agent online and one offline: (group, online agent, offline agent)."""
        group = self.sandbox.add_group("Billing")["id"]
        on, off = (self.sandbox.add_user(n, f"{n.lower()}@yourco.example", role="agent")["id"] for n in ("Sam", "Kim"))
        for agent, status in ((on, "online"), (off, "offline")):
            self.sandbox.add_membership(agent, group)
            self.sandbox.set_availability(agent, status)
        return str(group), str(on), str(off)

    def assignee(self, cid: Any) -> str | None:
        a = self.sandbox.get_ticket(cid)["assignee_id"]
        return str(a) if a else None

    def said(self, cid: Any) -> list[str]:
        return [c["body"] for c in self.sandbox.get_comments(cid)
                if c["public"] and c["author_id"] == self.sandbox.api_user_id]

    def writes(self, cid: Any) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log if r["method"] == "PUT" and r["path"].endswith(f"/tickets/{cid}")]

    def forged(self) -> bytes:
        return json.dumps({"type": "zen:event-type:ticket.comment_added", "id": "forged-1", "time": "2026-11-20T10:00:00Z",
                           "detail": {"id": "4242"}, "event": {"comment": {"author": {"id": "1"}, "is_public": True}}}).encode()

    def auth(self, inst: Installation, body: bytes, secret: str | None = None) -> dict[str, str]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {zendesk_webhook.TIMESTAMP: stamp,
                zendesk_webhook.SIGNATURE: zendesk_webhook.sign(secret or inst.webhook_secret, stamp, body)}


class FreshdeskDriver(Driver):
    key, write_method = "freshdesk", "PUT"

    def __init__(self) -> None:
        super().__init__()
        self.sandbox = FreshdeskSandbox(retry_delays=(0.2, 0.2, 0.2))

    def install(self, store: Store, baton_url: str, rules: dict[str, Any] | None = None) -> Installation:
        bot = self.sandbox.add_agent("Freddy Bot", "bot@sandbox.example")
        inst = install(store, "freshdesk", self.sandbox.url, {"api_key": self.sandbox.api_key}, baton_url,
                       settings={"bot_user_ids": [str(bot["id"])]}, rules=rules, mode="automation")
        url = f"{baton_url}/webhooks/freshdesk/{inst.id}"
        headers = {freshdesk_webhook.SECRET_HEADER: inst.webhook_secret}
        self.sandbox.add_automation(url, AUTOMATION_BODY, headers)  # what the admin pastes from the README
        self.sandbox.add_app_forwarder(url, headers)  # and the app events, which also echo our own writes
        return inst

    def new_conversation(self, text: str) -> int:
        n = self._next()
        contact = self.sandbox.add_contact(f"Customer {n}", f"c{n}@example.com")
        return int(self.sandbox.create_ticket(contact["id"], f"Ticket {n}", text)["id"])

    def notes(self, cid: Any) -> list[str]:
        return [c["body"] for c in self.sandbox.get_conversations(cid) if c["private"]]

    def seed_team(self) -> tuple[str, str, str]:
        group = self.sandbox.add_group("Billing")["id"]
        on = self.sandbox.add_agent("Sam", "sam@yourco.example", group_ids=[group], available=True)["id"]
        off = self.sandbox.add_agent("Kim", "kim@yourco.example", group_ids=[group], available=False)["id"]
        return str(group), str(on), str(off)

    def assignee(self, cid: Any) -> str | None:
        a = self.sandbox.get_ticket(cid)["responder_id"]
        return str(a) if a else None

    def said(self, cid: Any) -> list[str]:
        return [c["body_text"] for c in self.sandbox.get_conversations(cid)
                if not c["private"] and c["user_id"] == self.sandbox.api_agent_id]

    def writes(self, cid: Any) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and (r["path"].endswith(f"/tickets/{cid}") or r["path"].endswith(f"/tickets/{cid}/notes"))]

    def forged(self) -> bytes:
        return b'{"baton_event": "ticket_updated", "ticket_id": "4242", "updated_at": "2026-11-20T10:00:00Z", "rule": "x"}'

    def auth(self, inst: Installation, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {freshdesk_webhook.SECRET_HEADER: secret or inst.webhook_secret}


class IntercomDriver(Driver):
    key, write_method = "intercom", "POST"
    api_prefix = "/"

    def __init__(self) -> None:
        super().__init__()
        self.sandbox = IntercomSandbox(retry_delays=(0.2, 0.2, 0.2))

    def install(self, store: Store, baton_url: str, rules: dict[str, Any] | None = None) -> Installation:
        bot = self.sandbox.add_admin("Fin Bot", "fin@sandbox.example")
        inst = install(store, "intercom", self.sandbox.url,
                       {"access_token": "sandbox-token", "client_secret": "sandbox-client-secret"}, baton_url,
                       settings={"bot_user_ids": [str(bot["id"])]}, rules=rules, mode="webhooks")
        self.sandbox.add_webhook(f"{baton_url}/webhooks/intercom/{inst.id}", SUPPORTED_TOPICS)
        return inst

    def new_conversation(self, text: str) -> str:
        n = self._next()
        contact = self.sandbox.add_contact(f"Customer {n}", f"c{n}@example.com")
        return str(self.sandbox.start_conversation(contact["id"], text)["id"])

    def notes(self, cid: Any) -> list[str]:
        return [p["body"] for p in self.sandbox.get_parts(cid) if p["part_type"] == "note"]

    def seed_team(self) -> tuple[str, str, str]:
        team = self.sandbox.add_team("Billing")["id"]
        on = self.sandbox.add_admin("Sam", "sam@yourco.example", team_ids=[team])["id"]
        off = self.sandbox.add_admin("Kim", "kim@yourco.example", team_ids=[team], away=True)["id"]
        return str(team), str(on), str(off)

    def assignee(self, cid: Any) -> str | None:
        a = self.sandbox.get_conversation(cid)["admin_assignee_id"]
        return str(a) if a else None

    def said(self, cid: Any) -> list[str]:
        return [p["body"] for p in self.sandbox.get_parts(cid)
                if p["part_type"] == "comment" and str(p["author"]["id"]) == str(self.sandbox.api_admin_id)]

    def writes(self, cid: Any) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and r["path"].startswith(f"/conversations/{cid}")]

    def api_log(self) -> list[dict[str, Any]]:
        return list(self.sandbox.requests_log)

    def forged(self) -> bytes:
        return json.dumps({"type": "notification_event", "app_id": "sbx12345", "id": "notif_forged", "topic":
                           "conversation.user.replied", "data": {"item": {"id": "4242"}}}).encode()

    def auth(self, inst: Installation, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {intercom_webhook.SIGNATURE: intercom_webhook.sign(secret or inst.webhook_secret, body)}


DRIVERS = {"zendesk": ZendeskDriver, "freshdesk": FreshdeskDriver, "intercom": IntercomDriver}
