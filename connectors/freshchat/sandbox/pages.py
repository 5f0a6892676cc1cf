"""The Freshchat sandbox's pages: a read-only inbox for people (the demo's ``--serve``), at the
path of a conversation's ``url``; no API, no auth.
"""
from __future__ import annotations

import html
from urllib.parse import urlsplit

from flask import Flask, Response, abort

from connectors.freshchat.client import TAGS_PROPERTY
from connectors.freshchat.sandbox.state import FreshchatState
from connectors.sandbox import JSON


class FreshchatPages(FreshchatState):
    """The inbox people see."""

    def _add_pages(self, app: Flask) -> None:
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

def _page(title: str, body: str) -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · Freshchat sandbox</title>"
            f"</head><body style='font-family:sans-serif;max-width:960px;margin:2em auto'>{body}</body></html>")
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
