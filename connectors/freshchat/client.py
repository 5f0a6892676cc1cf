"""Freshdesk Messaging (Freshchat) API v2 calls (https://developers.freshchat.com/api/), with the
account's API token as a bearer.

Reads: the conversation (``GET /v2/conversations/{id}``), its messages (``GET …/messages``, newest
first, paged), the customer (``GET /v2/users/{id}``) and the customer's other conversations
(``GET /v2/users/{id}/conversations``); the roster from ``GET /v2/groups`` and ``GET /v2/agents``.

Writes, the handoff as Freshchat's own control mechanism: ``PUT /v2/conversations/{id}`` with
``assigned_group_id``, ``assigned_agent_id``, ``status: "assigned"`` and ``properties.priority``
(a conversation assigned to a group or a person is out of the bot's hands: Botpress and
Pipedream hand over this way; that it silences a Freddy bot is [U]), then the note as a private
message (``POST …/messages``, ``message_type: "private"``) written as Baton's agent. The update goes
first because it is idempotent; the note, which is not, goes last and carries the plan's key, so
a retry after a crash finds it (``applied``) and stops.

Tags: Freshchat conversations have no tags in the API. Baton keeps its tags in a text conversation
property the admin creates (``cf_baton_tags`` unless the setting ``tags_property`` names another),
comma-separated; a ``properties`` update replaces that one property, so Baton sends what it read
plus its own.

No list of conversations by update time exists in the API (only a user's own conversations), so
``changed_since`` cannot sweep for lost webhooks: it answers nothing (README, [U]).
"""
from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any, Mapping

from connectors.base import HttpClient, author_role, build_customer, iso_time, priority_if_higher, seg, sid, takes_handoffs
from connectors.freshchat.webhook import pem
from integration.core.contract import SINCE_PAGES, ApiInvalid, Guard, TicketSnapshot, at_or_after
from integration.core.model import (AddNote, AddTags, Assign, Contact, Conversation, Customer, Installation, Message,
                                    Plan, Priority, ReplyToCustomer, Role, SetPriority, TicketOutcome)

