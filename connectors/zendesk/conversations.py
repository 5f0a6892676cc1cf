"""Zendesk messaging through the Conversations API (Sunshine Conversations, "SunCo").

Since 2026-05-04 a messaging conversation a bot holds is an *AI agent ticket*: read-only until
the switchboard passes control to the Agent Workspace, a regular ticket after. Its live messages
are not in the Support API. So for these conversations Baton:

- hears every message through its own custom integration's webhook (batched, ``X-API-Key``),
  as a switchboard integration on standby with ``deliverStandbyEvents`` (README: why not
  offerControl);
- reads the conversation with the messages API (backward cursor, 100 a page) and the customer
  through the SunCo user's ``zendeskId`` (their Support profile and tickets);
- hands over with ``passControl`` to ``zd:agentWorkspace``, the group, assignee, priority and
  tags as captured fields; only then writes the note on the (now regular) ticket through the
  Support API. Never a write to the ticket while the bot holds the conversation.

Baton keys such a conversation by its Conversations API id (every SunCo event carries it; only
Support's ``messaging_ticket.message_added`` also names the ticket). The ticket is found through
the customer when it is needed (README: the assumption).

Spec: ``zendesk/sunshine-conversations-api-spec`` ``openapi.yaml`` (the parts Baton uses are in
``fixtures/sunco/openapi_subset.json``).
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from requests.auth import HTTPBasicAuth

from connectors.base import HttpClient, seg
from integration.core.contract import ApiError, ApiInvalid, Guard, NotOurs
from integration.core.model import Installation, Role

AGENT_WORKSPACE = "zd:agentWorkspace"  # the switchboard integration type of Zendesk's agents
API_KEY = "X-API-Key"  # the header carrying a SunCo webhook's shared secret
BATON_MARK = "baton_key"  # message metadata naming the plan Baton posted a message for
# The admin's Conversations API key (app scope): its app id (public: the Web Widget embeds it, every
# URL names it) in the settings, the key id and secret in the credentials, with the webhook secret
# the install gets back.
APP_ID, KEY_ID, SECRET, WEBHOOK_SECRET = "sunco_app_id", "sunco_key_id", "sunco_secret", "sunco_webhook_secret"
# Support's via.channel values of messaging conversations (Zendesk's "Via object reference")
MESSAGING_CHANNELS = frozenset({"native_messaging", "messaging", "sunshine_conversations_api", "mobile_sdk",
                                "whatsapp", "sms", "line", "instagram_dm", "facebook"})
_CONVERSATION_ID = re.compile(r"[0-9A-Za-z]{20,64}")  # ObjectId-like: 24 hex characters in every example


def enabled(inst: Installation) -> bool:
    """The installation gave a Conversations API key: bot-held messaging conversations go through
    it. Without one Baton works on tickets only (README: what an admin loses)."""
    return bool(inst.settings.get(APP_ID)) and all(inst.credentials.get(k) for k in (KEY_ID, SECRET))


def is_conversation(key: str) -> bool:
    """Baton's key for a conversation is a Conversations API id, not a ticket number: ticket
    numbers have at most 19 digits (``ticket_number``), conversation ids at least 20 characters."""
    return len(key) >= 20


def conversation_id(value: Any) -> str:
    """A Conversations API id from a webhook, or NotOurs."""
    if not isinstance(value, str) or not _CONVERSATION_ID.fullmatch(value):
        raise NotOurs("conversation id is not a Conversations API id")
    return value


def is_messaging(via: Any) -> bool:
    """A Support ticket snapshot's ``via`` names a messaging channel."""
    return isinstance(via, Mapping) and via.get("channel") in MESSAGING_CHANNELS


class NotYetEditable(ApiError):
    """Control has passed but the ticket still refuses Baton's note (Zendesk converts the AI agent
    ticket after the switchboard moves; how it refuses meanwhile is not documented) or is not
    found yet: the write is tried again later, and never flags the installation."""

    transient = True


