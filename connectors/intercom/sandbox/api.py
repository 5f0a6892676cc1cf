"""The Intercom sandbox's REST API (version 2.14 shapes): the routes Baton calls, their
``error.list`` errors, and the conversation search.
"""
from __future__ import annotations

import base64
import copy
import math
from typing import Any

from flask import Flask, request

from connectors.intercom.sandbox.state import SINGULAR, ApiError, IntercomState, invalid
from connectors.sandbox import JSON


class IntercomApi(IntercomState):
    """The REST API's routes."""

    def _search(self, data: JSON) -> JSON:
        query, pagination = data.get("query"), data.get("pagination") or {}
        if isinstance(query, dict) and query.get("field") == "updated_at":
            return self._search_updated(query, pagination, data.get("sort"))
        if not (isinstance(query, dict) and query.get("field") == "contact_ids" and query.get("operator") == "="
                and isinstance(query.get("value"), (str, int))):
            raise invalid('the sandbox searches only {"field": "contact_ids", "operator": "=", "value": id}')
        per_page = pagination.get("per_page", 20) if isinstance(pagination, dict) else None
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 150:
            raise invalid("per_page must be between 1 and 150")
        found = [c for c in self._tables["conversation"].values() if c["contact_id"] == str(query["value"])]
        found.sort(key=lambda c: (c["created_at"], int(c["id"])), reverse=True)
        return {"type": "conversation.list",  # like Intercom, lists carry no conversation parts
                "conversations": [self._conversation_json(c, with_parts=False) for c in found[:per_page]],
                "total_count": len(found),
                "pages": {"type": "pages", "page": 1, "per_page": per_page,
                          "total_pages": max(1, math.ceil(len(found) / per_page))}}

    def _search_updated(self, query: JSON, pagination: Any, sort: Any) -> JSON:
        """Conversations changed after a time (``{"field": "updated_at", "operator": ">", "value": <Unix
        seconds>}``; the 2.14 reference calls ``>`` "greater (or equal) than" and so does the sandbox),
        sorted as the search guide's ``sort`` asks (``updated_at`` or ``created_at``, ``ascending`` or
        ``descending``; newest first without one), ``per_page`` up to 150 (20 by default) and the next
        page's ``pages.next.starting_after`` cursor while more remain; lists carry no parts."""
        value = query.get("value")
        if query.get("operator") != ">" or isinstance(value, bool) or not isinstance(value, (int, str)) \
                or not str(value).isdigit():
            raise invalid('the sandbox searches updated_at only with ">" and a Unix timestamp')
        per_page = pagination.get("per_page", 20) if isinstance(pagination, dict) else None
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 150:
            raise invalid("per_page must be between 1 and 150")
        sort = sort if isinstance(sort, dict) else {"field": "updated_at", "order": "descending"}
        if sort.get("field") not in ("updated_at", "created_at") or sort.get("order") not in ("ascending", "descending"):
            raise invalid("sort must name updated_at or created_at, ascending or descending")
        found = [c for c in self._tables["conversation"].values() if c["updated_at"] >= int(value)]
        found.sort(key=lambda c: (c[sort["field"]], int(c["id"])), reverse=sort["order"] == "descending")
        try:  # the cursor is where the previous page ended, as an index into this ordering
            start = int(base64.urlsafe_b64decode(str(pagination.get("starting_after") or "MA==")).decode())
        except ValueError:
            raise invalid("starting_after is not a cursor from this search") from None
        page = found[start:start + per_page]
        pages: JSON = {"type": "pages", "page": start // per_page + 1, "per_page": per_page,
                       "total_pages": max(1, math.ceil(len(found) / per_page))}
        if start + per_page < len(found):
            pages["next"] = {"page": pages["page"] + 1,
                             "starting_after": base64.urlsafe_b64encode(str(start + per_page).encode()).decode()}
        return {"type": "conversation.list", "pages": pages, "total_count": len(found),
                "conversations": [self._conversation_json(c, with_parts=False) for c in page]}

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise invalid("the request body must be a JSON object")
        return data
    def _add_api_routes(self, app: Flask) -> None:
        # Intercom's error.list carries a fresh request_id per response, so its errors are its own type.
        app.register_error_handler(ApiError, lambda e: (e.body(), e.status))

        @app.get("/me")
        def me() -> JSON:
            """The teammate the token acts as: for an OAuth token, who authorized the app."""
            token = request.authorization.token if request.authorization else ""
            with self._lock:
                admin = copy.deepcopy(self._tables["admin"][self._oauth_tokens.get(token or "", self.api_admin_id)])
            return {**admin, "app": {"type": "app", "id_code": self.app_id}}

        @app.get("/<any(admins, teams, tags):plural>")
        def listing(plural: str) -> JSON:
            with self._lock:
                rows = copy.deepcopy(list(self._tables[SINGULAR[plural]].values()))
            if plural == "tags":
                return {"type": "list", "data": rows}
            return {"type": f"{SINGULAR[plural]}.list", plural: rows}

        @app.get("/<any(admins, contacts, companies):plural>/<key>")
        def show(plural: str, key: str) -> JSON:
            with self._lock:
                return copy.deepcopy(self._find(SINGULAR[plural], key))

        @app.get("/contacts/<contact_id>/companies")
        def contact_companies(contact_id: str) -> JSON:
            with self._lock:
                links = self._find("contact", contact_id)["companies"]["data"]
                return {"type": "list", "data": [copy.deepcopy(self._find("company", c["id"])) for c in links]}

        @app.get("/conversations/<conv_id>")
        def conversation(conv_id: str) -> JSON:
            plaintext = request.args.get("display_as") == "plaintext"
            version = request.headers.get("Intercom-Version")
            with self._lock:
                return self._conversation_json(self._find("conversation", conv_id), plaintext, version == "Preview",
                                               version=version)

        @app.post("/conversations/<conv_id>/<any(reply, parts):action>")
        def act(conv_id: str, action: str) -> JSON:
            data = self._body()
            with self._lock:
                conv = self._find("conversation", conv_id)
                return self._reply(conv, data) if action == "reply" else self._manage(conv, data)

        @app.put("/conversations/<conv_id>")
        def update(conv_id: str) -> JSON:
            data, preview = self._body(), request.headers.get("Intercom-Version") == "Preview"
            with self._lock:
                return self._update(self._find("conversation", conv_id), data, preview)

        @app.post("/conversations/search")
        def search() -> JSON:
            with self._lock:
                return self._search(self._body())

        @app.post("/tags")
        def create_tag() -> JSON:
            with self._lock:
                return copy.deepcopy(self._tag(str(self._text(self._body(), "name"))))

        @app.post("/conversations/<conv_id>/tags")
        def tag_conversation(conv_id: str) -> JSON:
            data = self._body()
            with self._lock:
                conv, tag = self._find("conversation", conv_id), self._find("tag", self._ref(data, "id"))
                self._find("admin", self._ref(data, "admin_id"))
                if tag["id"] not in conv["tag_ids"]:  # tagging twice changes nothing
                    conv["tag_ids"].append(tag["id"])
                    self._commit(conv, None, None)
                return copy.deepcopy(tag)

        @app.delete("/conversations/<conv_id>/tags/<tag_id>")
        def untag_conversation(conv_id: str, tag_id: str) -> JSON:
            data = request.get_json(silent=True)
            with self._lock:
                conv, tag = self._find("conversation", conv_id), self._find("tag", tag_id)
                if isinstance(data, dict) and "admin_id" in data:
                    self._find("admin", self._ref(data, "admin_id"))
                if tag["id"] in conv["tag_ids"]:
                    conv["tag_ids"].remove(tag["id"])
                    self._commit(conv, None, None)
                return copy.deepcopy(tag)
