"""The driver that plays an admin, customers, a bot and agents on the Freshdesk sandbox."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from connectors.freshdesk import webhook
from connectors.freshdesk.client import AUTOMATION_BODY, FEEDBACK_BODY
from connectors.freshdesk.sandbox import FreshdeskSandbox
from connectors.freshdesk.sandbox.state import FEEDBACK_EVENT, OPEN, RATING_OF_STARS, RESOLVED
from connectors.sandbox import JSON, sid, stars
from connectors.sandbox_driver import AppSetup, Driver, Person, Setup, TicketView


class FreshdeskDriver(Driver):
    """Plays an admin, customers, a bot and agents on the Freshdesk sandbox."""

    sandbox_class = FreshdeskSandbox
    key, write_method = "freshdesk", "PUT"
    has_brands = has_skills = True  # products, Omniroute's skills; Freshdesk's API lists no tags
    PRIORITY_NAMES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}  # as Freshdesk's UI names them


    def __init__(self, retry_delays: Sequence[float] = (0.2, 0.2, 0.2)) -> None:
        super().__init__(retry_delays)
        self._app_users: dict[str, int] = {}

    def show_app(self, app: AppSetup) -> None:
        """The app installed as its settings page would leave it: Baton's address, the installation,
        and as secure iparams the installation key and the event secret."""
        inst = app.installation
        self.sandbox.install_app({"baton_url": app.baton_url, "baton_host": urlsplit(app.baton_url).netloc,
                                  "baton_installation": inst.id},
                                 {"baton_key": app.app_key, "baton_secret": inst.webhook_secret})

    def console_url(self, user: str = "admin") -> str:
        return f"{self.url}/a/apps/baton?as={self.app_user(user) if user in ('admin', 'agent') else user}"

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return f"{self.url}/a/tickets/{ticket_id}?as={self.app_user(user) if user in ('admin', 'agent') else user}"

    def app_user(self, role: str = "admin") -> int:
        """The person who opens Baton's app in Freshdesk (made on first use): ``admin``, an account
        administrator, or ``agent``, an agent with Freshdesk's Agent role."""
        if role not in self._app_users:
            name, freshdesk_role = {"admin": ("Ada Admin", "Account Administrator"),
                                    "agent": ("Pat Agent", "Agent")}[role]
            email = f"{name.split()[0].lower()}@yourco.example"
            self._app_users[role] = int(self.sandbox.add_agent(name, email, role=freshdesk_role)["id"])
        return self._app_users[role]

    def setup(self) -> Setup:
        self.bot_id = self.sandbox.add_agent("Freddy Bot", "bot@sandbox.example")["id"]
        return Setup({"api_key": self.sandbox.api_key}, {"bot_user_ids": [str(self.bot_id)]}, "automation")

    def connect(self, installation: Any, endpoint: str) -> None:
        headers = {webhook.SECRET_HEADER: installation.webhook_secret}
        self.sandbox.add_automation(endpoint, AUTOMATION_BODY, headers)  # what the admin pastes from the README
        self.sandbox.add_automation(endpoint, FEEDBACK_BODY, headers, on=(FEEDBACK_EVENT,))  # and the feedback rule
        self.sandbox.add_app_forwarder(endpoint, headers)  # and the app events, which also echo our own writes

    def add_brand(self, name: str) -> str:
        return str(self.sandbox.add_product(name)["id"])

    def add_skill(self, name: str, agent_ids: Sequence[str] = ()) -> str:
        return str(self.sandbox.add_skill(name, [int(a) for a in agent_ids])["id"])

    def _new_group(self, name: str) -> int:
        return int(self.sandbox.add_group(name)["id"])

    def _new_agent(self, name: str, group_id: str, online: bool) -> int:
        return int(self.sandbox.add_agent(name, f"{name.lower()}@yourco.example", group_ids=[int(group_id)],
                                          available=online)["id"])

    def _add_customer(self, person: Person) -> int:
        company = self.sandbox.add_company(person.organization, custom_fields=dict(person.fields)) if person.organization else None
        return int(self.sandbox.add_contact(person.name, person.email, company_id=company and company["id"],
                                            tags=person.tags, custom_fields=None if company else dict(person.fields))["id"])

    def _open(self, customer: int, subject: str, text: str) -> int:
        return int(self.sandbox.create_ticket(customer, subject, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if role == "customer":
            self.sandbox.customer_reply(int(cid), int(author), text)
        else:
            self.sandbox.agent_reply(int(cid), int(author), text)

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.update_as(int(cid), int(agent_id), {"responder_id": int(agent_id)})

    def solve(self, cid: Any) -> None:
        self.sandbox.update_as(int(cid), int(self._agent_of(cid)), {"status": RESOLVED})

    def reopen(self, cid: Any) -> None:
        self.sandbox.update_as(int(cid), int(self._agent_of(cid)), {"status": OPEN})

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        self.sandbox.add_rating(int(cid), RATING_OF_STARS[stars(good)], comment)

    def view(self, cid: Any) -> TicketView:
        t = self.sandbox.get_ticket(int(cid))
        convs = self.sandbox.get_conversations(int(cid))
        return TicketView(self.PRIORITY_NAMES.get(t["priority"]), sid(t["group_id"]), sid(t["responder_id"]),
                          tuple(t["tags"]), tuple(c["body"] for c in convs if c["private"]),
                          tuple(c["body_text"] for c in convs if not c["private"] and c["user_id"] == self.sandbox.api_agent_id))

    def writes(self, cid: Any) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and (r["path"].endswith(f"/tickets/{cid}") or r["path"].endswith(f"/tickets/{cid}/notes"))]

    def forged(self) -> bytes:
        return b'{"baton_event": "ticket_updated", "ticket_id": "4242", "updated_at": "2026-11-20T10:00:00Z", "rule": "x"}'

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {webhook.SECRET_HEADER: secret or installation.webhook_secret}


DRIVER = FreshdeskDriver
