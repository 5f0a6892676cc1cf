"""The Conversations API (Sunshine Conversations) half of the Zendesk sandbox: messaging
conversations, the switchboard and AI agent tickets, as ``zendesk/sunshine-conversations-api-spec``
``openapi.yaml`` describes them (the parts Baton uses: ``fixtures/api/sunco_openapi.json``).

- ``/sc/v2/apps/{appId}/…`` with Basic auth (an app key, made by ``create_key`` as an admin makes
  one in Admin Center); errors as ``{"errors": [{"code", "title"}]}``.
- The switchboard: Zendesk's AI agent (``zd:answerBot``, the default responder) and the Agent
  Workspace (``zd:agentWorkspace``); integrations are active, pending or standby per conversation;
  ``passControl``, ``offerControl``, ``acceptControl``, ``releaseControl``; metadata flat and at most
  4 KB, else 400.
- Webhooks of custom integrations: batched (``{app, webhook, events}``), ``X-API-Key`` with the
  webhook's secret, tried five times over 15 minutes with a 20 s timeout, 400/401/403/404/406 not
  retried. A switchboard member on standby gets events only with ``deliverStandbyEvents``.
- List Messages: 100 a page (fixed), backwards from the latest, ``page[before]``/``page[after]``,
  ``meta.hasMore``/``beforeCursor``/``afterCursor``, ``links.prev``/``next``.
- AI agent tickets: a bot-held conversation's Support ticket refuses every update
  (``ai_ticket_refusal``: 403, 422, or None for "accepted and silently dropped": Zendesk's real
  answer is not documented) and records it in ``ai_ticket_writes``; passing control to the Agent
  Workspace makes it a regular ticket (status new) carrying the captured fields (group, assignee,
  priority, tags).
"""
from __future__ import annotations

import copy
import hmac
import html
import json
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, request

from connectors.sandbox import JSON, ApiError

AGENT_WORKSPACE, ANSWER_BOT = "zd:agentWorkspace", "zd:answerBot"
METADATA_LIMIT = 4096  # bytes
PAGE = 100  # List Messages' fixed page size
SUNCO_NOT_RETRIED = frozenset({400, 401, 403, 404, 406})  # "non-recoverable": never tried again
SUNCO_TRIES = 5  # "up to 5 times over a 15 minute window"
SUNCO_TIMEOUT = 20.0  # "If no response is received within 20 seconds … reattempted"
SUNCO_RETRY_DELAYS = (60.0, 120.0, 240.0, 480.0)  # exponentially increasing, 15 minutes in all
FORBIDDEN_AI_TICKET = {"error": "Forbidden", "description": "AI agent tickets are read-only until the conversation "
                                                           "is escalated to an agent"}
AI_TICKET_INVALID = {"error": "RecordInvalid", "description": "Record validation errors",
                     "details": {"base": [{"description": "AI agent tickets can't be updated", "error": "InvalidValue"}]}}


def sc_error(status: int, code: str, title: str) -> ApiError:
    return ApiError(status, {"errors": [{"code": code, "title": title}]})


