"""A local emulator ("sandbox") of the Freshdesk Messaging (Freshchat) API v2 subset Baton uses.

Paths and shapes follow https://developers.freshchat.com/api/ as the public clients use it (Botpress'
``integrations/freshchat``, Pipedream's ``components/freshchat``): ``/v2/accounts/configuration``,
agents, groups, users and a user's conversations, conversations (``GET``/``PUT``) and their messages
(``GET`` newest first, paged with ``page``/``items_per_page`` and a ``link`` to the next page;
``POST`` a ``normal`` or ``private`` message). Calls need ``Authorization: Bearer <token>``. What
Freshchat refuses, this refuses with a 400: a field it does not take, a status outside
new/assigned/resolved/reopened, an agent or group that does not exist, a priority outside
Low/Medium/High/Urgent, a conversation property the account never defined, a message without text
parts or by an agent who does not exist. A 429 carries ``Retry-After``. Error bodies and the
rate-limit headers (``X-RateLimit-Limit``/``-Remaining``) are [U]: Freshchat publishes neither.

Webhooks go out as Freshchat sends them (https://crmsupport.freshworks.com/support/solutions/articles/50000004461):
one URL per account, the four actions ``message_create``, ``conversation_assignment``,
``conversation_resolution`` and ``conversation_reopen``, signed in ``X-Freshchat-Signature`` with an
RSA key pair this sandbox holds (the private key never leaves it; ``public_key`` is what the admin
copies), with ``X-Retry-Count`` and ``X-Freshchat-Payload-Version``. Every message is delivered,
Baton's own and private ones included (they come back as echoes). Changes made through the API are
attributed to the ``system`` actor [U]; those an agent makes in the UI (``update_as``) to that agent.

Test knobs as every sandbox: ``throttle``, ``fail``, ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries``, ``redeliver``. State lives in memory and every public method is thread-safe.
"""
from __future__ import annotations

import base64
import copy
import hmac
import html
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.freshchat import webhook
from connectors.freshchat.client import TAGS_PROPERTY
from connectors.sandbox import (JSON, ApiError, AppSetup, Driver, Outgoing, Person, Refusal, Sandbox, Setup, TicketView,
                                sid, stars)

STATUSES = ("new", "assigned", "resolved", "reopened")
PRIORITIES = ("Low", "Medium", "High", "Urgent")
UPDATE_FIELDS = {"status", "assigned_agent_id", "assigned_group_id", "properties", "channel_id"}
MESSAGE_FIELDS = {"message_parts", "message_type", "actor_type", "actor_id", "user_id", "reply_parts"}
ACTOR_TYPES = ("user", "agent", "bot")
PAYLOAD_VERSION = "1"
PER_PAGE, MAX_PER_PAGE = 10, 100  # [U] Freshchat's default and maximum page sizes


def error(status: int, code: str, message: str) -> ApiError:
    """A refusal; Freshchat's error body is not published [U]: ``{code, status, message}``."""
    return ApiError(status, {"code": status, "status": code, "message": message})


def invalid(message: str) -> ApiError:
    return error(400, "INVALID_VALUE", message)


# -- the signing keys ---------------------------------------------------------------------------
# RSA key generation takes a tenth of a second: one key pair per label and process, kept here so a
# test's driver can sign for the installation that holds the matching public key.
_PAIRS: dict[str, rsa.RSAPrivateKey] = {}
_PAIRS_LOCK = threading.Lock()