class Conversations:
    """The Conversations API of one account (https://developer.zendesk.com/api-reference/conversations/):
    ``https://{subdomain}.zendesk.com/sc/v2/apps/{appId}/…`` with Basic auth, the admin's key id as
    the user and its secret as the password. An app-scope key: the marketplace OAuth token has
    integration scope, which cannot reach ``/switchboards``."""

    def __init__(self, installation: Installation, guard: Guard | None = None, http: HttpClient | None = None):
        creds = installation.credentials
        self.http = http or HttpClient(installation.base_url, auth=HTTPBasicAuth(creds[KEY_ID], creds[SECRET]),
                                       guard=guard)
        self.prefix = f"/sc/v2/apps/{seg(installation.settings[APP_ID])}"

    def conversation(self, cid: str) -> dict[str, Any]:
        return self.http.request("GET", f"{self.prefix}/conversations/{seg(cid)}")["conversation"]

    def messages(self, cid: str) -> list[dict[str, Any]]:
        """The whole conversation, oldest first. List Messages pages *backwards*: the first answer
        is the latest 100 (a fixed page size), ``meta.hasMore`` says earlier ones exist and
        ``links.prev`` (or ``page[before]`` = ``meta.beforeCursor``) reads them. At most
        MAX_PAGES pages: a longer conversation loses its oldest messages, never its latest."""
        path = f"{self.prefix}/conversations/{seg(cid)}/messages"

        def earlier(body: Any, _headers: Any) -> str | None:
            meta = body.get("meta") or {}
            if not meta.get("hasMore"):
                return None
            prev = (body.get("links") or {}).get("prev")
            return prev or (f"{path}?page%5Bbefore%5D={seg(meta['beforeCursor'])}" if meta.get("beforeCursor") else None)

        pages = [page.get("messages") or [] for page in self.http.pages(path, None, earlier)]
        return [m for page in reversed(pages) for m in page if isinstance(m, dict)]

    def latest(self, cid: str) -> list[dict[str, Any]]:
        """The last page of messages (up to 100), oldest first."""
        body = self.http.request("GET", f"{self.prefix}/conversations/{seg(cid)}/messages")
        return [m for m in body.get("messages") or [] if isinstance(m, dict)]

    def user(self, uid: str) -> dict[str, Any]:
        return self.http.request("GET", f"{self.prefix}/users/{seg(uid)}")["user"]

    def say(self, cid: str, text: str, key: str) -> None:
        """A text message to the customer as the business, marked with the plan's key in its
        metadata (the echo is recognised by it, and a retry finds it)."""
        self.http.request("POST", f"{self.prefix}/conversations/{seg(cid)}/messages", json={
            "author": {"type": "business"}, "content": {"type": "text", "text": text[:TEXT_LIMIT]},
            "metadata": {BATON_MARK: key}})

    def pass_control(self, cid: str, metadata: Mapping[str, Any]) -> None:
        self.http.request("POST", f"{self.prefix}/conversations/{seg(cid)}/passControl",
                          json={"switchboardIntegration": AGENT_WORKSPACE, "metadata": dict(metadata)})

    def install(self, endpoint: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Baton's custom integration with its webhook, then Baton as a switchboard integration on
        standby that is sent every event (``deliverStandbyEvents``) and is never the default
        responder. Returns the settings and the credentials (the webhook secret) to keep."""
        integration = self.http.request("POST", f"{self.prefix}/integrations", json={
            "type": "custom", "displayName": "Baton",
            "webhooks": [{"target": endpoint, "triggers": list(TRIGGERS), "includeFullUser": False,
                          "includeFullSource": False}]})["integration"]
        hook = integration["webhooks"][0]
        secret = hook.get("secret") or self.http.request(
            "GET", f"{self.prefix}/integrations/{seg(integration['id'])}/webhooks/{seg(hook['id'])}")["webhook"]["secret"]
        boards = self.http.request("GET", f"{self.prefix}/switchboards")["switchboards"]
        if not boards:
            raise ApiInvalid("this account's messaging has no switchboard: turn messaging on first")
        member = self.http.request("POST", f"{self.prefix}/switchboards/{seg(boards[0]['id'])}/switchboardIntegrations",
                                   json={"name": SWITCHBOARD_NAME, "integrationId": integration["id"],
                                         "deliverStandbyEvents": True})["switchboardIntegration"]
        return ({"sunco_integration_id": integration["id"], "sunco_webhook_id": hook["id"],
                 "sunco_switchboard_integration_id": member["id"]}, {WEBHOOK_SECRET: secret})


TEXT_LIMIT = 4096  # characters of a text message (the spec's textMessage.text maxLength)
METADATA_LIMIT = 4096  # bytes of passControl metadata: "limited to 4KB"
SWITCHBOARD_NAME = "baton"  # "alphanumeric characters, - and _"
TRIGGERS = ("conversation:message", "conversation:create", "switchboard:passControl",
            "switchboard:passControl:failure", "switchboard:offerControl", "switchboard:acceptControl",
            "switchboard:releaseControl")


def control(conversation: Mapping[str, Any]) -> str | None:
    """Which switchboard integration type holds the conversation (None: nobody)."""
    active = conversation.get("activeSwitchboardIntegration")
    return active.get("integrationType") if isinstance(active, Mapping) else None


def role(message: Mapping[str, Any]) -> Role:
    """Who wrote a message: the customer (``author.type`` user), a human agent (business with the
    ``agent`` subtype), Baton (its mark) or the system (``activity``); any other business message is
    the bot's (``AI``, ``bot``, or a third-party bot posting as the business without a subtype)."""
    author = message.get("author") if isinstance(message.get("author"), Mapping) else {}
    metadata = message.get("metadata") if isinstance(message.get("metadata"), Mapping) else {}
    subtypes = author.get("subtypes") or ()
    if metadata.get(BATON_MARK) or "activity" in subtypes:
        return Role.SYSTEM
    if author.get("type") == "user":
        return Role.CUSTOMER
    return Role.AGENT if "agent" in subtypes else Role.BOT


def text(message: Mapping[str, Any]) -> str:
    content = message.get("content") if isinstance(message.get("content"), Mapping) else {}
    said = content.get("text")
    return said if isinstance(said, str) else f"[{content.get('type') or 'message'}]"


def captured(key: str, fields: Mapping[str, Any], group: str | None, agent: str | None, priority: str | None,
             tags: list[str]) -> dict[str, Any]:
    """passControl metadata that Zendesk copies into the ticket (``dataCapture.systemField.*``,
    tags comma-separated) and where the agent's view of the conversation starts; the plan's key
    too, so the ``switchboard:passControl`` echo is known as ours. Flat and under 4 KB: with too
    many of the ticket's own tags, only Baton's are sent."""
    meta: dict[str, Any] = {BATON_MARK: key}
    if fields.get("first_message_id"):
        meta["first_message_id"] = fields["first_message_id"]
    for name, value in (("group_id", group), ("assignee_id", agent)):
        if value:
            meta[f"dataCapture.systemField.{name}"] = int(value) if value.isdigit() else value
    if priority:
        meta["dataCapture.systemField.priority"] = priority
    if tags:
        meta["dataCapture.systemField.tags"] = ",".join(tags)
    if len(json.dumps(meta).encode()) > METADATA_LIMIT:
        own = [t for t in tags if t not in (fields.get("tags") or ())]
        meta["dataCapture.systemField.tags"] = ",".join(own)
    return meta
