"""Intercom REST API calls, version 2.14 (https://developers.intercom.com/docs/references/2.14/).

Reads: the conversation with its parts, the contact, the contact's company, the contact's recent
conversations; for the outcome, the conversation alone (its statistics and rating). Writes, the
fewest the API allows (no call combines them): an assignment to the team (``/parts``, skipped when
already there), one call per tag (tag ids are looked up once per process), and the note (``/reply``
with ``message_type: note``) last, because it is the one write that is not idempotent and carries
the plan's key.

Priority: in the stable versions ``priority`` is read-only; only the Preview version accepts
``PUT /conversations/{id} {"priority": …}``. An installation opts in with the setting
``"preview_priority": true``; otherwise the priority is stated in the note's first line.

The official python-intercom SDK is not used: it runs on httpx (our shared client and the tests'
``responses`` mocks are requests), retries 429 by sleeping inside the call, and has no typed
priority either. These are six endpoints.
"""
from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any, Mapping

from connectors.base import (MAX_PAGES, HttpClient, author_role, build_customer, epoch_time, html_text, optional, seg,
                             sid, tag_names, takes_handoffs)
from integration.core.contract import (CHANGED_MAX, ApiInvalid, ApiNotFound, Guard, TicketSnapshot, at_or_after,
                                       oldest_changes)
from integration.core.model import (AddNote, AddTags, Assign, Contact, Conversation, Customer, Installation, Message,
                                    Plan, Priority, ReplyToCustomer, Role, SetPriority, TicketOutcome)
from integration.core.plan import ESCALATED_TAG

VERSION = "2.14"
OUTCOME_VERSION = "2.16"  # the outcome's read: Fin's resolution states in their current words
# ai_agent.resolution_state (2.15/2.16, and 2.14's older words) as Baton's BOT_VERDICTS
_FIN_VERDICTS = {"confirmed_resolution": "resolved_confirmed", "assumed_resolution": "resolved_assumed",
                 "escalated": "escalated", "routed_to_team": "escalated", "procedure_handoff": "procedure_handoff",
                 "negative_feedback": "negative_feedback", "abandoned": "abandoned"}
SEARCH_PAGE = 150  # conversations per search page: the maximum
_TAG_IDS: dict[tuple[str, str], str] = {}  # (base url + app, tag name) → id; tags are never renamed by us
_PARTS_WITH_TEXT = {"comment", "note"}
_CUSTOMERS = {"user", "lead", "contact"}
_OPERATOR = re.compile(r"operator\+[^@\s]*@intercom\.io", re.IGNORECASE)  # the workspace's Operator (bots post as it)
# source.type of a conversation (Intercom API 2.x, Conversation model) as Baton's channels
_CHANNELS = {"conversation": "messaging", "chat": "chat", "email": "email", "push": "messaging", "twitter": "social",
             "facebook": "social", "instagram": "social", "whatsapp": "messaging", "sms": "messaging",
             "phone_call": "phone", "api": "api"}


