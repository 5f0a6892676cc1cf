"""The driver that plays an admin, customers, a bot and teammates on the Intercom sandbox."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from connectors.intercom import webhook
from connectors.intercom.sandbox import IntercomSandbox
from connectors.intercom.sandbox.state import AppRegistration
from connectors.sandbox import JSON, html_to_text, sid, stars
from connectors.sandbox_driver import AppSetup, Driver, Person, Setup, TicketView


class IntercomDriver(Driver):
    """Plays an admin, customers, a bot and teammates on the Intercom sandbox."""

    sandbox_class = IntercomSandbox
    key, write_method = "intercom", "POST"
    api_prefix = "/"
    lists_tags = True  # GET /tags; Intercom has no skills, and brands in its Preview version only

    def add_tag(self, name: str) -> bool:
        self.sandbox.add_tag(name)
        return True

    def show_app(self, app: AppSetup) -> None:
        """Baton's app in the sandbox's Developer Hub, from ``manifests/intercom/app.json`` with the
        deployment's OAuth client; its Installation URL names the sandbox (``?host=``), as a
        development deployment's does."""
        self._installation = app.installation
        self.sandbox.app_installed = app.installation is not None  # installed by the operator's command
        m = json.loads((Path(__file__).resolve().parents[3] / "manifests" / "intercom" / "app.json").read_text())

        def url(template: str) -> str:
            return template.replace("{public_url}", app.baton_url.rstrip("/"))

        self.sandbox.register_app(AppRegistration(
            client_id=app.client_id, client_secret=app.client_secret, name=m["name"], description=m["description"],
            installation_url=f"{url(m['installation']['installation_url'])}?{urlencode({'host': self.url})}",
            redirect_urls=tuple(url(u) for u in m["authentication"]["redirect_urls"]),
            initialize_url=url(m["canvas_kit"]["initialize_url"]), submit_url=url(m["canvas_kit"]["submit_url"]),
            uninstall_url=url(m["installation"]["uninstall_url"]), permissions=tuple(m["authentication"]["permissions"])))

    def teammate(self, user: str) -> str:
        """Who plays ``user``: "admin" is whose authorization Baton acts with (the installation's
        teammate, or a new one about to install Baton); "agent" a support teammate; else an id."""
        if user == "admin":
            inst = getattr(self, "_installation", None)
            return str(inst.settings["api_user_id"]) if inst is not None else str(self.sandbox.api_admin_id)
        return self.human() if user == "agent" else user

    def console_url(self, user: str = "admin") -> str:
        """Intercom has no settings page for apps: the teammate signs in and installs Baton from the
        App Store, which leads through Intercom's consent page to Baton's console; once installed,
        the App Store opens it (*Open*, to the same Installation URL)."""
        return f"{self.url}/a/login?{urlencode({'as': self.teammate(user), 'next': '/a/appstore'})}"

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return f"{self.url}/a/inbox/conversation/{ticket_id}?{urlencode({'as': self.teammate(user)})}"


    def setup(self) -> Setup:
        # Fin is an admin the workspace lists (bots post on behalf of admins): the installation names it a bot
        self.bot_id = self.sandbox.fin_id = self.sandbox.add_admin("Fin", f"operator+{self.sandbox.app_id}@intercom.io")["id"]
        return Setup({"access_token": self.sandbox.access_token, "client_secret": self.sandbox.client_secret},
                     {"bot_user_ids": [str(self.bot_id)]}, "webhooks")

    def connect(self, installation: Any, endpoint: str) -> None:
        self.sandbox.add_webhook(endpoint, webhook.SUPPORTED_TOPICS)  # what the admin sets in the Developer Hub

    def _new_group(self, name: str) -> str:
        return str(self.sandbox.add_team(name)["id"])  # Intercom's groups are teams

    def _new_agent(self, name: str, group_id: str, online: bool) -> str:
        # Intercom's agents are admins; away mode is how they go offline
        return str(self.sandbox.add_admin(name, f"{name.lower()}@yourco.example", team_ids=[group_id], away=not online)["id"])

    def _add_customer(self, person: Person) -> str:
        fields = dict(person.fields)
        companies: tuple[str, ...] = ()
        if person.organization:
            companies = (self.sandbox.add_company(person.organization, plan=fields.pop("plan", None))["id"],)
        if "vip" in person.tags:
            fields["tier"] = "vip"  # Intercom contacts carry a segment as a custom attribute
        return str(self.sandbox.add_contact(person.name, person.email, company_ids=companies, custom_attributes=fields)["id"])

    def _open(self, customer: str, subject: str, text: str) -> str:
        return str(self.sandbox.start_conversation(customer, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if role == "customer":
            self.sandbox.user_reply(cid, str(author), text)
        else:
            self.sandbox.admin_reply(cid, str(author), text, author_type="bot" if role == "bot" else "admin")

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.assign(str(cid), agent_id, agent_id)

    def solve(self, cid: Any) -> None:
        self.sandbox.close(str(cid), self._agent_of(cid))

    def reopen(self, cid: Any) -> None:
        self.sandbox.open(str(cid), self._agent_of(cid))

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        self.sandbox.rate(str(cid), stars(good), comment)

    def view(self, cid: Any) -> TicketView:
        c = self.sandbox.get_conversation(str(cid))
        parts = self.sandbox.get_parts(str(cid))
        # Intercom knows "priority" or "not_priority" (the Preview API's values) and nothing between
        return TicketView("priority" if c.get("priority") == "priority" else None, sid(c["team_assignee_id"]),
                          sid(c["admin_assignee_id"]), tuple(t["name"] for t in c["tags"]["tags"]),
                          tuple(p["body"] for p in parts if p["part_type"] == "note"),
                          tuple(html_to_text(p["body"]) for p in parts if p["part_type"] == "comment"
                                and str(p["author"]["id"]) == str(self.sandbox.api_admin_id)))

    def writes(self, cid: Any) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and r["path"].startswith(f"/conversations/{cid}")]

    def api_log(self) -> list[JSON]:
        return list(self.sandbox.requests_log)

    def forged(self) -> bytes:
        return json.dumps({"type": "notification_event", "app_id": "sbx12345", "id": "notif_forged", "topic":
                           "conversation.user.replied", "data": {"item": {"id": "4242"}}}).encode()

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {webhook.SIGNATURE: webhook.sign(secret or installation.webhook_secret, body)}


DRIVER = IntercomDriver
