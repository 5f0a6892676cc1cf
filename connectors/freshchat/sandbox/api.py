"""The Freshchat sandbox's API v2: the routes Baton calls, their pagination and the checks of a
message Baton posts.
"""
from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, request

from connectors.freshchat.sandbox.state import (ACTOR_TYPES, MAX_PER_PAGE, MESSAGE_FIELDS, PER_PAGE, FreshchatState,
                                                invalid)
from connectors.sandbox import JSON


class FreshchatApi(FreshchatState):
    """The API's routes."""

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
    def _add_api_routes(self, app: Flask) -> None:
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