API = "/v2"
PAGE = 50  # items a page Baton asks for [U: Freshchat's maximum is not published]
PRIORITY = {Priority.LOW: "Low", Priority.NORMAL: "Medium", Priority.HIGH: "High", Priority.URGENT: "Urgent"}
PRIORITY_NAME = {v: k.value for k, v in PRIORITY.items()}
TAGS_PROPERTY = "cf_baton_tags"
DONE = ("resolved", "closed")
# Who wrote a message (actor_type): Freshworks' payloads name user, agent and system; bots post as "bot"
# (Botpress' Freshchat integration sends actor_type "bot").
_BOTS = ("bot",)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message's parts (``message_parts[].text.content``); other parts (images, files,
    quick replies) are named, not read."""
    parts = message.get("message_parts")
    out = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Mapping):
            continue
        text = part.get("text")
        if isinstance(text, Mapping) and isinstance(text.get("content"), str):
            out.append(text["content"])
        elif part:
            out.append(f"[{next(iter(part))}]")
    return "\n".join(out)


def tags_of(properties: Any, name: str) -> list[str]:
    value = properties.get(name) if isinstance(properties, Mapping) else None
    return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else []


class FreshchatClient:
    def __init__(self, installation: Installation, http: HttpClient | None = None, guard: Guard | None = None):
        headers = {"Authorization": f"Bearer {installation.credentials['token']}", "Accept": "application/json"}
        self.http = http or HttpClient(installation.base_url, headers=headers, guard=guard)
        self.settings = installation.settings
        self.agent_id = str(installation.settings.get("api_user_id", ""))  # the agent Baton writes as
        self.tags_property = str(installation.settings.get("tags_property") or TAGS_PROPERTY)
        self.public_key = installation.credentials.get("public_key", "")  # checked at install only

    # -- reads -----------------------------------------------------------------------------------
    def conversation(self, cid: str) -> dict[str, Any]:
        conv = self.http.request("GET", f"{API}/conversations/{seg(cid)}")
        if not isinstance(conv, dict):
            raise ApiInvalid(f"GET {API}/conversations/{cid}: the answer is not a conversation")
        return conv

    def messages(self, cid: str) -> list[dict[str, Any]]:
        """Every message, oldest first: Freshchat lists the newest first, ``page``/``items_per_page``,
        the next page in ``link`` (``rel: "next_page"``)."""
        newest_first = [m for page in self.http.pages(f"{API}/conversations/{seg(cid)}/messages",
                                                      {"items_per_page": PAGE}, _next_page)
                        for m in _items(page, "messages")]
        return newest_first[::-1]

    def _all(self, path: str, key: str) -> list[dict[str, Any]]:
        return [item for page in self.http.pages(path, {"items_per_page": PAGE}, _next_page) for item in _items(page, key)]

    def load(self, ticket_id: str) -> TicketSnapshot:
        conv = self.conversation(ticket_id)
        messages = self.messages(ticket_id)
        user_id = _user_id(conv)
        user = self.http.request("GET", f"{API}/users/{seg(user_id)}") if user_id else {}
        recent = (self.http.request("GET", f"{API}/users/{seg(user_id)}/conversations") or {}) if user_id else {}
        properties = conv.get("properties") if isinstance(conv.get("properties"), Mapping) else {}
        tags = tags_of(properties, self.tags_property)
        conversation = Conversation(
            id=str(conv.get("conversation_id") or ticket_id),
            messages=tuple(m for m in (self._message(m, user_id) for m in messages) if m.role is not Role.SYSTEM),
            customer=_customer(user if isinstance(user, Mapping) else {}, _items(recent, "conversations"), conv),
            subject="",  # a messaging conversation has none
            channel="messaging",
            group_id=sid(conv.get("assigned_group_id")),
            tags=tuple(tags),
            created_at=iso_time(conv.get("created_time")),
            url=conv.get("url") if isinstance(conv.get("url"), str) else None,
            fields={k: v for k, v in properties.items() if k != self.tags_property},
        )
        return TicketSnapshot(conversation, _fields(conv, tags))

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """List Messages, newest first: the first page is one call; the next only while a whole page
        came since (at most SINCE_PAGES)."""
        found: list[Mapping[str, Any]] = []
        pages = self.http.pages(f"{API}/conversations/{seg(ticket_id)}/messages", {"items_per_page": PAGE}, _next_page)
        for page in itertools.islice(pages, SINCE_PAGES):
            items = [m for m in _items(page, "messages") if isinstance(m, Mapping)]
            found += items
            oldest = iso_time(items[-1].get("created_time")) if items else None
            if oldest is None or oldest < since.replace(microsecond=0):
                break
        return at_or_after((self._message(m, customer_id) for m in reversed(found)), since)

    def _message(self, m: Mapping[str, Any], customer: str | None) -> Message:
        actor_type, actor = m.get("actor_type"), m.get("actor_id")
        if actor_type in _BOTS:
            role = Role.BOT
        elif actor_type == "system":
            role = Role.SYSTEM  # Freshchat's own notices (assigned, resolved …)
        else:
            role = author_role(actor, self.settings, (customer,) if customer else (), actor_type == "user")
        return Message(role, message_text(m), iso_time(m.get("created_time")), m.get("message_type") != "private",
                       sid(actor))

    # -- writes ----------------------------------------------------------------------------------
    def update_body(self, plan: Plan) -> dict[str, Any]:
        fields = plan.ticket_fields
        body: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        for action in plan.actions:
            if isinstance(action, AddTags):
                current = list(fields.get("tags") or ())
                wanted = current + [t for t in action.tags if t not in current]
                if wanted != current:
                    properties[self.tags_property] = ",".join(wanted)
            elif isinstance(action, SetPriority) and priority_if_higher(fields, action.priority):
                properties["priority"] = PRIORITY[action.priority]
            elif isinstance(action, Assign) and (action.group_id or action.agent_id):
                if action.group_id:
                    body["assigned_group_id"] = action.group_id
                if action.agent_id:
                    body["assigned_agent_id"] = action.agent_id
                body["status"] = "assigned"  # taken from the bot: a person or a group's queue has it
        if properties:
            body["properties"] = properties
        return body

    def apply(self, plan: Plan) -> None:
        cid = seg(plan.ticket_id)
        body = self.update_body(plan)
        if body:
            self.http.request("PUT", f"{API}/conversations/{cid}", json=body)
        for action in plan.actions:
            if isinstance(action, AddNote):
                self.http.request("POST", f"{API}/conversations/{cid}/messages", json=self._message_body(action.text, "private"))
        for action in plan.actions:  # after the note: the note carries the key a retry looks for
            if isinstance(action, ReplyToCustomer):
                self.http.request("POST", f"{API}/conversations/{cid}/messages", json=self._message_body(action.text, "normal"))

    def _message_body(self, text: str, kind: str) -> dict[str, Any]:
        return {"message_parts": [{"text": {"content": text}}], "message_type": kind, "actor_type": "agent",
                "actor_id": self.agent_id}

    def applied(self, plan: Plan) -> bool:
        return any(m.get("message_type") == "private" and plan.key in message_text(m) for m in self.messages(plan.ticket_id))

    # -- the team --------------------------------------------------------------------------------
    def roster(self) -> dict[str, Any]:
        """Groups and agents. ``availability_status`` (AVAILABLE / UNAVAILABLE) is the agent's
        toggle [U: the field's name]; deactivated agents take nothing; open load is not in the API."""
        groups = self._all(f"{API}/groups", "groups")
        agents = [
            {"id": str(a["id"]), "name": " ".join(p for p in (a.get("first_name"), a.get("last_name")) if p) or "",
             "groups": [str(g) for g in a.get("groups") or ()], "skills": [],
             "languages": [str(a.get("locale") or "en")[:2]],
             "online": str(a.get("availability_status", "AVAILABLE")).upper() == "AVAILABLE",
             "capacity": 5, "load": 0}
            for a in self._all(f"{API}/agents", "agents")
            if a.get("id") and not a.get("is_deactivated") and takes_handoffs(a["id"], self.settings)
        ]
        return {"groups": [{"id": str(g["id"]), "name": str(g.get("name") or "")} for g in groups if g.get("id")],
                "agents": agents}

    def probe(self) -> None:
        self.http.request("GET", f"{API}/accounts/configuration")  # what Botpress checks a token with

    # -- afterwards ------------------------------------------------------------------------------
    def outcome(self, ticket_id: str) -> TicketOutcome:
        """The conversation (assignee, status) and its messages (the first public reply of a person).
        Freshchat's conversation carries no resolution time: a resolved one is solved at its
        ``updated_time``. Its CSAT has no read API (only ``POST /v2/csat/{id}``): no rating [U]."""
        conv = self.conversation(ticket_id)
        messages = self.messages(ticket_id)
        user = _user_id(conv)
        replies = [m.at for m in (self._message(x, user) for x in messages)
                   if m.role is Role.AGENT and m.public and m.at is not None]
        status = str(conv.get("status") or "")
        properties = conv.get("properties")
        return TicketOutcome(
            assignee_id=sid(conv.get("assigned_agent_id") or None),
            first_agent_reply_at=min(replies, default=None),
            solved_at=iso_time(conv.get("updated_time")) if status in DONE else None,
            tags=tuple(tags_of(properties, self.tags_property)), status=status)

    def changed_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Nothing: the Freshchat API lists no conversations by update time (only one user's
        conversations, ``GET /v2/users/{id}/conversations``), so no sweep can find what a lost
        webhook carried. The descriptor says so (``lists_changes``)."""
        return []


def _items(page: Any, key: str) -> list[dict[str, Any]]:
    items = page.get(key) if isinstance(page, Mapping) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _next_page(body: Any, _headers: Mapping[str, str]) -> str | None:
    """The next page of a Freshchat list: ``link`` ``{rel: "next_page", href}`` on messages,
    ``links.next_page.href`` on agents, groups and users [U: which lists use which]. An href
    without the version prefix is taken under /v2."""
    if not isinstance(body, Mapping):
        return None
    link, links = body.get("link"), body.get("links")
    href = None
    if isinstance(link, Mapping) and link.get("rel") == "next_page":
        href = link.get("href")
    elif isinstance(links, Mapping) and isinstance(links.get("next_page"), Mapping):
        href = links["next_page"].get("href")
    if not isinstance(href, str) or not href:
        return None
    return f"{API}{href}" if href.startswith("/") and not href.startswith(f"{API}/") else href


def _user_id(conv: Mapping[str, Any]) -> str | None:
    """The customer: ``user_id``, else the first of ``users``."""
    if isinstance(conv.get("user_id"), str) and conv["user_id"]:
        return str(conv["user_id"])
    users = conv.get("users")
    first = users[0] if isinstance(users, list) and users and isinstance(users[0], Mapping) else {}
    return sid(first.get("id"))


def _fields(conv: Mapping[str, Any], tags: list[str]) -> dict[str, Any]:
    properties = conv.get("properties") if isinstance(conv.get("properties"), Mapping) else {}
    return {"tags": tags, "priority": PRIORITY_NAME.get(properties.get("priority")),
            "updated_at": conv.get("updated_time"), "status": str(conv.get("status") or ""),
            "group_id": conv.get("assigned_group_id"), "assignee_id": conv.get("assigned_agent_id")}


def _customer(user: Mapping[str, Any], others: list[dict[str, Any]], conv: Mapping[str, Any]) -> Customer:
    """A Freshchat user: ``properties`` is a list of ``{name, value}`` (plan, tier … as the admin
    named them)."""
    fields = {p["name"]: p.get("value") for p in user.get("properties") or () if isinstance(p, Mapping)
              and isinstance(p.get("name"), str)}
    contacts = (Contact(str(c.get("id")), iso_time(c.get("created_time")), "", str(c.get("status", "")),
                        False, sid(c.get("assigned_agent_id") or None))
                for c in others if c.get("id") and str(c.get("id")) != str(conv.get("conversation_id")))
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if isinstance(p, str) and p) or None
    tags = fields.get("tags")
    return build_customer(
        id=user.get("id") or _user_id(conv) or "", name=name, email=user.get("email") or None, fields=fields,
        tags=[t.strip() for t in tags.split(",")] if isinstance(tags, str) else (),
        created=iso_time(user.get("created_time")), now=iso_time(conv.get("created_time")), contacts=contacts,
        language=user.get("locale") if isinstance(user.get("locale"), str) else None, timezone_name=None,
        organization=fields.get("company") if isinstance(fields.get("company"), str) else None)


def install(client: FreshchatClient, endpoint: str, mode: str = "webhook") -> dict[str, Any]:
    """Freshchat has no API to register a webhook: the admin pastes Baton's URL in Freshchat's
    webhook settings (README). Here Baton checks the token (the agent it writes as must exist:
    ``GET /v2/agents/{id}``) and keeps the pasted public key as the installation's webhook secret."""
    agent = str(client.settings.get("api_user_id") or "")
    if not agent:
        raise ValueError("settings.api_user_id is missing: the id of the Freshchat agent Baton writes its notes as")
    key = pem(client.public_key)
    if key is None:
        raise ValueError("public_key is not an RSA public key: copy it from Freshchat's webhook settings")
    client.http.request("GET", f"{API}/agents/{seg(agent)}")
    return {"settings": {"api_user_id": agent, "mode": mode}, "webhook_secret": key}
