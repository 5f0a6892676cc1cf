"""Zendesk Support API calls (https://developer.zendesk.com/api-reference/ticketing/).

Reads: ticket, comments, requester, organization, the requester's recent tickets; for the outcome,
the ticket and its metrics.
Writes: one ``PUT /api/v2/tickets/{id}`` per escalation carrying the private note, the priority,
the group and the tags.

Tags: ``tags`` on Update Ticket *replaces* the list, and ``additional_tags`` is documented only
for bulk updates. So we send the union of the tags we read and ours, guarded by
``safe_update`` + ``updated_stamp``: if anyone changed the ticket since we read it, Zendesk
answers 409 and we re-read and try again. One call, and nobody's tags are wiped.

zenpy is not used: it sleeps inside calls on 429 (blocking a Celery worker) and can only be
pointed at a sandbox through process-wide environment variables.
"""
from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from requests.auth import HTTPBasicAuth

from connectors.base import (PICKS_MAX, HttpClient, author_role, build_customer, html_text, iso_time, merged_tags, named,
                             optional, priority_if_higher, seg, sid, tag_names, takes_handoffs)
from connectors.zendesk import conversations
from integration.core.contract import (CHANGED_MAX, SINCE_PAGES, ApiConflict, ApiInvalid, ApiNotFound, Guard,
                                       TicketSnapshot, at_or_after, oldest_changes)
from integration.core.model import (AddNote, AddTags, Assign, Contact, Conversation, Customer, Installation, Message,
                                    Plan, ReplyToCustomer, Role, SetPriority, TicketOutcome)
from integration.core.plan import ESCALATED_TAG

CONFLICT_ATTEMPTS = 3
SCORES = {"good": 1.0, "bad": 0.0}  # satisfaction_rating.score; "offered" and "unoffered" are no rating
# via.channel (Zendesk's "Via object reference") as Baton's channels
_CHANNELS = {"web": "web", "email": "email", "api": "api", "chat": "chat", "native_messaging": "messaging",
             "messaging": "messaging", "sunshine_conversations_api": "messaging", "mobile_sdk": "messaging",
             "whatsapp": "messaging", "sms": "messaging", "line": "messaging", "voice": "phone", "phone": "phone",
             "twitter": "social", "facebook": "social", "instagram_dm": "social"}