def key_pair(label: str = "sandbox") -> rsa.RSAPrivateKey:
    """The private key of the pair named ``label``, made on first use."""
    with _PAIRS_LOCK:
        if label not in _PAIRS:
            _PAIRS[label] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _PAIRS[label]


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """What Freshchat's webhook settings show the admin: the public key, as PEM."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def private_for(public: str) -> rsa.RSAPrivateKey | None:
    """The sandbox key whose public half is ``public`` (None: not one of ours)."""
    wanted = webhook.pem(public)
    with _PAIRS_LOCK:
        pairs = list(_PAIRS.values())
    return next((k for k in pairs if public_pem(k) == wanted), None)


def sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    """``X-Freshchat-Signature``: base64 of RSA-SHA256 (PKCS#1 v1.5) over the raw body."""
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def _now_text(moment: datetime) -> str:
    """Freshchat's times: ISO 8601 in UTC with milliseconds (``2022-11-22T10:55:23.126Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Job:
    url: str
    action: str
    body: bytes


class FreshchatSandbox(Sandbox[_Job]):
    vendor = "freshchat"
    id_bases = {"interaction": 681406910844650}
    api_prefix = "/v2/"
    rate_limit = 500  # [U] Freshchat publishes no limit; the sandbox announces this one
    retried_statuses = frozenset({429})
    retry_after_limit = None  # [U] whether Freshchat honours Retry-After: assumed not
    delivery_timeout = 10.0

    def __init__(self, token: str = "sandbox-token", domain: str = "sandbox.freshchat.com", *,
                 clock: Callable[[], datetime] | None = None, retry_delays: Sequence[float] = (1.0, 1.0, 1.0),
                 signing_key: rsa.RSAPrivateKey | None = None) -> None:
        super().__init__(clock=clock, retry_delays=retry_delays)
        self.token, self.domain = token, domain
        self.app_id = str(uuid.uuid4())
        self.channel_id = str(uuid.uuid4())
        self._key = signing_key or key_pair()
        self._webhook: str | None = None
        self._sent: dict[bytes, int] = {}  # delivery body → attempts so far
        self._agents: dict[str, JSON] = {}
        self._groups: dict[str, JSON] = {}
        self._users: dict[str, JSON] = {}
        self._bots: dict[str, JSON] = {}
        self._conversations: dict[str, JSON] = {}
        self._messages: dict[str, list[JSON]] = {}
        self._csat: dict[str, JSON] = {}
        self.properties = {"priority"}  # conversation properties the account defines (Admin > Conversation Properties)
        self.api_agent_id = self.add_agent("Baton", f"baton@{domain}")["id"]  # the agent Baton writes as
        self.app = self._build_app()

    @property
    def public_key(self) -> str:
        return public_pem(self._key)

    # -- what the admin sets up ------------------------------------------------------------------
    def set_webhook(self, url: str | None) -> None:
        """Admin > Webhooks: one URL for the account (None turns webhooks off)."""
        with self._lock:
            self._webhook = url

    def add_property(self, name: str) -> None:
        """A custom conversation property (``cf_<name>``), as an admin defines one."""
        if not name.startswith("cf_"):
            raise ValueError("custom conversation properties are named cf_…")
        with self._lock:
            self.properties.add(name)

    def add_agent(self, name: str, email: str, group_ids: Iterable[str] = (), available: bool = True) -> JSON:
        first, _, last = name.partition(" ")
        with self._lock:
            groups = [self._find(self._groups, g, "group")["id"] for g in group_ids]
            agent = {"id": str(uuid.uuid4()), "first_name": first, "last_name": last, "email": email,
                     "groups": groups, "availability_status": "AVAILABLE" if available else "UNAVAILABLE",
                     "is_deactivated": False, "locale": "en", "role_name": "Agent",
                     "created_time": _now_text(self.clock())}
            self._agents[agent["id"]] = agent
            return copy.deepcopy(agent)

    def add_group(self, name: str) -> JSON:
        with self._lock:
            group = {"id": str(uuid.uuid4()), "name": name, "description": "", "routing_type": "DISABLED"}
            self._groups[group["id"]] = group
            return copy.deepcopy(group)

    def add_bot(self, name: str) -> JSON:
        """A bot (Freddy or a third-party bot): it writes as ``actor_type: "bot"``."""
        with self._lock:
            bot = {"id": str(uuid.uuid4()), "name": name}
            self._bots[bot["id"]] = bot
            return copy.deepcopy(bot)

    def add_user(self, name: str, email: str, properties: dict[str, Any] | None = None) -> JSON:
        """A customer; ``properties`` as Freshchat keeps them: a list of ``{name, value}``."""
        first, _, last = name.partition(" ")
        now = _now_text(self.clock())
        with self._lock:
            user = {"id": str(uuid.uuid4()), "first_name": first, "last_name": last, "email": email, "phone": None,
                    "avatar": {"url": ""}, "properties": [{"name": k, "value": v} for k, v in (properties or {}).items()],
                    "created_time": now, "updated_time": now, "login_status": False}
            self._users[user["id"]] = user
            return copy.deepcopy(user)

    # -- what customers, bots and agents do --------------------------------------------------------
    def start_conversation(self, user_id: str, text: str) -> JSON:
        """The customer writes in (web widget): a new conversation with their first message."""
        with self._lock:
            self._find(self._users, user_id, "user")
            now = _now_text(self.clock())
            internal = next(self._ids["interaction"])
            conv = {"conversation_id": str(uuid.uuid4()), "conversation_internal_id": internal, "app_id": self.app_id,
                    "status": "new", "channel_id": self.channel_id, "skill_id": 0, "properties": {"priority": "Low"},
                    "url": f"https://{self.domain}/a/{self.app_id}/open/conversation/{internal}",
                    "user_id": user_id, "users": [{"id": user_id}], "assigned_agent_id": None,
                    "assigned_group_id": None, "created_time": now, "updated_time": now}
            self._conversations[conv["conversation_id"]], self._messages[conv["conversation_id"]] = conv, []
            self._add_message(conv, "user", user_id, text, "normal")
            return copy.deepcopy(conv)

    def user_message(self, cid: str, text: str) -> JSON:
        with self._lock:
            conv = self._find(self._conversations, cid, "conversation")
            if conv["status"] == "resolved":  # the customer writing again reopens it
                self._change(conv, {"status": "reopened"}, "user", conv["user_id"])
            return self._add_message(conv, "user", conv["user_id"], text, "normal")

    def bot_message(self, cid: str, bot_id: str, text: str) -> JSON:
        with self._lock:
            self._find(self._bots, bot_id, "bot")
            return self._add_message(self._find(self._conversations, cid, "conversation"), "bot", bot_id, text, "normal")

    def agent_message(self, cid: str, agent_id: str, text: str, private: bool = False) -> JSON:
        with self._lock:
            self._find(self._agents, agent_id, "agent")
            return self._add_message(self._find(self._conversations, cid, "conversation"), "agent", agent_id, text,
                                     "private" if private else "normal")

    def update_as(self, cid: str, agent_id: str, changes: JSON) -> JSON:
        """An agent changes the conversation in Freshchat's inbox (assigns, resolves, reopens)."""
        with self._lock:
            self._find(self._agents, agent_id, "agent")
            conv = self._find(self._conversations, cid, "conversation")
            self._check_update(changes)
            return copy.deepcopy(self._change(conv, changes, "agent", agent_id))

    def add_csat(self, cid: str, rating: int, comment: str = "") -> JSON:
        """The customer answers the CSAT survey: kept, shown in Freshchat's reports; no webhook
        and no read API tell anyone [U]."""
        with self._lock:
            self._find(self._conversations, cid, "conversation")
            self._csat[cid] = {"rating": stars(rating), "feedback": comment, "created_time": _now_text(self.clock())}
            return copy.deepcopy(self._csat[cid])

    def get_conversation(self, cid: str) -> JSON:
        with self._lock:
            return copy.deepcopy(self._conversations[cid])

    def get_messages(self, cid: str) -> list[JSON]:
        """Oldest first (the API lists them newest first)."""
        with self._lock:
            return copy.deepcopy(self._messages[cid])

    # -- model -----------------------------------------------------------------------------------
    @staticmethod
    def _find(table: dict[str, Any], key: str, kind: str | None = None) -> Any:
        if key not in table:
            raise KeyError(f"unknown {kind} {key}") if kind else error(404, "NOT_FOUND", "Resource not found")
        return table[key]

    def _add_message(self, conv: JSON, actor_type: str, actor_id: str, text: str, kind: str,
                     parts: list[JSON] | None = None) -> JSON:
        now = self.clock()
        message = {"message_parts": parts or [{"text": {"content": text}}], "app_id": self.app_id,
                   "actor_id": actor_id, "id": str(uuid.uuid4()), "channel_id": conv["channel_id"],
                   "conversation_id": conv["conversation_id"],
                   "interaction_id": f"{conv['conversation_internal_id']}-{int(now.timestamp() * 1000)}",
                   "message_type": kind, "actor_type": actor_type, "created_time": _now_text(now),
                   "user_id": conv["user_id"], "restrictResponse": False, "botsPrivateNote": False}
        self._messages[conv["conversation_id"]].append(message)
        conv["updated_time"] = message["created_time"]
        self._fire("message_create", actor_type, actor_id, {"message": copy.deepcopy(message)})
        return copy.deepcopy(message)

    def _check_update(self, data: JSON) -> None:
        unknown = sorted(set(data) - UPDATE_FIELDS)
        if unknown:
            raise invalid(f"Unexpected fields in request: {', '.join(unknown)}")
        if "status" in data and data["status"] not in STATUSES:
            raise invalid(f"status must be one of {', '.join(STATUSES)}")
        for field_name, table in (("assigned_agent_id", self._agents), ("assigned_group_id", self._groups)):
            if data.get(field_name) is not None and (not isinstance(data[field_name], str) or data[field_name] not in table):
                raise invalid(f"{field_name} {str(data[field_name])[:60]} does not exist")
        props = data.get("properties")
        if props is not None:
            if not isinstance(props, dict):
                raise invalid("properties must be an object")
            undefined = sorted(k for k in props if k not in self.properties)
            if undefined:
                raise invalid(f"Unknown conversation properties: {', '.join(undefined)}")
            if "priority" in props and props["priority"] not in PRIORITIES:
                raise invalid(f"priority must be one of {', '.join(PRIORITIES)}")
            if any(not isinstance(v, (str, type(None))) for v in props.values()):
                raise invalid("property values must be text")

    def _change(self, conv: JSON, data: JSON, actor_type: str, actor_id: str | None) -> JSON:
        """Apply an update; fire the assignment, resolution and reopen webhooks it causes."""
        before = copy.deepcopy(conv)
        for key in ("status", "assigned_agent_id", "assigned_group_id"):
            if key in data:
                conv[key] = data[key]
        if "assigned_agent_id" in data and "assigned_group_id" not in data and data["assigned_agent_id"]:
            groups = self._agents[data["assigned_agent_id"]]["groups"]
            conv["assigned_group_id"] = conv["assigned_group_id"] if conv["assigned_group_id"] in groups else \
                (groups[0] if groups else conv["assigned_group_id"])
        conv["properties"] = {**conv["properties"], **(data.get("properties") or {})}
        conv["updated_time"] = _now_text(self.clock())
        if conv["status"] == "assigned" and before["status"] == "resolved":
            conv["status"] = "reopened"
        summary = {k: conv.get(k) for k in ("conversation_id", "app_id", "status", "channel_id", "skill_id")}
        summary |= {"sla_policy_id": 0, "sla_breached": False}
        summary |= {k: conv[k] for k in ("assigned_agent_id", "assigned_group_id") if conv.get(k)}
        interaction = f"{conv['conversation_internal_id']}-{int(self.clock().timestamp() * 1000)}"
        actor = actor_id or ""
        if (conv["assigned_agent_id"], conv["assigned_group_id"]) != (before["assigned_agent_id"], before["assigned_group_id"]):
            self._fire("conversation_assignment", actor_type, actor, {"assignment": {
                "assignor": actor_type, "assignor_id": actor, "to_agent_id": conv["assigned_agent_id"] or "",
                "to_group_id": conv["assigned_group_id"] or "", "from_agent_id": before["assigned_agent_id"] or "",
                "from_group_id": before["assigned_group_id"] or "", "conversation": summary,
                "interaction_id": interaction}})
        if conv["status"] != before["status"]:
            if conv["status"] == "resolved":
                self._fire("conversation_resolution", actor_type, actor, {"resolve": {
                    "resolver": actor_type, "resolver_id": actor, "conversation": summary, "interaction_id": interaction}})
            elif before["status"] == "resolved":
                self._fire("conversation_reopen", actor_type, actor, {"reopen": {
                    "reopener": actor_type, "reopener_id": actor, "conversation": summary, "interaction_id": interaction}})
        return conv

    # -- webhooks --------------------------------------------------------------------------------
    def _fire(self, action: str, actor_type: str, actor_id: str, data: JSON) -> None:
        if self._webhook is None:
            return
        payload = {"actor": {"actor_type": actor_type, "actor_id": actor_id}, "action": action,
                   "action_time": _now_text(self.clock()), "data": data}
        self._enqueue(_Job(self._webhook, action, _dumps(payload)))

    def signed_headers(self, body: bytes, attempt: int = 1) -> dict[str, str]:
        return {"Content-Type": "application/json", webhook.SIGNATURE_HEADER: sign(self._key, body),
                "X-Retry-Count": str(attempt - 1), "X-Freshchat-Payload-Version": PAYLOAD_VERSION}

    def _outgoing(self, job: _Job) -> Outgoing:
        with self._lock:  # X-Retry-Count: how often these bytes were sent before
            self._sent[job.body] = attempt = self._sent.get(job.body, 0) + 1
        return Outgoing("POST", job.url, self.signed_headers(job.body, attempt))

    def _delivery(self, job: _Job, headers: dict[str, str]) -> JSON:
        """The signature and X-Retry-Count each attempt carried (a retry: the same signature, a higher count)."""
        return {"action": job.action, "url": job.url, "signature": headers[webhook.SIGNATURE_HEADER],
                "retry_count": int(headers["X-Retry-Count"])}

    def _redelivery(self, old: JSON) -> _Job:
        """The same bytes, so the same signature: nothing per attempt is signed."""
        return _Job(old["url"], old["action"], old["body"])

    # -- HTTP ------------------------------------------------------------------------------------
    def _log_details(self) -> JSON:
        return {"query": request.args.to_dict()}

    def _authenticated(self) -> bool:
        auth = request.authorization
        return auth is not None and auth.type == "bearer" and hmac.compare_digest((auth.token or "").encode(),
                                                                                  self.token.encode())

    def _unauthorized(self) -> JSON:
        return {"code": 401, "status": "UNAUTHORIZED", "message": "Invalid token"}

    def _too_many_requests(self, retry_after: float) -> JSON:
        return {"code": 429, "status": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}

    def _rate_limit_headers(self, remaining: int) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(remaining)}

    def _refusal(self) -> Refusal | None:
        if request.method in ("POST", "PUT") and request.mimetype != "application/json":
            return {"code": 415, "status": "UNSUPPORTED_MEDIA_TYPE", "message": "Content-Type must be application/json"}, 415
        return None

    def _http_error(self, err: HTTPException) -> ResponseReturnValue:
        if not request.path.startswith(self.api_prefix):
            return err
        status = err.code or 500
        return {"code": status, "status": err.name.upper().replace(" ", "_"), "message": err.name}, status

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise invalid("Request body is not a JSON object")
        return data

    def _paged(self, key: str, rows: list[JSON], style: str = "links") -> Any:
        """``page``/``items_per_page``: agents, groups and user lists carry ``pagination`` and
        ``links.next_page``; messages a single ``link`` with ``rel: "next_page"`` [U]."""
        try:
            page, per_page = int(request.args.get("page", 1)), int(request.args.get("items_per_page", PER_PAGE))
        except ValueError:
            raise invalid("page and items_per_page must be numbers") from None
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid(f"items_per_page must be between 1 and {MAX_PER_PAGE}")
        start = (page - 1) * per_page
        body: JSON = {key: rows[start:start + per_page]}
        more = start + per_page < len(rows)
        following = f"{request.path}?{urlencode({'page': page + 1, 'items_per_page': per_page})}"
        if style == "link":
            if more:
                body["link"] = {"rel": "next_page", "href": following}
        else:
            total = max(1, -(-len(rows) // per_page))
            body["pagination"] = {"total_items": len(rows), "total_pages": total, "current_page": page,
                                  "items_per_page": per_page}
            body["links"] = {"next_page": {"href": following, "rel": key, "type": "GET"}} if more else {}
        return jsonify(body)

    def _add_routes(self, app: Flask) -> None:
        @app.get("/v2/accounts/configuration")
        def configuration() -> JSON:
            return {"app_id": self.app_id, "organisation_id": 1019183040122821, "domain": self.domain}

        @app.get("/v2/agents")
        def agents() -> Any:
            with self._lock:
                rows = copy.deepcopy(list(self._agents.values()))
            return self._paged("agents", rows)

        @app.get("/v2/agents/<key>")
        def agent(key: str) -> JSON:
            with self._lock:
                return copy.deepcopy(self._find(self._agents, key))

        @app.get("/v2/groups")
        def groups() -> Any:
            with self._lock:
                rows = copy.deepcopy(list(self._groups.values()))
            return self._paged("groups", rows)

        @app.get("/v2/users/<key>")
        def user(key: str) -> JSON:
            with self._lock:
                return copy.deepcopy(self._find(self._users, key))

        @app.get("/v2/users/<key>/conversations")
        def user_conversations(key: str) -> JSON:
            with self._lock:
                self._find(self._users, key)
                return {"conversations": [{"id": c["conversation_id"], "status": c["status"],
                                           "created_time": c["created_time"], "updated_time": c["updated_time"],
                                           "assigned_agent_id": c["assigned_agent_id"]}
                                          for c in self._conversations.values() if c["user_id"] == key]}

        @app.get("/v2/conversations/<key>")
        def conversation(key: str) -> JSON:
            with self._lock:
                return copy.deepcopy(self._find(self._conversations, key))

        @app.put("/v2/conversations/<key>")
        def update(key: str) -> JSON:
            data = self._body()
            with self._lock:
                conv = self._find(self._conversations, key)
                self._check_update(data)
                return copy.deepcopy(self._change(conv, data, "system", None))

        @app.get("/v2/conversations/<key>/messages")
        def messages(key: str) -> Any:
            with self._lock:
                rows = copy.deepcopy(self._find(self._messages, key))[::-1]  # newest first
            return self._paged("messages", rows, style="link")

        @app.post("/v2/conversations/<key>/messages")
        def post_message(key: str) -> tuple[JSON, int]:
            data = self._body()
            with self._lock:
                conv = self._find(self._conversations, key)
                parts = self._check_message(data, conv)
                return self._add_message(conv, data["actor_type"], data["actor_id"], "", data.get("message_type", "normal"),
                                         parts), 201

        # A read-only view of the inbox for people (the demo's --serve), at the path of the
        # conversation's ``url`` (``/a/<app id>/open/conversation/<internal id>``); no API, no auth.
        @app.get("/a/inbox")
        def inbox() -> Response:
            with self._lock:
                rows = "".join(
                    "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                        f"<a href='{html.escape(urlsplit(c['url']).path)}'>{c['conversation_internal_id']}</a>",
                        html.escape(self._person(self._users, c["user_id"])), c["status"],
                        html.escape(c["properties"].get("priority") or "-"),
                        html.escape(self._person(self._agents, c["assigned_agent_id"])),
                        html.escape(self._person(self._groups, c["assigned_group_id"])),
                        html.escape(c["properties"].get(TAGS_PROPERTY) or ""))) + "</tr>"
                    for c in reversed(list(self._conversations.values())))
            head = "".join(f"<th>{h}</th>" for h in ("Conversation", "Customer", "Status", "Priority", "Agent", "Group",
                                                      "Baton tags"))
            return _page("Inbox", f"<h1>Inbox</h1><table cellpadding='6'><tr>{head}</tr>{rows}</table>")

        @app.get("/a/<app_id>/open/conversation/<int:internal>")
        def inbox_conversation(app_id: str, internal: int) -> Response:
            with self._lock:
                conv = next((c for c in self._conversations.values() if c["conversation_internal_id"] == internal), None)
                if app_id != self.app_id or conv is None:
                    abort(404)
                items = []
                for m in self._messages[conv["conversation_id"]]:
                    table = {"user": self._users, "agent": self._agents, "bot": self._bots}.get(m["actor_type"], {})
                    who = f"{self._person(table, m['actor_id'])} ({m['actor_type']})"
                    text = "\n".join(p["text"]["content"] for p in m["message_parts"] if "text" in p)
                    style = "background:#fff8c4;border:1px solid #e0c84a" if m["message_type"] == "private" \
                        else "border:1px solid #ddd"
                    label = " <i>private note</i>" if m["message_type"] == "private" else ""
                    items.append(f"<div style='{style};padding:8px;margin:8px 0'><b>{html.escape(who)}</b>{label} "
                                 f"<small>{m['created_time']}</small>"
                                 f"<div style='white-space:pre-wrap'>{html.escape(text)}</div></div>")
                meta = " · ".join((conv["status"], f"priority {conv['properties'].get('priority') or '-'}",
                                   f"customer {self._person(self._users, conv['user_id'])}",
                                   f"agent {self._person(self._agents, conv['assigned_agent_id'])}",
                                   f"group {self._person(self._groups, conv['assigned_group_id'])}",
                                   f"Baton tags {conv['properties'].get(TAGS_PROPERTY) or '-'}"))
                title = f"Conversation {internal}"
            return _page(title, f"<p><a href='/a/inbox'>Inbox</a></p><h1>{title}</h1><p>{html.escape(meta)}</p>"
                                + "".join(items))

    @staticmethod
    def _person(table: dict[str, JSON], key: str | None) -> str:
        """The name of a user, agent, bot or group, as the inbox shows it; "-" for none."""
        row = table.get(key or "")
        if row is None:
            return "-"
        return str(row.get("name") or f"{row.get('first_name', '')} {row.get('last_name', '')}".strip())

    def _check_message(self, data: JSON, conv: JSON) -> list[JSON]:
        unknown = sorted(set(data) - MESSAGE_FIELDS)
        if unknown:
            raise invalid(f"Unexpected fields in request: {', '.join(unknown)}")
        parts = data.get("message_parts")
        if not isinstance(parts, list) or not parts or not all(
                isinstance(p, dict) and isinstance(p.get("text"), dict) and isinstance(p["text"].get("content"), str)
                and p["text"]["content"] for p in parts):
            raise invalid("message_parts must be a list of text parts")
        if data.get("message_type", "normal") not in ("normal", "private"):
            raise invalid("message_type must be normal or private")
        kind, actor = data.get("actor_type"), data.get("actor_id")
        if kind not in ACTOR_TYPES:
            raise invalid(f"actor_type must be one of {', '.join(ACTOR_TYPES)}")
        known = {"agent": self._agents, "bot": self._bots, "user": {conv["user_id"]: 1}}[kind]
        if not isinstance(actor, str) or actor not in known:
            raise invalid(f"actor_id must be a {kind} of this conversation's account")
        if kind == "user" and data.get("message_type") == "private":
            raise invalid("a user cannot write a private message")
        return copy.deepcopy(parts)


def _page(title: str, body: str) -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · Freshchat sandbox</title>"
            f"</head><body style='font-family:sans-serif;max-width:960px;margin:2em auto'>{body}</body></html>")
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _dumps(payload: JSON) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


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