class IntercomClient:
    def __init__(self, installation: Installation, http: HttpClient | None = None, guard: Guard | None = None):
        headers = {"Authorization": f"Bearer {installation.credentials['access_token']}",
                   "Intercom-Version": VERSION, "Accept": "application/json"}
        self.http = http or HttpClient(installation.base_url, headers=headers, guard=guard)
        self.settings = installation.settings
        self.admin_id = str(installation.settings.get("api_user_id", ""))
        self.client_secret = installation.credentials.get("client_secret")  # signs the app's notifications
        self._scope = f"{installation.base_url}|{installation.settings.get('app_id', '')}"

    def load(self, conversation_id: str) -> TicketSnapshot:
        conv = self.http.request("GET", f"/conversations/{seg(conversation_id)}", params={"display_as": "plaintext"})
        contact_id = _field_list(conv, "contacts", "contacts")[0]["id"]
        contact = self.http.request("GET", f"/contacts/{seg(contact_id)}")
        companies = self.http.request("GET", f"/contacts/{seg(contact_id)}/companies").get("data") or []
        recent = self.http.request("POST", "/conversations/search", json={
            "query": {"field": "contact_ids", "operator": "=", "value": contact_id}}).get("conversations") or []

        source = conv.get("source") or {}
        messages = self._messages(conv)
        conversation = Conversation(
            id=str(conv["id"]),
            messages=tuple(m for m in messages if m.role is not Role.SYSTEM),
            customer=_customer(contact, companies[0] if companies else None, recent, conv),
            subject=conv.get("title") or "",
            channel=_CHANNELS.get(source.get("type") or "", "other"),
            group_id=sid(conv.get("team_assignee_id")),
            tags=tuple(t["name"] for t in ((conv.get("tags") or {}).get("tags") or ())),
            created_at=epoch_time(conv.get("created_at")),
            url=f"https://app.intercom.com/a/inbox/{seg(self.settings.get('app_id') or '_')}/inbox/conversation/{seg(conv['id'])}",
            fields=_attributes(conv),
        )
        fields = {"tags": list(conversation.tags), "priority": conv.get("priority"),
                  "team_assignee_id": conv.get("team_assignee_id"), "admin_assignee_id": conv.get("admin_assignee_id"),
                  "updated_at": conv.get("updated_at"), "status": conv.get("state")}
        return TicketSnapshot(conversation, fields)

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """Retrieve a Conversation: one call, its parts (up to 500) with their authors' kinds."""
        conv = self.http.request("GET", f"/conversations/{seg(ticket_id)}", params={"display_as": "plaintext"})
        return at_or_after(self._messages(conv), since)

    def _messages(self, conv: Mapping[str, Any]) -> list[Message]:
        """The opening message, then each part with text (a comment, or a note: private), oldest first."""
        source = conv.get("source") or {}
        messages = [Message(Role.CUSTOMER, html_text(source.get("body")), epoch_time(conv.get("created_at")), True,
                            str((source.get("author") or {}).get("id")))]
        for part in _field_list(conv, "conversation_parts", "conversation_parts"):
            if part.get("part_type") in _PARTS_WITH_TEXT and part.get("body"):
                author = part.get("author") or {}
                messages.append(Message(self._role(author), html_text(part["body"]), epoch_time(part.get("created_at")),
                                        part["part_type"] != "note", str(author.get("id"))))
        return messages

    def _role(self, author: dict[str, Any]) -> Role:
        """Who wrote a part. A bot is never a teammate: a part by one is Baton's cue to decide, where a
        teammate's public reply makes Baton step aside. Intercom marks a bot's part by
        ``author.type: "bot"`` and, for Fin, ``from_ai_agent`` / ``is_ai_answer`` on the author
        (conversation_part_author, API 2.14-2.16); bots "send messages on behalf of Admins or Teams"
        (same schema), so an ``admin`` author can be the workspace's Operator, whose address is
        ``operator+<app id>@intercom.io`` (the schema's example; a workflow bot's reply posted on the
        community forum, 2026). ``bot_user_ids`` names any other bot."""
        if author.get("type") == "bot" or author.get("from_ai_agent") is True or author.get("is_ai_answer") is True:
            return Role.BOT
        if author.get("type") == "admin" and _OPERATOR.fullmatch(str(author.get("email") or "")):
            return Role.BOT
        return author_role(author.get("id"), self.settings, (), author.get("type") in _CUSTOMERS)

    def apply(self, plan: Plan) -> None:
        cid, fields = plan.ticket_id, plan.ticket_fields
        of = {type(a): a for a in plan.actions}
        assign, tags, priority, note = of.get(Assign), of.get(AddTags), of.get(SetPriority), of.get(AddNote)
        reply = of.get(ReplyToCustomer)
        # a conversation can have both a team and an admin; each assignment is its own part
        for kind, target, current in (("team", assign and assign.group_id, fields.get("team_assignee_id")),
                                      ("admin", assign and assign.agent_id, fields.get("admin_assignee_id"))):
            if target and str(current) != target:
                self.http.request("POST", f"/conversations/{seg(cid)}/parts", json={
                    "message_type": "assignment", "type": kind, "admin_id": self.admin_id, "assignee_id": target})
        for name in tags.tags if tags else ():
            if name not in (fields.get("tags") or ()):
                self._tag(cid, name)
        if priority and self.settings.get("preview_priority") and priority.priority.rank >= Priority.HIGH.rank:
            self.http.request("PUT", f"/conversations/{seg(cid)}", json={"priority": priority.priority.value, "admin_id": self.admin_id},
                              headers={"Intercom-Version": "Preview"})
        if note:  # the write that is not idempotent carries the key a retry looks for
            self.http.request("POST", f"/conversations/{seg(cid)}/reply", json={
                "message_type": "note", "type": "admin", "admin_id": self.admin_id, "body": note.html})
        if reply:
            self.http.request("POST", f"/conversations/{seg(cid)}/reply", json={
                "message_type": "comment", "type": "admin", "admin_id": self.admin_id,
                "body": f"<p>{html.escape(reply.text)}</p>"})

    def _tag(self, cid: str, name: str) -> None:
        """Tag the conversation; a remembered tag id that no longer works (the tag was deleted in
        Intercom, or the workspace is another one at the same address) is looked up once more."""
        try:
            self.http.request("POST", f"/conversations/{seg(cid)}/tags", json={"id": self._tag_id(name), "admin_id": self.admin_id})
        except (ApiNotFound, ApiInvalid):
            if _TAG_IDS.pop((self._scope, name), None) is None:
                raise
            self.http.request("POST", f"/conversations/{seg(cid)}/tags", json={"id": self._tag_id(name), "admin_id": self.admin_id})

    def _tag_id(self, name: str) -> str:
        key = (self._scope, name)
        if key not in _TAG_IDS:
            _TAG_IDS[key] = str(self.http.request("POST", "/tags", json={"name": name})["id"])  # creates or finds
        return _TAG_IDS[key]

    def roster(self) -> dict[str, Any]:
        """Admins (away mode = offline), teams and tags (``GET /tags``). Intercom has no skills or capacity
        API, and its brands are in the Preview version only: none are read."""
        teams = self.http.request("GET", "/teams").get("teams") or []
        agents = [
            {"id": str(a["id"]), "name": a.get("name") or "", "groups": [str(t) for t in a.get("team_ids") or ()],
             "skills": [], "languages": [], "online": not a.get("away_mode_enabled") and a.get("has_inbox_seat", True),
             "capacity": 5, "load": 0}
            for a in self.http.request("GET", "/admins").get("admins") or []
            if takes_handoffs(a["id"], self.settings)
        ]
        return {"groups": [{"id": str(t["id"]), "name": t["name"]} for t in teams], "agents": agents,
                "tags": tag_names(optional(lambda: self.http.request("GET", "/tags").get("data") or [], []))}

    def probe(self) -> None:
        self.http.request("GET", "/me")

    def outcome(self, conversation_id: str) -> TicketOutcome:
        """One read: ``GET /conversations/{id}`` (statistics, conversation_rating, assignee, tags, state,
        and Fin's ``ai_agent_participated`` and ``ai_agent.resolution_state``). Asked in version 2.16:
        2.14's resolution states (assumed, confirmed, routed_to_team, abandoned) have no word for
        Fin's procedure handoff or for negative feedback; every field read here is the same in both."""
        conv = self.http.request("GET", f"/conversations/{seg(conversation_id)}", headers={"Intercom-Version": OUTCOME_VERSION})
        if not isinstance(conv, Mapping):
            raise ApiInvalid(f"GET /conversations/{conversation_id}: the answer is not a conversation")
        return outcome_from(conv)

    def applied(self, plan: Plan) -> bool:
        conv = self.http.request("GET", f"/conversations/{seg(plan.ticket_id)}")
        return any(p.get("part_type") == "note" and plan.key in (p.get("body") or "")
                   for p in _field_list(conv, "conversation_parts", "conversation_parts"))

    def changed_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Search conversations (``POST /conversations/search``, 2.14): ``updated_at`` ``>`` a second
        before ``since`` (the reference calls ``>`` "greater (or equal) than"; a second more costs
        nothing), 150 a page (the maximum), sorted by ``updated_at`` ascending (the ``sort`` of
        Intercom's "Pagination & Sorting (Search)" guide, absent from the OpenAPI schema), then
        ``pages.next.starting_after`` until there is none. The order is not relied on: the answer is
        sorted here."""
        body: dict[str, Any] = {"query": {"field": "updated_at", "operator": ">", "value": int(since.timestamp()) - 1},
                                "pagination": {"per_page": SEARCH_PAGE},
                                "sort": {"field": "updated_at", "order": "ascending"}}
        found: list[tuple[Any, datetime | None]] = []
        for _ in range(MAX_PAGES):
            page = self.http.request("POST", "/conversations/search", json=body)
            page = page if isinstance(page, Mapping) else {}
            found += [(c.get("id"), epoch_time(c.get("updated_at")))
                      for c in page.get("conversations") or () if isinstance(c, Mapping)]
            pages = page.get("pages")
            following = pages.get("next") if isinstance(pages, Mapping) else None
            cursor = following.get("starting_after") if isinstance(following, Mapping) else None
            if not cursor or len(found) >= CHANGED_MAX:
                break
            body["pagination"] = {"per_page": SEARCH_PAGE, "starting_after": cursor}
        return oldest_changes(found, since)


def outcome_from(conv: Mapping[str, Any]) -> TicketOutcome:
    """What the conversation's statistics and rating say became of it. The last assignment is to a
    teammate or a team (Intercom counts both, Baton's own team assignment too); the first admin reply
    is a teammate's, Fin's are not; a rating (1 to 5 stars) maps to (n - 1) / 4, anything else is no
    rating, and its time is the rating's last update. Fin's own verdict (``ai_agent.resolution_state``)
    becomes one of Baton's BOT_VERDICTS; a state Baton does not know is no verdict."""
    stats = conv.get("statistics") if isinstance(conv.get("statistics"), Mapping) else {}
    rating = conv.get("conversation_rating") if isinstance(conv.get("conversation_rating"), Mapping) else {}
    stars, remark = rating.get("rating"), rating.get("remark")
    csat = (stars - 1) / 4 if isinstance(stars, int) and not isinstance(stars, bool) and 1 <= stars <= 5 else None
    reopens = stats.get("count_reopens")
    tags = conv["tags"].get("tags") if isinstance(conv.get("tags"), Mapping) else None
    ai = conv.get("ai_agent") if isinstance(conv.get("ai_agent"), Mapping) else {}
    state = ai.get("resolution_state")
    participated = conv.get("ai_agent_participated")
    return TicketOutcome(
        assigned_at=epoch_time(stats.get("last_assignment_at")) or epoch_time(stats.get("first_assignment_at")),
        assignee_id=sid(conv.get("admin_assignee_id")),
        first_agent_reply_at=epoch_time(stats.get("first_admin_reply_at")),
        solved_at=epoch_time(stats.get("last_close_at")) or epoch_time(stats.get("first_close_at")),
        reopens=reopens if isinstance(reopens, int) and not isinstance(reopens, bool) and reopens > 0 else 0,
        csat=csat,
        csat_at=epoch_time(rating.get("updated_at")) or epoch_time(rating.get("created_at")) if csat is not None else None,
        csat_comment=remark if csat is not None and isinstance(remark, str) and remark else None,
        tags=tuple(t["name"] for t in tags if isinstance(t, Mapping) and isinstance(t.get("name"), str))
        if isinstance(tags, list) else (),
        status=conv["state"] if isinstance(conv.get("state"), str) else "",
        # Fin says whether it took part; a verdict without that flag still means it did
        bot_participated=participated if isinstance(participated, bool) else (True if ai else None),
        bot_verdict=_FIN_VERDICTS.get(state) if isinstance(state, str) else None)


def _attributes(conv: dict[str, Any]) -> dict[str, Any]:
    """The conversation's custom attributes, and what Fin or another AI agent reported on it
    (``ai_agent.*``, e.g. ``ai_agent.resolution_state``)."""
    ai = conv.get("ai_agent") if isinstance(conv.get("ai_agent"), dict) else {}
    return {**(conv.get("custom_attributes") or {}), **{f"ai_agent.{k}": v for k, v in ai.items()}}


def install(client: IntercomClient, endpoint: str, mode: str = "webhooks") -> dict[str, Any]:
    """Webhook topics are set in the Developer Hub (no API): we learn our admin id and the
    workspace's app id; notifications are signed with the app's client secret."""
    me = client.http.request("GET", "/me")
    return {"settings": {"api_user_id": str(me["id"]), "app_id": (me.get("app") or {}).get("id_code"), "mode": mode},
            "webhook_secret": client.client_secret}


def _field_list(data: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    return list(((data.get(outer) or {}).get(inner)) or [])


def _customer(contact: dict[str, Any], company: dict[str, Any] | None, recent: list[dict[str, Any]],
              conv: dict[str, Any]) -> Customer:
    fields = {**((company or {}).get("custom_attributes") or {}), **(contact.get("custom_attributes") or {})}
    contacts = (Contact(str(c["id"]), epoch_time(c.get("created_at")), c.get("title") or "", c.get("state") or "",
                        any(t.get("name") == ESCALATED_TAG for t in ((c.get("tags") or {}).get("tags") or ())),
                        str(c["admin_assignee_id"]) if c.get("admin_assignee_id") else None)
                for c in recent if str(c["id"]) != str(conv["id"]))
    return build_customer(
        id=contact["id"], name=contact.get("name"), email=contact.get("email"), fields=fields, tags=(),
        created=epoch_time(contact.get("signed_up_at") or contact.get("created_at")), now=epoch_time(conv.get("created_at")),
        contacts=contacts, language=contact.get("language_override"),
        timezone_name=(contact.get("location") or {}).get("timezone"), organization=(company or {}).get("name"),
        plan=fields.get("plan") or ((company or {}).get("plan") or {}).get("name"),
        tier=fields.get("tier") or ("vip" if fields.get("vip") else None),
    )
