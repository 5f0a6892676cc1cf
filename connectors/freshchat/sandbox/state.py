"""The Freshchat sandbox's state: agents, groups, bots, users with their properties, conversations
with their messages and CSAT, and the rules Freshchat applies to them (statuses, assignments,
properties); what the admin sets up and what customers, bots and agents do; the webhook it sends,
signed with the account's RSA key; the token's authentication and rate-limit headers. Its API
routes (``api.py``) and pages (``pages.py``) are mixed in by :class:`FreshchatSandbox`
(``__init__.py``).
"""
from __future__ import annotations

import base64
import copy
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.freshchat import webhook
from connectors.sandbox import JSON, ApiError, Outgoing, Refusal, Sandbox, stars

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


class FreshchatState(Sandbox[_Job]):
    """The account's records and the rules that change them."""

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


def _dumps(payload: JSON) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
