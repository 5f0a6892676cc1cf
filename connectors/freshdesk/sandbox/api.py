"""The Freshdesk sandbox's API v2: the routes Baton calls, Freshdesk's pagination (``page``,
``per_page``, ``Link``) and its ticket list filters and order.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, request

from connectors.base import iso_time
from connectors.freshdesk.sandbox.state import (INVALID_JSON, LIST_ORDER, LIST_PARAMS, NOTE, NOTE_FIELDS, REPLY,
                                                REPLY_FIELDS, FreshdeskState, invalid)
from connectors.sandbox import JSON, ApiError, html_to_text


class FreshdeskApi(FreshdeskState):
    """The API's routes."""

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, INVALID_JSON)
        return data

    def _list_tickets(self, args: dict[str, str]) -> list[JSON]:
        order = {key: args.pop(key) for key in LIST_ORDER if key in args}
        errors = [(key, "Unexpected/invalid field in request", "invalid_field") for key in args
                  if key not in LIST_PARAMS]
        errors += [(key, "It should be a/an Positive Integer", "datatype_mismatch") for key, value in args.items()
                   if key != "email" and not (value.isdigit() and int(value) > 0)]
        errors += self._order_errors(order)
        if errors:
            raise invalid(*errors)
        wanted = {key: int(value) for key, value in args.items() if key != "email"}
        if "email" in args:
            match = [c["id"] for c in self._contacts.values() if c["email"].lower() == args["email"].lower()]
            if not match:
                raise invalid(("email", "There is no contact matching the given email", "invalid_value"))
            wanted["requester_id"] = match[0]
        rows = sorted((t for t in self._tickets.values() if all(
            t[key] == wanted[key] for key in ("requester_id", "company_id") if key in wanted)),
            key=lambda t: (t["created_at"], t["id"]), reverse=True)
        return self._ordered(rows, order)

    @staticmethod
    def _order_errors(order: dict[str, str]) -> list[tuple[str, str, str]]:
        """Freshdesk's refusals of ``updated_since``, ``order_by`` and ``order_type``."""
        errors = [(key, f"It should be one of these values: '{','.join(allowed)}'", "invalid_value")
                  for key, allowed in LIST_ORDER.items() if allowed and key in order and order[key] not in allowed]
        if "updated_since" in order and iso_time(order["updated_since"]) is None:
            errors.append(("updated_since", "It should be in the 'valid date time' format", "invalid_value"))
        return errors

    @staticmethod
    def _ordered(rows: list[JSON], order: dict[str, str]) -> list[JSON]:
        """The tickets changed at or after ``updated_since``, sorted by ``order_by`` (created_at by
        default), newest first unless ``order_type=asc``. Freshdesk lists only the last 30 days' tickets
        without ``updated_since``; the sandbox, whose tickets are all recent, lists them all."""
        since = iso_time(order.get("updated_since"))
        if since is not None:
            rows = [t for t in rows if iso_time(t["updated_at"]) >= since]  # type: ignore[operator]
        field = order.get("order_by", "created_at")
        return sorted(rows, key=lambda t: (t.get(field) is not None, t.get(field) or 0, t["id"]),
                      reverse=order.get("order_type", "desc") == "desc")

    def _post_conversation(self, ticket_id: int, kind: str) -> tuple[JSON, int]:
        """``/notes`` (private unless told otherwise) or ``/reply`` (public), both by the API agent."""
        data = self._body()
        with self._lock:
            ticket = self._find(self._tickets, ticket_id)
            self._check(data, NOTE_FIELDS if kind == "notes" else REPLY_FIELDS, required=("body",))
            note = kind == "notes"
            return self._add_conversation(ticket, self.api_agent_id, data["body"], html_to_text(data["body"]),
                                          incoming=note and data.get("incoming", False),
                                          private=note and data.get("private", True),
                                          source=NOTE if note else REPLY), 201

    def _read(self, make: Callable[..., Any]) -> Callable[..., Any]:
        """A GET view: ``make`` runs under the lock and its result is copied out."""
        def view(**kwargs: Any) -> Any:
            with self._lock:
                return copy.deepcopy(make(**kwargs))
        return view

    def _list(self, make: Callable[..., list[JSON]]) -> Callable[..., Any]:
        """A list view paged as Freshdesk pages: ``page``, ``per_page`` (30 by default, 100 at most) and
        a ``Link: <…>; rel="next"`` header while more remain."""
        def view(**kwargs: Any) -> Any:
            with self._lock:
                rows = copy.deepcopy(make(**kwargs))
            try:
                page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 30))
            except ValueError:
                raise invalid(("page", "It should be a Positive Integer", "invalid_value")) from None
            if not 1 <= per_page <= 100 or page < 1:
                raise invalid(("per_page", "It should be a Positive Integer less than or equal to 100", "invalid_value"))
            start = (page - 1) * per_page
            response = jsonify(rows[start:start + per_page])
            if start + per_page < len(rows):
                query = {**request.args.to_dict(), "page": page + 1, "per_page": per_page}
                response.headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
            return response
        return view
    def _add_api_routes(self, app: Flask) -> None:
        tables = {"tickets": self._tickets, "contacts": self._contacts, "companies": self._companies,
                  "agents": self._agents, "groups": self._groups, "roles": self._roles}
        for name, table in tables.items():
            if name == "tickets":
                continue  # below: it takes ?include=stats
            app.add_url_rule(f"/api/v2/{name}/<int:key>", f"show_{name}",
                             self._read(lambda key, table=table: self._find(table, key)))
        for name in ("agents", "groups", "roles"):
            app.add_url_rule(f"/api/v2/{name}", f"list_{name}",
                             self._list(lambda name=name: [tables[name][key] for key in sorted(tables[name])]))
        for path, table in (("products", self._products), ("admin/skills", self._skills)):  # the console's pickers
            app.add_url_rule(f"/api/v2/{path}", f"list_{path}", self._list(lambda table=table: [table[k] for k in sorted(table)]))
        app.add_url_rule("/api/v2/agents/me", "me", self._read(lambda: self._agents[self.api_agent_id]))
        app.add_url_rule("/api/v2/tickets", "list_tickets",
                         self._list(lambda: self._list_tickets(request.args.to_dict())))
        app.add_url_rule("/api/v2/tickets/<int:key>/conversations", "conversations",
                         self._list(lambda key: self._find(self._conversations, key)))
        for kind in ("notes", "reply"):
            app.add_url_rule(f"/api/v2/tickets/<int:key>/{kind}", kind,
                             lambda key, kind=kind: self._post_conversation(key, kind), methods=["POST"])

        @app.get("/api/v2/tickets/<int:key>")
        def show_tickets(key: int) -> JSON:
            """View a Ticket; ``include=stats`` adds its ``stats`` (the sandbox embeds nothing else)."""
            include = [part for part in request.args.get("include", "").split(",") if part]
            if any(part != "stats" for part in include):
                raise invalid(("include", "the sandbox embeds only stats", "invalid_value"))
            with self._lock:
                ticket = copy.deepcopy(self._find(self._tickets, key))
                if include:
                    ticket["stats"] = copy.deepcopy(self._stats[key])
                return ticket

        app.add_url_rule("/api/v2/tickets/<int:key>/satisfaction_ratings", "satisfaction_ratings",
                         self._list(lambda key: self._find(self._ratings, key)))

        @app.post("/api/v2/tickets")
        def create_ticket() -> tuple[JSON, int]:
            data = self._body()
            with self._lock:
                return copy.deepcopy(self._api_create(data)), 201

        @app.put("/api/v2/tickets/<int:key>")
        def update_ticket(key: int) -> JSON:
            data = self._body()
            with self._lock:
                return copy.deepcopy(self._update(key, data))
