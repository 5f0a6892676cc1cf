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

import re
from typing import Any, Mapping

from integration.core.contract import NotOurs
from integration.core.model import Installation

AGENT_WORKSPACE = "zd:agentWorkspace"  # the switchboard integration type of Zendesk's agents
API_KEY = "X-API-Key"  # the header carrying a SunCo webhook's shared secret
BATON_MARK = "baton_key"  # message metadata naming the plan Baton posted a message for
# Credentials: the admin's Conversations API key (app scope), and the webhook secret install gets back.
APP_ID, KEY_ID, SECRET, WEBHOOK_SECRET = "sunco_app_id", "sunco_key_id", "sunco_secret", "sunco_webhook_secret"
# Support's via.channel values of messaging conversations (Zendesk's "Via object reference")
MESSAGING_CHANNELS = frozenset({"native_messaging", "messaging", "sunshine_conversations_api", "mobile_sdk",
                                "whatsapp", "sms", "line", "instagram_dm", "facebook"})
_CONVERSATION_ID = re.compile(r"[0-9A-Za-z]{20,64}")  # ObjectId-like: 24 hex characters in every example


def enabled(inst: Installation) -> bool:
    """The installation gave a Conversations API key: bot-held messaging conversations go through
    it. Without one Baton works on tickets only (README: what an admin loses)."""
    return all(inst.credentials.get(k) for k in (APP_ID, KEY_ID, SECRET))


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
