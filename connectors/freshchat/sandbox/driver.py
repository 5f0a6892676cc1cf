"""The driver that plays an admin, customers, a bot and agents on the Freshchat sandbox."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from connectors.freshchat import webhook
from connectors.freshchat.client import TAGS_PROPERTY
from connectors.freshchat.sandbox import FreshchatSandbox
from connectors.freshchat.sandbox.state import _dumps, key_pair, private_for, public_pem, sign
from connectors.sandbox import JSON, sid, stars
from connectors.sandbox_driver import AppSetup, Driver, Person, Setup, TicketView


class FreshchatDriver(Driver):
    """Plays an admin, customers, a bot and agents on the Freshchat sandbox."""

    sandbox_class = FreshchatSandbox
    key, write_method = "freshchat", "PUT"
    api_prefix = "/v2"
    has_app = False  # reached through the business's Freshdesk app (README "Console and panel")

    def setup(self) -> Setup:
        """The admin makes the API token and the Baton agent, defines the ``cf_baton_tags`` property
        and copies the webhook public key; the bot is the account's Freddy bot."""
        self.bot_id = self.sandbox.add_bot("Freddy")["id"]
        self.sandbox.add_property(TAGS_PROPERTY)
        return Setup({"token": self.sandbox.token, "public_key": self.sandbox.public_key},
                     {"api_user_id": self.sandbox.api_agent_id, "bot_user_ids": [self.bot_id]}, "webhook")

    def connect(self, installation: Any, endpoint: str) -> None:
        self.sandbox.set_webhook(endpoint)  # Admin > Webhooks: the URL the install command printed

    @classmethod
    def stored_secret(cls, secret: str) -> str:
        """Freshchat signs with a private key; Baton keeps the public one."""
        return public_pem(key_pair(secret))

    # Baton's console and panel reach a Freshchat installation through its account's Freshdesk app
    # (README "Console and panel"): Freshchat has no app of Baton's to show.
    def show_app(self, app: AppSetup) -> None:
        raise NotImplementedError("Freshchat installations are reached through the account's Freshdesk app")

    def console_url(self, user: str = "admin") -> str:
        raise NotImplementedError("Freshchat installations are reached through the account's Freshdesk app")

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        raise NotImplementedError("Freshchat installations are reached through the account's Freshdesk app")

    def _new_group(self, name: str) -> str:
        return str(self.sandbox.add_group(name)["id"])

    def _new_agent(self, name: str, group_id: str, online: bool) -> str:
        return str(self.sandbox.add_agent(name, f"{name.lower()}@yourco.example", [group_id], available=online)["id"])

    def _add_customer(self, person: Person) -> str:
        fields = dict(person.fields)
        if person.organization:
            fields["company"] = person.organization
        if person.tags:
            fields["tags"] = ",".join(person.tags)
        return str(self.sandbox.add_user(person.name, person.email, fields)["id"])

    def _open(self, customer: str, subject: str, text: str) -> str:
        return str(self.sandbox.start_conversation(customer, text)["conversation_id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if role == "customer":
            self.sandbox.user_message(cid, text)
        elif role == "bot":
            self.sandbox.bot_message(cid, str(author), text)
        else:
            self.sandbox.agent_message(cid, str(author), text)

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.update_as(str(cid), agent_id, {"assigned_agent_id": agent_id, "status": "assigned"})

    def solve(self, cid: Any) -> None:
        self.sandbox.update_as(str(cid), self._agent_of(cid), {"status": "resolved"})

    def reopen(self, cid: Any) -> None:
        self.sandbox.update_as(str(cid), self._agent_of(cid), {"status": "reopened"})

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        self.sandbox.add_csat(str(cid), stars(good), comment)

    def view(self, cid: Any) -> TicketView:
        conv = self.sandbox.get_conversation(str(cid))
        messages = self.sandbox.get_messages(str(cid))
        priority = conv["properties"].get("priority")
        text = [(m, "\n".join(p["text"]["content"] for p in m["message_parts"] if "text" in p)) for m in messages]
        baton = self.sandbox.api_agent_id
        return TicketView(priority.lower() if isinstance(priority, str) else None, sid(conv["assigned_group_id"]),
                          sid(conv["assigned_agent_id"]),
                          tuple(t for t in (conv["properties"].get(TAGS_PROPERTY) or "").split(",") if t),
                          tuple(t for m, t in text if m["message_type"] == "private"),
                          tuple(t for m, t in text if m["message_type"] == "normal" and m["actor_id"] == baton))

    def inbox_url(self, cid: Any) -> str:
        """Where a person opens the conversation in the sandbox's (read-only) inbox."""
        return self.url + urlsplit(self.sandbox.get_conversation(str(cid))["url"]).path

    def writes(self, cid: Any) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and (r["path"] == f"/v2/conversations/{cid}" or r["path"] == f"/v2/conversations/{cid}/messages")]

    def forged(self) -> bytes:
        return _dumps({"actor": {"actor_type": "user", "actor_id": "9047e655-1e83-463e-b1b6-4a44beb1f07f"},
                       "action": "message_create", "action_time": "2026-11-20T10:00:00.000Z",
                       "data": {"message": {"message_parts": [{"text": {"content": "I want a human"}}],
                                            "id": "a834cd45-c463-4644-b254-be9209244242", "message_type": "normal",
                                            "conversation_id": "35e80ec8-c697-42e4-8ce9-a47a05004242",
                                            "actor_type": "user", "actor_id": "9047e655-1e83-463e-b1b6-4a44beb1f07f",
                                            "created_time": "2026-11-20T10:00:00.000Z"}}})

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        """Signed with the key whose public half the installation holds, or with the key pair named
        ``secret`` (another account's); an installation holding no sandbox key gets a signature by
        a key it does not know."""
        key = key_pair(secret) if secret is not None else (private_for(installation.webhook_secret) or key_pair("unknown"))
        return {webhook.SIGNATURE_HEADER: sign(key, body)}


DRIVER = FreshchatDriver
