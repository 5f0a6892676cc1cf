"""The driver that plays an admin, customers, a bot and agents on the Zendesk sandbox."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from connectors.sandbox import JSON, sid, stars
from connectors.sandbox_driver import AppSetup, Driver, Person, Setup, TicketView
from connectors.zendesk import conversations, webhook
from connectors.zendesk.sandbox import ZendeskSandbox
from connectors.zendesk.sandbox.pages import APP_SLUG

APP_PACKAGE = Path(__file__).resolve().parents[3] / "manifests" / "zendesk"


class ZendeskDriver(Driver):
    """Plays an admin, customers, a bot and agents on the Zendesk sandbox."""

    sandbox_class = ZendeskSandbox
    key, write_method = "zendesk", "PUT"
    has_brands = has_skills = lists_tags = True

    def __init__(self, retry_delays: Sequence[float] = (0.2, 0.2, 0.2)) -> None:
        super().__init__(retry_delays)
        self.sandbox.sunco_retry_delays = (0.2,) * 4  # five tries, test-sized
        self._admin: str | None = None
        self._sunco_key: JSON | None = None

    # Baton's Zendesk app, from its package as Zendesk would install it
    def install_app(self, baton_url: str) -> JSON:
        """The admin installs Baton's app (``manifests/zendesk``) with ``baton_url`` as its setting:
        its locations and its requirements (the webhook). Once: the installation if there is one."""
        current = self.sandbox.app_installation()
        if current is not None:
            return current  # type: ignore[no-any-return]
        manifest = json.loads((APP_PACKAGE / "manifest.json").read_text())
        requirements = json.loads((APP_PACKAGE / "requirements.json").read_text())
        locations = {name: spec["url"] for name, spec in manifest["location"]["support"].items()}
        settings = {"baton_url": baton_url.rstrip("/")}
        return self.sandbox.install_app(settings, locations, requirements)  # type: ignore[no-any-return]

    def uninstall_app(self) -> None:
        self.sandbox.uninstall_app()

    def staff(self, role: str) -> str:
        """A user to sign in as: ``"admin"`` (Ada, made on first use), ``"agent"`` (the human agent)."""
        if role == "agent":
            return self.human()
        if role != "admin":
            raise ValueError(f"unknown role {role!r}")
        if self._admin is None:
            self._admin = str(self.sandbox.add_user("Ada Admin", "ada@yourco.example", role="admin")["id"])
        return self._admin

    def app_page(self, user_id: str, ticket_id: str | None = None) -> str:
        """Where ``user_id`` sees Baton: the app's nav_bar page, or a ticket with the sidebar app."""
        path = f"/agent/tickets/{ticket_id}" if ticket_id is not None else f"/agent/apps/{APP_SLUG}"
        return f"{self.url}{path}?as={user_id}"

    def show_app(self, app: AppSetup) -> None:
        """Baton's app as Zendesk knows it (its id, its OAuth client), installed by the account's admin."""
        if app.app_id:
            self.sandbox.app_id = int(app.app_id)
        if app.client_id:
            self.sandbox.oauth_clients[app.client_id] = app.client_secret
        self.install_app(app.baton_url)

    def console_url(self, user: str = "admin") -> str:
        return self.app_page(self.staff(user) if user in ("admin", "agent") else user)

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return self.app_page(self.staff(user) if user in ("admin", "agent") else user, str(ticket_id))


    def setup(self) -> Setup:
        self.bot_id = self.sandbox.add_user("Answer Bot", "bot@sandbox.example", role="agent")["id"]
        credentials = {"email": self.sandbox.api_email, "token": self.sandbox.api_token}
        settings: JSON = {"bot_user_ids": [str(self.bot_id)]}
        if self._sunco_key is not None:
            credentials.update({conversations.KEY_ID: self._sunco_key["id"], conversations.SECRET: self._sunco_key["secret"]})
            settings[conversations.APP_ID] = self._sunco_key["app_id"]
        return Setup(credentials, settings, "events")

    # messaging: conversations a bot holds, handed over through the Conversations API
    def enable_messaging(self) -> None:
        """The admin creates a Conversations API key (Admin Center > Apps and integrations > APIs >
        Conversations API) and gives it to Baton's install (``setup``)."""
        self._sunco_key = self.sandbox.create_key()

    def new_messaging_conversation(self, text: str, person: Person | None = None) -> str:
        """A customer writes in the Web Widget; Zendesk's AI agent holds the conversation and its
        ticket is an AI agent ticket (read-only). Returns the conversation id."""
        n = next(self._count)
        person = person or Person(f"Customer {n}", f"c{n}@example.com")
        customer = self._add_customer(person)
        cid = self.sandbox.start_conversation(customer, text, f"Conversation with {person.name}")
        self._customers[cid] = customer
        return cid

    def control(self, cid: str) -> str | None:
        """Which switchboard integration type holds a messaging conversation."""
        return self.sandbox.control(cid)  # type: ignore[no-any-return]

    def ticket_of(self, cid: Any) -> int:
        """The ticket of a conversation: itself, or a messaging conversation's (AI agent) ticket."""
        return int(self.sandbox.conversation(cid)["ticket_id"]) if conversations.is_conversation(str(cid)) else int(cid)

    def add_brand(self, name: str) -> str:
        return str(self.sandbox.add_brand(name)["id"])

    def add_skill(self, name: str, agent_ids: Sequence[str] = ()) -> str:
        return self.sandbox.add_skill(name, agent_ids=[int(a) for a in agent_ids])  # type: ignore[no-any-return]

    def add_tag(self, name: str) -> bool:
        self.sandbox.use_tag(name)
        return True

    def _new_group(self, name: str) -> int:
        return int(self.sandbox.add_group(name)["id"])

    def _new_agent(self, name: str, group_id: str, online: bool) -> int:
        agent = int(self.sandbox.add_user(name, f"{name.lower()}@yourco.example", role="agent")["id"])
        self.sandbox.add_membership(agent, int(group_id))
        self.sandbox.set_availability(agent, "online" if online else "offline")
        return agent

    def _add_customer(self, person: Person) -> int:
        org = self.sandbox.add_organization(person.organization, tags=("enterprise",)) if person.organization else None
        return int(self.sandbox.add_user(person.name, person.email, tags=person.tags,
                                         organization_id=org and org["id"], user_fields=dict(person.fields))["id"])

    def _open(self, customer: int, subject: str, text: str) -> int:
        return int(self.sandbox.create_ticket(customer, subject, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if conversations.is_conversation(cid):
            self.sandbox.say_in_conversation(cid, role, text, self.names.get(str(author), ""))
        else:
            self.sandbox.add_comment(int(cid), int(author), text)

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(agent_id), {"assignee_id": int(agent_id)})

    def solve(self, cid: Any) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(self._agent_of(cid)), {"status": "solved"})

    def reopen(self, cid: Any) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(self._agent_of(cid)), {"status": "open"})

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        """Zendesk's ratings are good or bad: 4 and 5 stars are good."""
        self.sandbox.rate(self.ticket_of(cid), "good" if stars(good) >= 4 else "bad", comment)

    def view(self, cid: Any) -> TicketView:
        ticket = self.ticket_of(cid)
        t = self.sandbox.get_ticket(ticket)
        comments = self.sandbox.get_comments(ticket)
        if conversations.is_conversation(str(cid)):  # what Baton told the customer is in the conversation
            said = tuple(m["content"]["text"] for m in self.sandbox.conversation(cid)["messages"]
                         if (m.get("metadata") or {}).get(conversations.BATON_MARK))
        else:
            said = tuple(c["body"] for c in comments if c["public"] and c["author_id"] == self.sandbox.api_user_id)
        return TicketView(t["priority"], sid(t["group_id"]), sid(t["assignee_id"]), tuple(t["tags"]),
                          tuple(c["html_body"] for c in comments if not c["public"]), said)

    def writes(self, cid: Any) -> list[JSON]:
        """Updates of the ticket, and for a messaging conversation what was posted to it."""
        ticket = f"/tickets/{self.ticket_of(cid)}"
        return [r for r in self.sandbox.requests_log
                if (r["method"] == "PUT" and r["path"].endswith(ticket))
                or (r["method"] == "POST" and f"/conversations/{cid}/" in r["path"])]

    def forged(self) -> bytes:
        return json.dumps({"type": "zen:event-type:ticket.comment_added", "id": "forged-1", "time": "2026-11-20T10:00:00Z",
                           "detail": {"id": "4242"}, "event": {"comment": {"author": {"id": "1"}, "is_public": True}}}).encode()

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {webhook.TIMESTAMP: stamp, webhook.SIGNATURE: webhook.sign(secret or installation.webhook_secret, stamp, body)}


DRIVER = ZendeskDriver