class ZendeskClient:
    def __init__(self, installation: Installation, http: HttpClient | None = None, guard: Guard | None = None):
        creds = installation.credentials
        if "oauth_token" in creds:
            auth, headers = None, {"Authorization": f"Bearer {creds['oauth_token']}"}
        else:
            auth, headers = HTTPBasicAuth(f"{creds['email']}/token", creds["token"]), None
        self.http = http or HttpClient(installation.base_url, auth=auth, headers=headers, guard=guard)
        self.settings = installation.settings
        # messaging conversations are followed by conversation id through the Conversations API
        self.messaging = conversations.enabled(installation)

    # reads

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        return self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}.json")["ticket"]

    def load(self, ticket_id: str) -> TicketSnapshot:
        """The ticket with its requester and organization side-loaded (``include=users,organizations``,
        Zendesk's "Side-loading related records"), its comments and the requester's other tickets:
        three calls. Zendesk calls a side-loaded user "partial": one that lacks a field the customer
        profile reads is fetched whole, as is an organization the ticket does not name (connector README)."""
        shown = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}.json", params={"include": "users,organizations"})
        ticket = shown["ticket"]
        comments = self._all(f"/api/v2/tickets/{seg(ticket_id)}/comments.json", "comments")
        requester = _sideloaded(shown, "users", ticket["requester_id"], _USER_READS)
        if requester is None:
            requester = self.http.request("GET", f"/api/v2/users/{seg(ticket['requester_id'])}.json")["user"]
        org = None
        if oid := ticket.get("organization_id") or requester.get("organization_id"):
            org = _sideloaded(shown, "organizations", oid, _ORG_READS)
            if org is None:
                org = self.http.request("GET", f"/api/v2/organizations/{seg(oid)}.json")["organization"]
        recent = self.http.request("GET", f"/api/v2/users/{seg(requester['id'])}/tickets/requested.json")["tickets"]

        messages = tuple(self._message(c, str(ticket["requester_id"])) for c in comments)
        conversation = Conversation(
            id=str(ticket["id"]),
            messages=tuple(m for m in messages if m.role is not Role.SYSTEM),
            customer=_customer(requester, org, recent, ticket),
            subject=ticket.get("subject") or "",
            channel=_CHANNELS.get((ticket.get("via") or {}).get("channel", ""), "other"),
            brand=sid(ticket.get("brand_id")), group_id=sid(ticket.get("group_id")),
            tags=tuple(ticket.get("tags") or ()),
            created_at=iso_time(ticket.get("created_at")),
            url=f"{self.http.base_url}/agent/tickets/{seg(ticket['id'])}",
            fields={str(f["id"]): f.get("value") for f in ticket.get("custom_fields") or () if isinstance(f, dict) and "id" in f},
        )
        return TicketSnapshot(conversation, _ticket_fields(ticket))

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """List Comments newest first (``sort_order=desc``, 100 a page): one call unless more than a
        page of comments came since (then the next pages, at most SINCE_PAGES)."""
        found: list[dict[str, Any]] = []
        pages = self.http.pages(f"/api/v2/tickets/{seg(ticket_id)}/comments.json", {"sort_order": "desc"}, _cursor_next)
        for page in itertools.islice(pages, SINCE_PAGES):
            comments = [c for c in page.get("comments") or () if isinstance(c, Mapping)]
            found += comments
            oldest = iso_time(comments[-1].get("created_at")) if comments else None
            if oldest is None or oldest < since.replace(microsecond=0):
                break
        return at_or_after((self._message(c, customer_id) for c in reversed(found)), since)

    def _message(self, c: Mapping[str, Any], customer_id: str | None) -> Message:
        return Message(author_role(c.get("author_id"), self.settings, (customer_id,) if customer_id else ()),
                       c.get("plain_body") or html_text(c.get("html_body")) or c.get("body") or "",
                       iso_time(c.get("created_at")), bool(c.get("public", True)), str(c.get("author_id")))

    # writes

    def body(self, plan: Plan, fields: Mapping[str, Any]) -> dict[str, Any]:
        ticket: dict[str, Any] = {"safe_update": True, "updated_stamp": fields["updated_at"]} if fields.get("updated_at") else {}
        for action in plan.actions:
            if isinstance(action, AddNote):
                ticket["comment"] = {"html_body": action.html, "public": False}
            elif isinstance(action, AddTags):
                ticket["tags"] = merged_tags(fields, action.tags)
            elif isinstance(action, SetPriority) and priority_if_higher(fields, action.priority):
                ticket["priority"] = action.priority.value
            elif isinstance(action, Assign):
                if action.group_id:
                    ticket["group_id"] = int(action.group_id) if action.group_id.isdigit() else action.group_id
                if action.agent_id:
                    ticket["assignee_id"] = int(action.agent_id) if action.agent_id.isdigit() else action.agent_id
        return {"ticket": ticket}

    def apply(self, plan: Plan) -> None:
        """One PUT with note and fields; a message to the customer is a second comment, and
        Zendesk takes one comment per update, so it is a second PUT."""
        if any(not isinstance(a, ReplyToCustomer) for a in plan.actions):
            # a note alone wipes nothing: no read for it (a while-waiting note planned without one)
            fields = plan.ticket_fields or ({} if all(isinstance(a, (AddNote, ReplyToCustomer)) for a in plan.actions)
                                            else _ticket_fields(self.ticket(plan.ticket_id)))
            for attempt in range(CONFLICT_ATTEMPTS):
                try:
                    self.http.request("PUT", f"/api/v2/tickets/{seg(plan.ticket_id)}.json", json=self.body(plan, fields))
                    break
                except ApiConflict:
                    if attempt == CONFLICT_ATTEMPTS - 1:
                        raise
                    fields = _ticket_fields(self.ticket(plan.ticket_id))  # someone changed it: merge with the new state
        for action in plan.actions:
            if isinstance(action, ReplyToCustomer):
                self.http.request("PUT", f"/api/v2/tickets/{seg(plan.ticket_id)}.json",
                                  json={"ticket": {"comment": {"body": action.text, "public": True}}})

    def roster(self) -> dict[str, Any]:
        """Agents, groups and availability, normalized for routing. Availability and load come
        from the agent availabilities API (omnichannel routing); without it every agent counts as
        online with unknown load."""
        groups = self._all("/api/v2/groups.json", "groups")
        members = self._all("/api/v2/group_memberships.json", "group_memberships")
        users = self._all("/api/v2/users.json", "users", {"role[]": ["agent", "admin"]})
        try:
            availability = {str(a["attributes"]["agent_id"]): a["attributes"] for a in
                            self._all("/api/v2/agent_availabilities", "data")}
        except ApiNotFound:
            availability = {}
        in_groups: dict[str, list[str]] = {}
        for m in members:
            in_groups.setdefault(str(m["user_id"]), []).append(str(m["group_id"]))
        agents = []
        for u in users:
            uid = str(u["id"])
            if not takes_handoffs(uid, self.settings):
                continue
            a = availability.get(uid, {})
            channels = a.get("channels") or []
            agents.append({
                "id": uid, "name": u.get("name") or "", "groups": in_groups.get(uid, []),
                "skills": [str(s["id"]) for s in a.get("skills") or ()],
                "languages": [(u.get("locale") or "en").split("-")[0]],
                "online": (a.get("agent_status") or {}).get("name", "online").lower() == "online" if a else True,
                "capacity": sum(c.get("max_capacity") or 0 for c in channels) or 5,
                "load": sum(c.get("work_item_count") or 0 for c in channels),
            })
        return {"groups": [{"id": str(g["id"]), "name": g["name"]} for g in groups], "agents": agents,
                "brands": self._brands(), "skills": self._skills(), "tags": self._tags()}

    def _brands(self) -> list[dict[str, str]]:
        """Brands by name (``GET /api/v2/brands``; an agent who may not assign every brand lists only
        the brands they are a member of): what the rules' scope picks from."""
        return named(optional(lambda: self._all("/api/v2/brands.json", "brands"), []))

    def _skills(self) -> list[dict[str, str]]:
        """Skills by name: skills-based routing's attributes (skill types, ``GET
        /api/v2/routing/attributes``) and each one's values (the skills, ``GET
        /api/v2/routing/attributes/{id}/values``), whose ids are those an agent availability lists
        (an assumption: README). Enterprise plans only; elsewhere 403 or 404, and no skills."""
        def read() -> list[dict[str, str]]:
            out: list[dict[str, str]] = []
            for a in (self.http.request("GET", "/api/v2/routing/attributes.json") or {}).get("attributes") or []:
                if isinstance(a, Mapping) and a.get("id") and len(out) < PICKS_MAX:
                    values = self.http.request("GET", f"/api/v2/routing/attributes/{seg(a['id'])}/values.json") or {}
                    out += named(values.get("attribute_values"), str(a.get("name") or ""))
            return out[:PICKS_MAX]
        return optional(read, [])  # type: ignore[no-any-return]

    def _tags(self) -> list[str]:
        """The most used tags of the last 60 days, most used first (``GET /api/v2/tags``, cursor
        pagination, 100 a page): the first PICKS_MAX, what the console suggests (a new tag is typed)."""
        def read() -> list[str]:
            tags: list[Any] = []
            for page in self.http.pages("/api/v2/tags.json", {"page[size]": 100}, _cursor_next):
                tags += (page or {}).get("tags") or []
                if len(tags) >= PICKS_MAX:
                    break
            return tag_names(tags)
        return optional(read, [])  # type: ignore[no-any-return]

    def _all(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a list, page after page: ``next_page`` (offset pagination, 100 a page) or
        ``links.next`` (cursor pagination, as agent availabilities use)."""
        return [item for page in self.http.pages(path, params, _cursor_next) for item in page.get(key) or ()]

    def probe(self) -> None:
        self.http.request("GET", "/api/v2/users/me.json")

    def outcome(self, ticket_id: str) -> TicketOutcome:
        """Two reads: the ticket (status, tags, assignee, ``satisfaction_rating``) and its metrics
        (``GET /api/v2/tickets/{id}/metrics``); a ticket without metrics yet has none of their times."""
        body = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}.json")
        ticket = body.get("ticket") if isinstance(body, Mapping) else None
        if not isinstance(ticket, Mapping):
            raise ApiInvalid(f"GET /api/v2/tickets/{ticket_id}: no ticket in the answer")
        try:
            metrics = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}/metrics.json")
        except ApiNotFound:
            metrics = None
        return outcome_from(ticket, metrics)

    def applied(self, plan: Plan) -> bool:
        comments = self._all(f"/api/v2/tickets/{seg(plan.ticket_id)}/comments.json", "comments")
        return any(not c.get("public", True) and plan.key in (c.get("html_body") or c.get("body") or "")
                   for c in comments)

    def changed_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Incremental Ticket Export, cursor based (https://developer.zendesk.com/api-reference/
        ticketing/ticket-management/incremental_exports/): ``start_time`` (Unix seconds, at least a
        minute in the past: Zendesk refuses a later one and leaves out the last minute, which the
        sweep's overlap reads next time), then ``after_url`` until ``end_of_stream``; deleted
        tickets left out, and messaging tickets when the Conversations API follows them (their
        conversation id is Baton's key, not the ticket). Zendesk compares ``start_time`` with each ticket's generated_timestamp,
        so a ticket changed earlier can come back: only ``updated_at`` at or after ``since`` count.
        Up to 1,000 tickets a page (the default), so one page is usually the whole answer."""
        start = min(since, datetime.now(timezone.utc) - EXPORT_LAG)
        found: list[tuple[Any, datetime | None]] = []
        for page in self.http.pages("/api/v2/incremental/tickets/cursor.json",
                                    {"start_time": int(start.timestamp()), "exclude_deleted": "true"}, _export_next):
            tickets = page.get("tickets") if isinstance(page, Mapping) else None
            found += [(t.get("id"), iso_time(t.get("updated_at"))) for t in tickets or () if isinstance(t, Mapping)
                      and not (self.messaging and conversations.is_messaging(t.get("via")))]
            if len(found) >= CHANGED_MAX:
                break
        return oldest_changes(found, since)


def _cursor_next(body: Any, _headers: Any) -> Any:
    """A list's next page: ``next_page`` (offset pagination) or ``links.next`` while ``meta.has_more``
    (cursor pagination, as agent availabilities and tags use)."""
    return body.get("next_page") or ((body.get("links") or {}).get("next")
                                     if (body.get("meta") or {}).get("has_more") else None)


EXPORT_LAG = timedelta(seconds=61)  # Zendesk: start_time "must be at least one minute in the past"


def _export_next(body: Any, _headers: Any) -> str | None:
    """The incremental export's next page: ``after_url`` until ``end_of_stream``."""
    if not isinstance(body, Mapping) or body.get("end_of_stream", True):
        return None
    return body.get("after_url") or None


def outcome_from(ticket: Mapping[str, Any], metrics: Any) -> TicketOutcome:
    """What the ticket and its ticket_metric say became of it. Zendesk has no time of the first reply:
    it is the ticket's creation plus ``reply_time_in_seconds.calendar`` (messaging tickets) or else
    ``reply_time_in_minutes.calendar`` (to the minute), the first public comment of any agent, a bot
    that comments as an agent included. The rating on the ticket carries no time (``csat_at`` stays
    None: its ``created_at`` is one more call, to the Satisfaction Ratings API)."""
    metric = metrics.get("ticket_metric") if isinstance(metrics, Mapping) else None
    if isinstance(metric, list):  # the reference's example shows a list of one
        metric = metric[0] if metric else None
    metric = metric if isinstance(metric, Mapping) else {}
    rating = ticket.get("satisfaction_rating") if isinstance(ticket.get("satisfaction_rating"), Mapping) else {}
    score = rating.get("score")
    csat = SCORES.get(score) if isinstance(score, str) else None
    comment = rating.get("comment") if csat is not None and isinstance(rating.get("comment"), str) else None
    reopens = metric.get("reopens")
    return TicketOutcome(
        assigned_at=iso_time(metric.get("assigned_at")) or iso_time(metric.get("initially_assigned_at")),
        assignee_id=sid(ticket.get("assignee_id")),
        first_agent_reply_at=_first_reply(iso_time(ticket.get("created_at")) or iso_time(metric.get("created_at")),
                                          metric),
        solved_at=iso_time(metric.get("solved_at")),
        reopens=reopens if isinstance(reopens, int) and not isinstance(reopens, bool) and reopens > 0 else 0,
        csat=csat, csat_comment=comment or None,
        tags=tuple(t for t in ticket["tags"] if isinstance(t, str)) if isinstance(ticket.get("tags"), list) else (),
        status=ticket["status"] if isinstance(ticket.get("status"), str) else "")


def _first_reply(created: datetime | None, metric: Mapping[str, Any]) -> datetime | None:
    replies = metric.get("replies")
    if created is None or (isinstance(replies, int) and replies == 0):
        return None
    seconds = _calendar(metric.get("reply_time_in_seconds"))
    if seconds is None:
        minutes = _calendar(metric.get("reply_time_in_minutes"))
        seconds = None if minutes is None else minutes * 60
    try:
        return None if seconds is None else created + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _calendar(duration: Any) -> float | None:
    value = duration.get("calendar") if isinstance(duration, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def _ticket_fields(ticket: dict[str, Any]) -> dict[str, Any]:
    return {"tags": list(ticket.get("tags") or ()), "priority": ticket.get("priority"),
            "updated_at": ticket["updated_at"], "status": ticket.get("status"),
            "group_id": ticket.get("group_id"), "assignee_id": ticket.get("assignee_id")}


# what _customer reads of a user and of an organization: a side-loaded record without one of them
# is read again whole
_USER_READS = ("id", "name", "email", "user_fields", "tags", "created_at", "locale", "time_zone", "organization_id")
_ORG_READS = ("id", "name", "organization_fields", "tags")


def _sideloaded(shown: Mapping[str, Any], key: str, record_id: Any, reads: tuple[str, ...]) -> dict[str, Any] | None:
    """The record ``record_id`` among a response's side-loaded ``key``, if it carries every field in ``reads``."""
    for record in shown.get(key) or ():
        if isinstance(record, dict) and str(record.get("id")) == str(record_id):
            return record if all(name in record for name in reads) else None
    return None


def _customer(user: dict[str, Any], org: dict[str, Any] | None, recent: list[dict[str, Any]],
              ticket: dict[str, Any]) -> Customer:
    contacts = (Contact(str(t["id"]), iso_time(t.get("created_at")), t.get("subject") or "", t.get("status") or "",
                        ESCALATED_TAG in (t.get("tags") or ()),
                        str(t["assignee_id"]) if t.get("assignee_id") else None)
                for t in recent if str(t["id"]) != str(ticket["id"]))
    return build_customer(
        id=user["id"], name=user.get("name"), email=user.get("email"),
        fields={**((org or {}).get("organization_fields") or {}), **(user.get("user_fields") or {})},
        tags=tuple(user.get("tags") or ()) + tuple((org or {}).get("tags") or ()),
        created=iso_time(user.get("created_at")), now=iso_time(ticket.get("created_at")), contacts=contacts,
        language=(user.get("locale") or "").split("-")[0] or None, timezone_name=user.get("time_zone"),
        organization=(org or {}).get("name"),
    )


# Installation: the webhook (and trigger) that send us conversation updates.

EVENT_SUBSCRIPTIONS = ["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added",
                       "zen:event-type:messaging_ticket.message_added",
                       # what became of it: the outcomes read on these (solved/closed, assigned)
                       "zen:event-type:ticket.status_changed", "zen:event-type:ticket.agent_assignment_changed"]
TRIGGER_BODY = (
    '{"baton_event": "ticket_updated", "ticket_id": "{{ticket.id}}", '
    '"updated_at": "{{ticket.updated_at_with_timestamp}}", "actor_id": "{{current_user.id}}"}'
)


def install(client: ZendeskClient, endpoint: str, mode: str = "events") -> dict[str, Any]:
    """Create Baton's webhook (``mode="events"``: subscribed to ticket events; ``"trigger"``: called
    by a trigger with the body template above) and return the settings to store, including the
    signing secret Zendesk generated."""
    me = client.http.request("GET", "/api/v2/users/me.json")["user"]
    subscriptions = EVENT_SUBSCRIPTIONS if mode == "events" else ["conditional_ticket_events"]
    hook = client.http.request("POST", "/api/v2/webhooks", json={"webhook": {
        "name": "Baton handoff", "status": "active", "endpoint": endpoint, "http_method": "POST",
        "request_format": "json", "subscriptions": subscriptions,
    }})["webhook"]
    settings: dict[str, Any] = {"api_user_id": str(me["id"]), "webhook_id": hook["id"], "mode": mode}
    if mode == "trigger":
        trigger = client.http.request("POST", "/api/v2/triggers.json", json={"trigger": {
            "title": "Baton: send conversation updates",
            "active": True,
            "conditions": {
                "all": [
                    {"field": "comment_is_public", "operator": "is", "value": True},
                    # our own updates never call the webhook: no echo at the source
                    {"field": "current_user", "operator": "is_not", "value": str(me["id"])},
                    {"field": "status", "operator": "less_than", "value": "solved"},
                ],
                "any": [
                    {"field": "update_type", "operator": "is", "value": "Create"},
                    {"field": "update_type", "operator": "is", "value": "Change"},
                ],
            },
            "actions": [{"field": "notification_webhook", "value": [hook["id"], TRIGGER_BODY]}],
        }})["trigger"]
        settings["trigger_id"] = str(trigger["id"])
    secret = client.http.request("GET", f"/api/v2/webhooks/{seg(hook['id'])}/signing_secret")["signing_secret"]["secret"]
    return {"settings": settings, "webhook_secret": secret}