class ConversationsEmulator:
    """Mixed into ZendeskSandbox, which supplies the lock, ids, tickets, users and webhook queue."""

    _lock: Any
    _ids: dict[str, Any]
    _tickets: dict[int, JSON]
    _users: dict[int, JSON]
    _groups: dict[int, JSON]

    def _init_conversations(self, retry_delays: tuple[float, ...]) -> None:
        self.sc_app_id = self._hex()
        self.sunco_retry_delays = retry_delays
        self.ai_ticket_refusal: int | None = 403
        # False: passing control to the agents leaves the ticket read-only until finish_conversion()
        # (Zendesk converts it after the switchboard moves; how long that takes is not documented)
        self.convert_at_once = True
        self._converting: dict[str, JSON] = {}  # conversation → the metadata its conversion will apply
        self.ai_ticket_writes: list[JSON] = []  # every update an AI agent ticket refused (or dropped)
        self._sc_keys: dict[str, str] = {}
        self._sc_integrations: dict[str, JSON] = {}
        self._sc_hooks: dict[str, tuple[str, JSON]] = {}  # webhook id → (integration id, webhook)
        self._sc_users: dict[str, JSON] = {}
        self._sc_conversations: dict[str, JSON] = {}
        self._ai_tickets: set[int] = set()
        board = self._hex()
        bot, agents = self._hex(), self._hex()
        self._sc_members: dict[str, JSON] = {
            bot: {"id": bot, "name": "zd-answerBot", "integrationId": self._hex(), "integrationType": ANSWER_BOT,
                  "deliverStandbyEvents": False, "nextSwitchboardIntegrationId": agents},
            agents: {"id": agents, "name": "zd-agentWorkspace", "integrationId": self._hex(),
                     "integrationType": AGENT_WORKSPACE, "deliverStandbyEvents": False,
                     "nextSwitchboardIntegrationId": None}}
        self._sc_board = {"id": board, "enabled": True, "defaultSwitchboardIntegrationId": bot}

    def _hex(self) -> str:
        return f"{next(self._ids['sunco']):024x}"

    # -- what admins, customers, the bot and agents do -------------------------------------------
    def create_key(self) -> JSON:
        """An admin creates a Conversations API key (Admin Center > Apps and integrations > APIs >
        Conversations API): app scope, Basic auth."""
        with self._lock:
            key = {"id": f"app_{self._hex()}", "secret": self._hex() + self._hex()}
            self._sc_keys[key["id"]] = key["secret"]
            return {"app_id": self.sc_app_id, **key}

    def start_conversation(self, requester_id: int, text: str, subject: str) -> str:
        """A customer opens the Web Widget and writes; Zendesk's AI agent (the switchboard's default)
        holds the conversation, and its AI agent ticket is created. Returns the conversation id."""
        with self._lock:
            requester = self._users[requester_id]
            uid = self._hex()
            self._sc_users[uid] = {"id": uid, "externalId": None, "zendeskId": str(requester_id), "signedUpAt": self._sc_time(),
                                   "profile": {"givenName": requester["name"], "email": requester["email"],
                                               "locale": "en"}, "metadata": {}, "identities": []}
            ticket = self._new_ticket(requester_id, requester_id, subject, text, None, None, (), "open",
                                      "native_messaging", None)
            self._ai_tickets.add(ticket["id"])
            cid = self._hex()
            conv = {"id": cid, "type": "personal", "metadata": {}, "active": self._sc_board["defaultSwitchboardIntegrationId"],
                    "pending": None, "user": uid, "ticket_id": ticket["id"], "messages": [],
                    "createdAt": self._sc_time()}
            self._sc_conversations[cid] = conv
            created = self._sc_event("conversation:create", conv, {"creationReason": "message",
                                                                   "user": {"id": uid, "authenticated": False}})
            message = self._sc_message(conv, {"type": "user", "userId": uid, "displayName": requester["name"]}, text)
            self._sc_emit(conv, [created, self._sc_event("conversation:message", conv, {"message": message})])
            return cid

    def say_in_conversation(self, cid: str, role: str, text: str, name: str = "") -> JSON:
        """The customer, the AI agent or (once it holds the conversation) a human agent writes. A
        customer writing after the ticket was closed starts a new session: the default responder
        (the AI agent) takes control and a new AI agent ticket is opened (Zendesk threads messages
        into the conversation's one ticket that is not closed, else creates one)."""
        with self._lock:
            conv = self._sc_find(cid)
            if role == "customer" and self._tickets[conv["ticket_id"]]["status"] == "closed":
                conv["active"] = self._sc_board["defaultSwitchboardIntegrationId"]
                requester = int(self._sc_users[conv["user"]]["zendeskId"])
                ticket = self._new_ticket(requester, requester, self._tickets[conv["ticket_id"]]["subject"], text, None,
                                          None, (), "open", "native_messaging", None)
                self._ai_tickets.add(ticket["id"])
                conv["ticket_id"] = ticket["id"]
            author = {"customer": {"type": "user", "userId": conv["user"],
                                   "displayName": self._sc_users[conv["user"]]["profile"]["givenName"]},
                      "bot": {"type": "business", "subtypes": ["AI"], "displayName": name or "Answer Bot"},
                      "agent": {"type": "business", "subtypes": ["agent"], "displayName": name or "Agent"}}[role]
            message = self._sc_message(conv, author, text)
            self._sc_emit(conv, [self._sc_event("conversation:message", conv, {"message": message})])
            return copy.deepcopy(message)

    def finish_conversion(self, cid: str) -> None:
        """Zendesk finishes turning the conversation's AI agent ticket into a regular ticket."""
        with self._lock:
            conv = self._sc_find(cid)
            self._escalate_ticket(conv, self._converting.pop(cid, {}))

    def conversation(self, cid: str) -> JSON:
        """The conversation as the API shows it, plus its ``ticket_id`` and ``messages``."""
        with self._lock:
            conv = self._sc_find(cid)
            return {**self._sc_conversation_json(conv), "ticket_id": conv["ticket_id"],
                    "messages": copy.deepcopy(conv["messages"])}

    def control(self, cid: str) -> str | None:
        """The integration type holding the conversation (None: nobody)."""
        with self._lock:
            active = self._sc_find(cid)["active"]
            return self._sc_members[active]["integrationType"] if active else None

    def is_ai_agent_ticket(self, ticket_id: int) -> bool:
        with self._lock:
            return ticket_id in self._ai_tickets

    def sunco_webhooks(self) -> list[JSON]:
        with self._lock:
            return [copy.deepcopy(hook) for _, hook in self._sc_hooks.values()]

    def switchboard_members(self) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(list(self._sc_members.values()))

    # -- the model -------------------------------------------------------------------------------
    def _sc_time(self) -> str:
        moment = self.clock()  # type: ignore[attr-defined]
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def _sc_find(self, cid: str) -> JSON:
        if cid not in self._sc_conversations:
            raise sc_error(404, "conversation_not_found", "Conversation not found")
        return self._sc_conversations[cid]

    def _sc_member_json(self, member_id: str | None) -> JSON | None:
        if member_id is None:
            return None
        m = self._sc_members[member_id]
        return {key: m[key] for key in ("id", "name", "integrationId", "integrationType")}

    def _sc_conversation_json(self, conv: JSON) -> JSON:
        out = {"id": conv["id"], "type": conv["type"], "metadata": dict(conv["metadata"]), "isDefault": True,
               "createdAt": conv["createdAt"],
               "lastUpdatedAt": conv["messages"][-1]["received"] if conv["messages"] else conv["createdAt"]}
        for key, member in (("activeSwitchboardIntegration", conv["active"]),
                            ("pendingSwitchboardIntegration", conv["pending"])):
            if member is not None:  # "omitted if no activeSwitchboardIntegration exists"
                out[key] = self._sc_member_json(member)
        return out

    def _sc_message(self, conv: JSON, author: JSON, text: str, metadata: Mapping[str, Any] | None = None,
                    source: str = "web") -> JSON:
        message = {"id": self._hex(), "received": self._sc_time(), "author": author,
                   "content": {"type": "text", "text": text}, "source": {"type": source}}
        if metadata:
            message["metadata"] = dict(metadata)
        conv["messages"].append(message)
        return message

    def _sc_event(self, kind: str, conv: JSON, payload: JSON) -> JSON:
        return {"id": self._hex(), "createdAt": self._sc_time(), "type": kind,
                "payload": {"conversation": self._sc_conversation_json(conv), **copy.deepcopy(payload)}}

    def _sc_member(self, ref: Any, conv: JSON) -> str:
        """A switchboard integration by id, name or integrationType, in that order, or ``next``."""
        if not isinstance(ref, str) or not ref:
            raise sc_error(400, "bad_request", "switchboardIntegration is required")
        if ref == "next":
            following = self._sc_members[conv["active"]]["nextSwitchboardIntegrationId"] if conv["active"] else None
            if following is None:
                raise sc_error(400, "switchboard_invalid_target", "Switchboard invalid target")
            return str(following)
        for key in ("id", "name", "integrationType"):
            found = [m["id"] for m in self._sc_members.values() if m[key] == ref]
            if len(found) > 1:
                raise sc_error(400, "bad_request", f"More than one switchboard integration matches {ref}")
            if found:
                return found[0]
        raise sc_error(400, "switchboard_invalid_target", "Switchboard invalid target")

    @staticmethod
    def _sc_metadata(body: JSON) -> JSON:
        """Flat (strings, numbers, booleans) and at most 4 KB, as every switchboard action's body says."""
        metadata = body.get("metadata", {})
        if metadata is None:
            return {}
        if not isinstance(metadata, dict) or any(isinstance(v, (dict, list)) or v is None for v in metadata.values()):
            raise sc_error(400, "bad_request", "metadata must be a flat object of strings, numbers and booleans")
        if len(json.dumps(metadata).encode()) > METADATA_LIMIT:
            raise sc_error(400, "bad_request", "metadata exceeds the maximum size of 4KB")
        return metadata

    def _sc_switch(self, conv: JSON, kind: str, target: str | None, metadata: JSON, reason: str | None = None) -> None:
        """Move control: ``target`` active (None: released), every other member standby."""
        conv["active"], conv["pending"] = target, None
        payload: JSON = {"metadata": metadata}
        if reason:
            payload["reason"] = reason
        if target is not None and self._sc_members[target]["integrationType"] == AGENT_WORKSPACE:
            if self.convert_at_once:
                self._escalate_ticket(conv, metadata)
            else:
                self._converting[conv["id"]] = metadata
        self._sc_emit(conv, [self._sc_event(kind, conv, payload)])

    def _escalate_ticket(self, conv: JSON, metadata: JSON) -> None:
        """The AI agent ticket becomes a regular ticket, status new, with the captured fields."""
        ticket_id = conv["ticket_id"]
        if ticket_id not in self._ai_tickets:
            return
        self._ai_tickets.discard(ticket_id)
        old = self._tickets[ticket_id]
        new = copy.deepcopy(old)
        new["status"] = "new"
        field = "dataCapture.systemField."
        group, agent = metadata.get(field + "group_id"), metadata.get(field + "assignee_id")
        if str(group).isdigit() and int(group) in self._groups:
            new["group_id"] = int(group)
        if str(agent).isdigit() and self._users.get(int(agent), {}).get("role") in ("agent", "admin"):
            new["assignee_id"] = int(agent)
        if metadata.get(field + "priority") in ("low", "normal", "high", "urgent"):
            new["priority"] = metadata[field + "priority"]
        if isinstance(metadata.get(field + "tags"), str):
            added = [t.strip() for t in metadata[field + "tags"].split(",") if t.strip()]
            new["tags"] = list(dict.fromkeys([*new["tags"], *added]))
        self._commit(old, new, None, -1, None)  # type: ignore[attr-defined]  # -1: Zendesk itself

    def _ticket_closed(self, ticket_id: int) -> None:
        """A messaging ticket was closed: the switchboard releases the conversation (reason
        ``ticketClosed``); the customer's next message goes to the default responder."""
        conv = next((c for c in self._sc_conversations.values() if c["ticket_id"] == ticket_id), None)
        if conv is not None:
            # the persisted notice of the close (spec: message.activity, "when a user's Ticket gets closed")
            notice = self._sc_message(conv, {"type": "business", "subtypes": ["activity"]}, "Ticket closed")
            notice["activity"] = {"type": "ticket:closed", "data": {}}
            self._sc_switch(conv, "switchboard:releaseControl", None, {}, reason="ticketClosed")

    def _refuse_ai_ticket_write(self, ticket: JSON, data: JSON) -> tuple[JSON, JSON]:
        """An update of an AI agent ticket: recorded, then refused (or, with ``ai_ticket_refusal``
        None, answered as if accepted and dropped)."""
        conv = next((c for c in self._sc_conversations.values() if c["ticket_id"] == ticket["id"]), None)
        active = self._sc_members[conv["active"]]["integrationType"] if conv and conv["active"] else None
        self.ai_ticket_writes.append({"ticket_id": ticket["id"], "control": active, "json": copy.deepcopy(data),
                                      "at": time.monotonic()})
        if self.ai_ticket_refusal == 403:
            raise ApiError(403, FORBIDDEN_AI_TICKET)
        if self.ai_ticket_refusal is not None:
            raise ApiError(self.ai_ticket_refusal, AI_TICKET_INVALID)
        return ticket, {"id": next(self._ids["audit"]), "ticket_id": ticket["id"], "created_at": ticket["updated_at"],
                        "author_id": -1, "events": []}

    # -- the agent's view (``/agent/tickets``) ------------------------------------------------------
    def _sc_ticket_html(self, ticket_id: int) -> str:
        """For the messaging ticket of a conversation, what Zendesk's Agent Workspace shows beside
        it: who holds the conversation on the switchboard, whether the ticket is still a read-only
        AI agent ticket, and the conversation's messages (a messaging transcript lives in the
        conversation, not in the ticket's comments). Empty for other tickets. Called under the lock."""
        conv = next((c for c in self._sc_conversations.values() if c["ticket_id"] == ticket_id), None)
        if conv is None:
            return ""
        holder = self._sc_members[conv["active"]]["integrationType"] if conv["active"] else None
        held = {ANSWER_BOT: "Zendesk's AI agent", AGENT_WORKSPACE: "the agents (Agent Workspace)"}.get(
            holder or "", holder or "nobody")
        kind = ("AI agent ticket: read-only while the AI agent holds the conversation" if ticket_id in self._ai_tickets
                else "a regular ticket")
        rows = []
        for m in conv["messages"]:
            author, subtypes = m["author"], m["author"].get("subtypes") or []
            if (m.get("metadata") or {}).get("baton_key"):
                who = "Baton (as the business)"
            elif author["type"] == "user":
                who = self._sc_users[conv["user"]]["profile"]["givenName"]
            elif "activity" in subtypes:
                who = "Zendesk"
            else:
                who = f"{author.get('displayName') or 'Business'} ({'AI agent' if 'AI' in subtypes else 'agent'})"
            rows.append(f"<li><b>{html.escape(who)}</b> <small>{m['received']}</small>"
                        f"<div style='white-space:pre-wrap'>{html.escape(m['content'].get('text') or '')}</div></li>")
        return (f"<section class='messaging' style='border:1px solid #9cc;padding:8px;margin:8px 0'>"
                f"<p>Messaging conversation <code>{conv['id']}</code> · held by <b>{html.escape(held)}</b> · "
                f"this ticket is {kind}</p><ol>{''.join(rows)}</ol></section>")

    # -- webhooks --------------------------------------------------------------------------------
    def _sc_listens(self, integration_id: str, conv: JSON) -> bool:
        """An integration on the switchboard gets a conversation's events while it is active or
        pending, or on standby with ``deliverStandbyEvents``; one not on it gets them all."""
        member = next((m for m in self._sc_members.values() if m["integrationId"] == integration_id), None)
        if member is None or not self._sc_board["enabled"]:
            return True
        return member["id"] in (conv["active"], conv["pending"]) or bool(member["deliverStandbyEvents"])

    def _sc_emit(self, conv: JSON, events: list[JSON]) -> None:
        """One batched delivery per webhook with the events it subscribed to."""
        for hook_id, (integration_id, hook) in self._sc_hooks.items():
            wanted = [e for e in events if e["type"] in hook["triggers"]]
            if wanted and self._sc_listens(integration_id, conv):
                body = json.dumps({"app": {"id": self.sc_app_id}, "webhook": {"id": hook_id, "version": "v2"},
                                   "events": wanted}).encode()
                self._enqueue_sunco(hook_id, body, wanted[0]["id"])

    def _enqueue_sunco(self, hook_id: str, body: bytes, event_id: str) -> None:
        raise NotImplementedError  # ZendeskSandbox queues it with its own job type

    def _sc_hook_secret(self, hook_id: str) -> str | None:
        with self._lock:
            found = self._sc_hooks.get(hook_id)
            return found[1]["secret"] if found else None

    def _sc_target(self, hook_id: str) -> str | None:
        with self._lock:
            found = self._sc_hooks.get(hook_id)
            return found[1]["target"] if found else None

    # -- HTTP ------------------------------------------------------------------------------------
    def _sc_authenticated(self) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            return False
        with self._lock:
            secret = self._sc_keys.get(auth.username)
        return secret is not None and hmac.compare_digest((auth.password or "").encode(), secret.encode())

    def _sc_body(self) -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise sc_error(400, "bad_request", "Invalid JSON body")
        return data

    def _add_conversations_routes(self, app: Flask) -> None:
        prefix = "/sc/v2/apps/<app_id>"

        def app_of(app_id: str) -> None:
            if app_id != self.sc_app_id:
                raise sc_error(404, "app_not_found", "App not found")

        @app.get(f"{prefix}/conversations/<cid>")
        def sc_conversation(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            with self._lock:
                return {"conversation": self._sc_conversation_json(self._sc_find(cid))}

        @app.get(f"{prefix}/conversations/<cid>/messages")
        def sc_messages(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            before, after = request.args.get("page[before]"), request.args.get("page[after]")
            if before and after:
                raise sc_error(400, "bad_request", "Only one of page[before] or page[after] may be provided")
            with self._lock:
                rows = self._sc_find(cid)["messages"]
                ids = [m["id"] for m in rows]
                for cursor in (before, after):
                    if cursor is not None and cursor not in ids:
                        raise sc_error(400, "bad_request", "Invalid cursor")
                if after is not None:
                    start = ids.index(after) + 1
                    page, more = rows[start:start + PAGE], start + PAGE < len(rows)
                else:
                    end = ids.index(before) if before is not None else len(rows)
                    page, more = rows[max(0, end - PAGE):end], end - PAGE > 0
                page = copy.deepcopy(page)
            meta: JSON = {"hasMore": more}
            links: JSON = {}
            base = f"{request.host_url}sc/v2/apps/{app_id}/conversations/{cid}/messages"
            if page and (after is not None and more):
                meta["afterCursor"] = page[-1]["id"]
                links["next"] = f"{base}?page[after]={page[-1]['id']}"
            if page and after is None and more:
                meta["beforeCursor"] = page[0]["id"]
                links["prev"] = f"{base}?page[before]={page[0]['id']}"
            return {"messages": page, "meta": meta, "links": links}

        @app.post(f"{prefix}/conversations/<cid>/messages")
        def sc_post_message(app_id: str, cid: str) -> tuple[JSON, int]:
            app_of(app_id)
            body = self._sc_body()
            author, content = body.get("author"), body.get("content")
            if not isinstance(author, dict) or author.get("type") not in ("business", "user"):
                raise sc_error(400, "bad_request", "author.type must be business or user")
            if not isinstance(content, dict) or content.get("type") != "text" or not isinstance(content.get("text"), str):
                raise sc_error(400, "bad_request", "the sandbox takes text messages only")
            if len(content["text"]) > 4096:
                raise sc_error(400, "bad_request", "text exceeds 4096 characters")
            metadata = self._sc_metadata(body)
            with self._lock:
                conv = self._sc_find(cid)
                message = self._sc_message(conv, dict(author), content["text"], metadata, source="api:conversations")
                self._sc_emit(conv, [self._sc_event("conversation:message", conv, {"message": message})])
                return {"messages": [copy.deepcopy(message)]}, 201

        @app.post(f"{prefix}/conversations/<cid>/passControl")
        def sc_pass_control(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            body = self._sc_body()
            metadata = self._sc_metadata(body)
            with self._lock:
                conv = self._sc_find(cid)
                self._sc_switch(conv, "switchboard:passControl", self._sc_member(body.get("switchboardIntegration"), conv),
                                metadata)
            return {}

        @app.post(f"{prefix}/conversations/<cid>/offerControl")
        def sc_offer_control(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            body = self._sc_body()
            metadata = self._sc_metadata(body)
            with self._lock:
                conv = self._sc_find(cid)
                target = self._sc_member(body.get("switchboardIntegration"), conv)
                if target == conv["active"]:
                    raise sc_error(400, "switchboard_invalid_target", "Cannot offer control to the active integration")
                conv["pending"] = target  # invalidates any earlier offer
                self._sc_emit(conv, [self._sc_event("switchboard:offerControl", conv, {"metadata": metadata})])
            return {}

        @app.post(f"{prefix}/conversations/<cid>/acceptControl")
        def sc_accept_control(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            metadata = self._sc_metadata(request.get_json(silent=True) or {})
            with self._lock:
                conv = self._sc_find(cid)
                if conv["pending"] is None:
                    raise sc_error(400, "switchboard_invalid_target", "No pending switchboard integration")
                self._sc_switch(conv, "switchboard:acceptControl", conv["pending"], metadata)
            return {}

        @app.post(f"{prefix}/conversations/<cid>/releaseControl")
        def sc_release_control(app_id: str, cid: str) -> JSON:
            app_of(app_id)
            metadata = self._sc_metadata(request.get_json(silent=True) or {})  # the body is optional
            with self._lock:
                self._sc_switch(self._sc_find(cid), "switchboard:releaseControl", None, metadata)
            return {}

        @app.get(f"{prefix}/users/<uid>")
        def sc_user(app_id: str, uid: str) -> JSON:
            app_of(app_id)
            with self._lock:
                if uid not in self._sc_users:
                    raise sc_error(404, "user_not_found", "User not found")
                return {"user": copy.deepcopy(self._sc_users[uid])}

        @app.post(f"{prefix}/integrations")
        def sc_create_integration(app_id: str) -> tuple[JSON, int]:
            app_of(app_id)
            body = self._sc_body()
            hooks = body.get("webhooks")
            if body.get("type") != "custom":
                raise sc_error(400, "bad_request", "the sandbox creates custom integrations only")
            if not isinstance(hooks, list) or len(hooks) != 1 or not isinstance(hooks[0], dict):
                raise sc_error(400, "bad_request", "a custom integration has exactly one webhook")
            target, triggers = hooks[0].get("target"), hooks[0].get("triggers")
            if not isinstance(target, str) or not target.startswith(("http://", "https://")):
                raise sc_error(400, "bad_request", "webhook target must be a URL")
            if not isinstance(triggers, list) or not triggers or not all(isinstance(t, str) for t in triggers):
                raise sc_error(400, "bad_request", "webhook triggers must be a list of triggers")
            with self._lock:
                if len(self._sc_hooks) >= 10:
                    raise sc_error(400, "bad_request", "An app is limited to 10 webhooks")
                iid, hid = self._hex(), self._hex()
                hook = {"id": hid, "version": "v2", "target": target, "triggers": list(triggers),
                        "secret": self._hex()[:16] + self._hex()[:16],
                        "includeFullUser": bool(hooks[0].get("includeFullUser", False)),
                        "includeFullSource": bool(hooks[0].get("includeFullSource", False))}
                integration = {"id": iid, "type": "custom", "status": "active",
                               "displayName": body.get("displayName"), "webhooks": [hook]}
                self._sc_integrations[iid], self._sc_hooks[hid] = integration, (iid, hook)
                return {"integration": copy.deepcopy(integration)}, 201

        @app.get(f"{prefix}/integrations/<iid>/webhooks/<hid>")
        def sc_webhook(app_id: str, iid: str, hid: str) -> JSON:
            app_of(app_id)
            with self._lock:
                found = self._sc_hooks.get(hid)
                if found is None or found[0] != iid:
                    raise sc_error(404, "webhook_not_found", "Webhook not found")
                return {"webhook": copy.deepcopy(found[1])}

        @app.get(f"{prefix}/switchboards")
        def sc_switchboards(app_id: str) -> JSON:
            app_of(app_id)
            with self._lock:
                return {"switchboards": [dict(self._sc_board)]}

        @app.get(f"{prefix}/switchboards/<sid>/switchboardIntegrations")
        def sc_members(app_id: str, sid: str) -> JSON:
            app_of(app_id)
            with self._lock:
                self._sc_board_of(sid)
                return {"switchboardIntegrations": copy.deepcopy(list(self._sc_members.values()))}

        @app.post(f"{prefix}/switchboards/<sid>/switchboardIntegrations")
        def sc_add_member(app_id: str, sid: str) -> tuple[JSON, int]:
            app_of(app_id)
            body = self._sc_body()
            name, integration = body.get("name"), body.get("integrationId")
            if not isinstance(name, str) or not name or len(name) > 128 or not name.replace("-", "").replace("_", "").isalnum():
                raise sc_error(400, "bad_request", "name is required: alphanumeric characters, - and _")
            with self._lock:
                self._sc_board_of(sid)
                if len(self._sc_members) >= 10:
                    raise sc_error(400, "too_many_switchboard_integrations",
                                   "Switchboard has reached the max number of switchboard integrations (10)")
                if any(m["name"] == name for m in self._sc_members.values()):
                    raise sc_error(409, "conflict", f"A switchboard integration named {name} already exists")
                if integration not in self._sc_integrations:
                    raise sc_error(400, "bad_request", "integrationId is not an integration of this app")
                member = {"id": self._hex(), "name": name, "integrationId": integration, "integrationType": "custom",
                          "deliverStandbyEvents": bool(body.get("deliverStandbyEvents", True)),
                          "nextSwitchboardIntegrationId": body.get("nextSwitchboardIntegrationId"),
                          "messageHistoryCount": body.get("messageHistoryCount")}
                self._sc_members[member["id"]] = member
                return {"switchboardIntegration": copy.deepcopy(member)}, 201

    def _sc_board_of(self, sid: str) -> None:
        if sid != self._sc_board["id"]:
            raise sc_error(404, "switchboard_not_found", "Switchboard not found")
