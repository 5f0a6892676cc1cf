"""The Zendesk sandbox's HTTP API: the Support API routes Baton calls (same paths, with or
without ``.json``, JSON shapes, offset and cursor pagination, error bodies) and, through
``conversations.py``, the Conversations API's.
"""
from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.sandbox import JSON, ApiError
from connectors.zendesk.sandbox.state import NOT_FOUND, ZendeskState, invalid, webhook_error

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


class ZendeskApi(ZendeskState):
    """The Support API's routes, and the Conversations API's (``conversations.py``)."""

    def _http_error(self, error: HTTPException) -> ResponseReturnValue:
        if request.path.startswith("/sc/"):
            code = "not_found" if error.code == 404 else "bad_request" if error.code == 400 else str(error.name).lower()
            return {"errors": [{"code": code, "title": error.description or error.name}]}, error.code or 500
        if not request.path.startswith("/api/"):
            return error  # the agent pages keep werkzeug's HTML errors
        body = NOT_FOUND if error.code == 404 else {"error": error.name, "description": error.description}
        return body, error.code or 500

    @staticmethod
    def _body(root: str) -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get(root), dict):
            raise ApiError(400, {"error": "InvalidJSON", "description": f"Expected a JSON object under {root!r}"})
        return data[root]

    def _build_app(self) -> Flask:
        app = super()._build_app()
        app.wsgi_app = _strip_json_suffix(app.wsgi_app)  # type: ignore[method-assign]
        return app

    @staticmethod
    def _page(key: str, rows: list[JSON]) -> JSON:
        """Offset pagination as Zendesk does it: ``page`` and ``per_page`` (100 at most, the default),
        ``next_page``/``previous_page`` as full URLs or null, ``count`` of all rows."""
        try:
            page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 100))
        except ValueError:
            raise invalid("page", "must be a number") from None
        per_page = max(1, min(per_page, 100))
        start = (max(page, 1) - 1) * per_page
        base = request.base_url

        def link(n: int) -> str:
            query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page")]
            return f"{base}?" + urlencode([*query, ("page", n), ("per_page", per_page)])
        return {key: rows[start:start + per_page], "next_page": link(page + 1) if start + per_page < len(rows) else None,
                "previous_page": link(page - 1) if page > 1 else None, "count": len(rows)}

    def _export(self, args: Mapping[str, str]) -> JSON:
        """Incremental Ticket Export, cursor based (https://developer.zendesk.com/api-reference/ticketing/
        ticket-management/incremental_exports/): ``start_time`` (Unix seconds, at least a minute in the
        past, else 422) on the first request, ``cursor`` after; tickets oldest change first (their
        ``updated_at``, which every change here moves, stands for Zendesk's ``generated_timestamp``),
        ``per_page`` up to 1,000 (the default); ``after_url``/``after_cursor`` always, ``end_of_stream``
        once nothing is left. Zendesk leaves out the most recent minute; the sandbox serves changes at
        once, so tests need not wait a minute (the sweep's overlap reads the held-back minute)."""
        try:
            per_page = max(1, min(int(args.get("per_page", 1000)), 1000))
            if "cursor" in args:
                stamp, _, rest = base64.b64decode(args["cursor"], validate=True).decode().partition("||")
                position = (int(float(stamp)), int(rest.strip("|")))
            else:
                start = int(args["start_time"])
                if start > self.clock().timestamp() - 60:
                    raise invalid("start_time", "Too recent start_time. Use a start_time older than one minute.")
                position = (start, -1)  # every ticket changed at or after start_time
        except (KeyError, ValueError, UnicodeDecodeError):
            raise ApiError(400, {"error": "InvalidPaginationParameter",
                                 "description": "start_time or a valid cursor is required"}) from None

        def key(ticket: JSON) -> tuple[int, int]:
            return int(datetime.fromisoformat(ticket["updated_at"]).timestamp()), int(ticket["id"])

        with self._lock:
            rows = sorted((t for t in self._tickets.values() if key(t) > position), key=key)
            page = [{**self._ticket_json(t), "generated_timestamp": key(t)[0]} for t in rows[:per_page]]
            last = key(rows[per_page - 1]) if len(rows) >= per_page else key(rows[-1]) if rows else position

        def cursor(at: tuple[int, int]) -> str:
            return base64.b64encode(f"{at[0]}.0||{max(at[1], 0)}|".encode()).decode()

        after = cursor(last)
        return {"tickets": page, "after_url": f"{request.host_url}api/v2/incremental/tickets/cursor.json?cursor={after}",
                "after_cursor": after, "before_url": None, "before_cursor": None,
                "end_of_stream": len(rows) <= per_page}
    def _add_picker_routes(self, app: Flask) -> None:
        """Brands, tags (cursor pagination: ``page[size]`` up to 100, ``page[after]``) and skills-based
        routing's attributes and values, as the console's pickers read them."""
        @app.get("/api/v2/brands")
        def brands() -> JSON:
            with self._lock:
                return self._page("brands", [copy.deepcopy(self._brands[k]) for k in sorted(self._brands)])

        @app.get("/api/v2/tags")
        def tags() -> JSON:
            try:
                size = max(1, min(int(request.args.get("page[size]", 100)), 100))
                start = int(request.args.get("page[after]") or 0)
            except ValueError:
                raise invalid("page", "must be a number") from None
            with self._lock:
                rows = self._popular_tags()
            more = start + size < len(rows)
            after = str(start + size) if more else None
            next_url = f"{request.base_url}?" + urlencode({"page[size]": size, "page[after]": after}) if more else None
            return {"tags": rows[start:start + size], "meta": {"has_more": more, "after_cursor": after,
                                                                "before_cursor": None}, "links": {"next": next_url, "prev": None}}

        @app.get("/api/v2/routing/attributes")
        def attributes() -> JSON:
            with self._lock:
                rows = [copy.deepcopy(a["attribute"]) for a in self._attributes.values()]
            return {"attributes": rows, "count": len(rows), "next_page": None, "previous_page": None}

        @app.get("/api/v2/routing/attributes/<attribute_id>/values")
        def attribute_values(attribute_id: str) -> JSON:
            with self._lock:
                return {"attribute_values": copy.deepcopy(self._find(self._attributes, attribute_id)["values"])}

    def _add_api_routes(self, app: Flask) -> None:
        self._add_picker_routes(app)

        @app.get("/api/v2/users/me")
        def me() -> JSON:
            with self._lock:
                return {"user": copy.deepcopy(self._users[self._caller()])}

        @app.get("/api/v2/users/<int:user_id>")
        def user(user_id: int) -> JSON:
            with self._lock:
                return {"user": copy.deepcopy(self._find(self._users, user_id))}

        @app.get("/api/v2/users/<int:user_id>/tickets/requested")
        def requested(user_id: int) -> JSON:
            with self._lock:
                self._find(self._users, user_id)
                mine = [t for t in self._tickets.values() if t["requester_id"] == user_id]
                mine.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
                return self._page("tickets", [self._ticket_json(t) for t in mine])

        @app.get("/api/v2/organizations/<int:org_id>")
        def organization(org_id: int) -> JSON:
            with self._lock:
                return {"organization": copy.deepcopy(self._find(self._orgs, org_id))}

        @app.get("/api/v2/users")
        def users() -> JSON:
            roles = request.args.getlist("role[]") or ["end-user", "agent", "admin"]
            with self._lock:
                rows = [copy.deepcopy(u) for _, u in sorted(self._users.items()) if u["role"] in roles]
            return self._page("users", rows)

        @app.get("/api/v2/group_memberships")
        def memberships() -> JSON:
            with self._lock:
                rows = copy.deepcopy(self._memberships)
            return self._page("group_memberships", rows)

        @app.get("/api/v2/agent_availabilities")
        def availabilities() -> JSON:
            with self._lock:
                groups = {}
                for m in self._memberships:
                    groups.setdefault(m["user_id"], []).append(m["group_id"])
                data = [{"type": "agent_availabilities", "id": str(uid), "attributes": {
                    "agent_id": uid, "agent_status": {"id": a["status"], "name": a["status"]},
                    "group_ids": groups.get(uid, []), "skills": [{"id": sk} for sk in a["skills"]],
                    "channels": [{"name": "support", "status": a["status"], "max_capacity": a["max_capacity"],
                                  "work_item_count": a["work_item_count"]}]}}
                    for uid, a in sorted(self._availability.items())]
            return {"data": data, "meta": {"has_more": False}}

        @app.get("/api/v2/groups")
        def groups() -> JSON:
            with self._lock:
                rows = [copy.deepcopy(self._groups[key]) for key in sorted(self._groups)]
            return self._page("groups", rows)

        @app.get("/api/v2/tickets/<int:ticket_id>")
        def show_ticket(ticket_id: int) -> JSON:
            """Show Ticket, with ``include=users,organizations`` side-loading the users the ticket
            names (requester, submitter, assignee) and its organization, whole (the connector README:
            Zendesk calls them partial); the other side-loads Zendesk offers are not emulated."""
            include = set((request.args.get("include") or "").split(","))
            with self._lock:
                ticket = self._find(self._tickets, ticket_id)
                shown: JSON = {"ticket": self._ticket_json(ticket)}
                if "users" in include:
                    named = {ticket.get(k) for k in ("requester_id", "submitter_id", "assignee_id")}
                    shown["users"] = [copy.deepcopy(self._users[u]) for u in sorted(named - {None}) if u in self._users]
                if "organizations" in include:
                    org = ticket.get("organization_id")
                    shown["organizations"] = [copy.deepcopy(self._orgs[org])] if org in self._orgs else []
                return shown

        @app.get("/api/v2/tickets/<int:ticket_id>/metrics")
        def ticket_metrics(ticket_id: int) -> JSON:
            """Show Ticket Metrics By Ticket: one ``ticket_metric`` object."""
            with self._lock:
                self._find(self._tickets, ticket_id)
                return {"ticket_metric": copy.deepcopy(self._metrics[ticket_id])}

        @app.post("/api/v2/tickets")
        def create_ticket() -> tuple[JSON, int]:
            data = self._body("ticket")
            comment = data.get("comment") if isinstance(data.get("comment"), dict) else {}
            with self._lock:
                ticket = self._new_ticket(data.get("requester_id", self._caller()), self._caller(),
                                          data.get("subject", ""), comment.get("body"), comment.get("html_body"),
                                          data.get("priority"), data.get("tags") or [], data.get("status", "new"),
                                          "api", None)
                return {"ticket": self._ticket_json(ticket)}, 201

        @app.put("/api/v2/tickets/<int:ticket_id>")
        def update_ticket(ticket_id: int) -> JSON:
            data = self._body("ticket")
            with self._lock:
                ticket, audit = self._update_ticket(ticket_id, data)
                return {"ticket": self._ticket_json(ticket), "audit": audit}

        @app.get("/api/v2/tickets/<int:ticket_id>/comments")
        def comments(ticket_id: int) -> JSON:
            with self._lock:
                self._find(self._tickets, ticket_id)
                rows = copy.deepcopy(self._comments[ticket_id])
            if request.args.get("sort_order", "asc") not in ("asc", "desc"):
                raise invalid("sort_order", "must be asc or desc")
            # List Comments: oldest first unless ``sort_order=desc``
            return self._page("comments", rows[::-1] if request.args.get("sort_order") == "desc" else rows)

        @app.get("/api/v2/incremental/tickets/cursor")
        def incremental_tickets() -> JSON:
            return self._export(request.args)

        @app.post("/api/v2/webhooks")
        def create_webhook() -> tuple[JSON, int]:
            return {"webhook": self._create_webhook(self._body("webhook"))}, 201

        @app.get("/api/v2/webhooks")
        def list_webhooks() -> JSON:
            part = request.args.get("filter[name_contains]", "").lower()
            with self._lock:
                rows = [copy.deepcopy(h) for h in self._webhooks.values() if part in h["name"].lower()]
            return {"webhooks": rows, "meta": {"has_more": False}}

        @app.patch("/api/v2/webhooks/<webhook_id>")
        def patch_webhook(webhook_id: str) -> tuple[str, int]:
            """Patch Webhook: the fields given replace the webhook's (https://developer.zendesk.com/
            api-reference/webhooks/webhooks-api/webhooks/#patch-webhook); 204 No Content."""
            changes = self._body("webhook")
            with self._lock:
                hook = self._webhooks.get(webhook_id)
                if hook is None:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                if "endpoint" in changes and not str(changes["endpoint"]).startswith(("http://", "https://")):
                    raise webhook_error(422, "InvalidInput", "the endpoint must be an http(s) URL")
                if changes.get("status", "active") not in ("active", "inactive"):
                    raise webhook_error(422, "InvalidInput", "status must be active or inactive")
                for key in ("name", "endpoint", "status"):
                    if key in changes:
                        hook[key] = changes[key]
            return "", 204

        @app.get("/api/v2/apps/<int:app_id>/public_key.pem")
        def app_public_key(app_id: int) -> Response:
            if app_id != self.app_id:
                raise ApiError(404, NOT_FOUND)
            return Response(self.app_public_key(), mimetype="application/x-pem-file")

        @app.get("/api/v2/apps/installations")
        def app_installations() -> JSON:
            with self._lock:
                return {"installations": copy.deepcopy(list(self._app_installations.values()))}

        @app.delete("/api/v2/apps/installations/<int:installation_id>")
        def delete_app_installation(installation_id: int) -> tuple[str, int]:
            self.uninstall_app(installation_id)
            return "", 204

        self._add_conversations_routes(app)

        @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
        def signing_secret(webhook_id: str) -> JSON:
            with self._lock:
                if webhook_id not in self._secrets:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                return {"signing_secret": {"algorithm": "SHA256", "secret": self._secrets[webhook_id]}}

        @app.delete("/api/v2/webhooks/<webhook_id>")
        def delete_webhook(webhook_id: str) -> tuple[str, int]:
            with self._lock:
                if self._webhooks.pop(webhook_id, None) is None:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                del self._secrets[webhook_id]
            return "", 204

        @app.post("/api/v2/triggers")
        def create_trigger() -> tuple[JSON, int]:
            return {"trigger": self._create_trigger(self._body("trigger"))}, 201

        @app.get("/api/v2/triggers")
        def list_triggers() -> JSON:
            with self._lock:
                rows = copy.deepcopy(list(self._triggers.values()))
            return {"triggers": rows, "next_page": None, "previous_page": None, "count": len(rows)}


def _strip_json_suffix(wsgi: WSGIApplication) -> WSGIApplication:
    """Zendesk accepts every API path with or without ``.json``."""
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/v2/") and path.endswith(".json"):
            environ["PATH_INFO"] = path[:-5]
        return wsgi(environ, start_response)
    return app
