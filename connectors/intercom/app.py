"""Baton's Intercom app, the vendor-specific half: Canvas Kit (the card in the inbox's conversation
details), the OAuth install and the uninstall request. Baton's side (the Flask views) is
``integration/service/apps/intercom.py``; this module only checks, parses and builds.

Canvas Kit (https://developers.intercom.com/docs/canvas-kit): Intercom POSTs the *initialize*
request when a teammate opens a conversation with the app in its details, and the *submit*
request when they press a button with a submit action; Baton answers with a canvas of
components (shapes: Intercom-OpenAPI ``descriptions/2.11``, checked by
``tests/connectors/intercom/test_canvas_schema.py``). Both requests, and the uninstall request,
carry ``X-Body-Signature``: the hex HMAC-SHA256 of the raw body keyed with the app's OAuth client
secret (not the SHA-1 ``X-Hub-Signature`` of webhook notifications).

Things about Canvas Kit that surprise:

- A canvas (content and stored_data) must stay under 64 KB, or Intercom shows nothing: quotes and
  lists are clipped, and shrunk further until the card fits.
- ``text`` components render Markdown links and bold: text from customers is escaped, or a quote
  could put a link into the teammate's inbox.
- There is no error message on an input: ``textarea`` takes ``error: true``, ``dropdown`` and
  ``single-select`` ``save_state: "failed"``; the message is an error-styled text below it.
- Inbox apps know only the ``submit`` and ``url`` actions (no sheets).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from connectors.base import HttpClient, json_object
from integration.core.contract import ApiInvalid, WebhookError

SIGNATURE = "X-Body-Signature"
MAX_CANVAS_BYTES = 64 * 1024
SAVE = "save_feedback"  # the button's component id
UNSET = "-"  # the resolution dropdown's "not chosen" option (an option id must be a non-empty string)


class BadRequest(ValueError):
    """A signed request Baton cannot read (400)."""


# -- signatures -------------------------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(secret: str, body: bytes, header: str | None) -> bool:
    """``header`` is the body's X-Body-Signature under ``secret`` (constant time)."""
    given = (header or "").strip().lower().encode("utf-8", "replace")  # bytes: a non-ASCII header is just wrong
    return bool(secret and header) and hmac.compare_digest(sign(secret, body).encode(), given)


# -- requests ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CanvasRequest:
    """What Baton reads from an initialize or submit request; everything else it ignores (real
    requests leave out fields the published schema calls required, e.g. ``admin.job_title``)."""

    workspace_id: str
    admin_id: str
    admin_name: str
    conversation_id: str | None
    component_id: str | None = None
    input_values: Mapping[str, str] | None = None


def canvas_request(body: bytes) -> CanvasRequest:
    try:
        data = json_object(body)
    except WebhookError as e:
        raise BadRequest(str(e)) from e
    admin = data.get("admin") if isinstance(data.get("admin"), dict) else {}
    workspace, admin_id = _text(data.get("workspace_id")), _text(admin.get("id"))
    if not workspace or not admin_id:
        raise BadRequest("workspace_id and admin.id are required")
    conversation = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}
    context = data.get("context") if isinstance(data.get("context"), dict) else {}
    cid = _text(conversation.get("id")) or _text(context.get("conversation_id"))
    values = data.get("input_values") if isinstance(data.get("input_values"), dict) else {}
    return CanvasRequest(workspace, admin_id, _text(admin.get("name")) or f"Intercom teammate {admin_id}",
                         cid if cid and len(cid) <= 64 else None, _text(data.get("component_id")) or None,
                         {str(k): v for k, v in values.items() if isinstance(v, str)})  # a checkbox sends a list


def uninstalled_workspace(body: bytes) -> str:
    """The workspace of an uninstall request: ``{"app_id": "…"}`` (Intercom staff on the developer
    forum, community.intercom.com/t/what-should-we-do-for-uninstall-follow/400; not in the docs)."""
    try:
        data = json_object(body)
    except WebhookError as e:
        raise BadRequest(str(e)) from e
    workspace = _text(data.get("app_id")) or _text(data.get("workspace_id"))
    if not workspace:
        raise BadRequest("app_id is required")
    return workspace


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


# -- cards ------------------------------------------------------------------------------------------

ACTIONS = {"escalate": "Handed over to a person", "offer_human": "Offered a person", "continue": "Kept with the bot"}


@dataclass(frozen=True)
class Limits:
    quote: int = 280
    text: int = 1200
    reasons: int = 8
    quotes: int = 3


# the first that keeps the canvas under 64 KB wins; the last always does (see test_app.py)
_SHRINKING = (Limits(), Limits(120, 400, 5, 2), Limits(0, 160, 3, 0))


def panel_canvas(panel: Mapping[str, Any], *, notice: str | None = None, error: str | None = None,
                 values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The card for ``panel`` (``views.panel_data``): the decision, why (with the evidence), the
    route and the wait, the customer, then the feedback form; ``notice`` above it all, ``error``
    beside the input it concerns, with what the teammate entered kept in ``values``."""
    for limits in _SHRINKING:
        canvas = {"canvas": {"content": {"components": _components(panel, notice, error, values or {}, limits)},
                             "stored_data": {"conversation_id": str(panel.get("ticket") or "")}}}
        if canvas_size(canvas) <= MAX_CANVAS_BYTES:
            break
    return canvas


def message_canvas(title: str, text: str) -> dict[str, Any]:
    return {"canvas": {"content": {"components": [
        {"type": "text", "id": "title", "text": _md(title), "style": "header"},
        {"type": "text", "id": "message", "text": _md(text), "style": "muted"}]}}}


def canvas_json(canvas: Mapping[str, Any]) -> bytes:
    """The response body: compact UTF-8 JSON, the bytes the 64 KB limit counts."""
    return json.dumps(canvas, ensure_ascii=False, separators=(",", ":")).encode()


def canvas_size(canvas: Mapping[str, Any]) -> int:
    return len(canvas_json(canvas))


def _components(panel: Mapping[str, Any], notice: str | None, error: str | None, values: Mapping[str, str],
                limits: Limits) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if notice:
        out.append(_say("notice", f"✓ {notice}"))
    decision = panel.get("decision")
    if decision:
        out.append(_say("decision", ACTIONS.get(decision.get("action"), str(decision.get("action"))), "header"))
        tags = [f"Priority: {decision.get('priority')}"] if decision.get("action") != "continue" else []
        if decision.get("category"):
            tags.append(f"Category: {panel.get('category') or str(decision['category']).replace('_', ' ')}")
        if tags:
            out.append(_say("tags", " · ".join(tags), "muted"))
        out.append(_say("explanation", _clip(decision.get("explanation"), limits.text)))
        out += _reasons(decision.get("reasons") or (), limits)
        out += _route(panel.get("route") or {}, limits)
        out += _suggestions(panel.get("suggestions") or (), limits)
    else:
        out.append(_say("no_decision", "Baton has not decided on this conversation yet.", "muted"))
    out += _customer(panel.get("customer"))
    out.append({"type": "divider", "id": "feedback_divider"})
    out += _feedback_form(panel, error, values)
    out += _feedback_so_far(panel.get("feedback") or (), panel.get("all_verdicts") or panel.get("verdicts") or {}, limits)
    return out


def _reasons(reasons: Sequence[Mapping[str, Any]], limits: Limits) -> list[dict[str, Any]]:
    out = [_say("why", "Why", "header")] if reasons else []
    for i, reason in enumerate(reasons[:limits.reasons]):
        out.append(_say(f"reason_{i}", f"• {_clip(reason.get('summary'), limits.text)}"))
        quotes = [e.get("quote") for e in reason.get("evidence") or () if e.get("quote")]
        for j, quote in enumerate(quotes[:limits.quotes] if limits.quote else ()):
            out.append(_say(f"reason_{i}_quote_{j}", f"“{_clip(quote, limits.quote)}”", "muted"))
    if len(reasons) > limits.reasons:
        out.append(_say("more_reasons", f"… and {len(reasons) - limits.reasons} more in Baton's console", "muted"))
    return out


def _route(route: Mapping[str, Any], limits: Limits) -> list[dict[str, Any]]:
    if not route:
        return []
    items = [("Someone free now", "yes" if route.get("live") else "no")]
    if route.get("wait_minutes") is not None:
        items.append(("Expected wait", f"about {max(1, round(float(route['wait_minutes'])))} min"))
    if route.get("opens_at"):
        items.append(("Team opens", _when(route["opens_at"])))
    if route.get("team"):
        items.insert(0, ("Went to", route["team"]))
    out = [_say("route_title", "Route and wait", "header"), _say("route", _clip(route.get("explanation"), limits.text)),
           _table(items)]
    if route.get("customer_message"):
        out.append(_say("told", f"The customer was told: “{_clip(route['customer_message'], limits.text)}”", "muted"))
    return out


def _suggestions(found: Sequence[Any], limits: Limits) -> list[dict[str, Any]]:
    """The suggested resolution, each with the solved conversation it comes from (a link to it)."""
    if not found:
        return []
    out = [_say("suggested_title", "Suggested resolution", "header"),
           _say("suggested_hint", "From this workspace's solved conversations most like this one:", "muted")]
    items = []
    for i, s in enumerate(list(found)[:3]):
        item: dict[str, Any] = {"type": "item", "id": f"suggested_{i}",
                                "title": _clip(str(getattr(s, "resolution", None) or "similar case").capitalize(), 60),
                                "subtitle": _clip(getattr(s, "gist", None) or f"conversation {getattr(s, 'ticket_id', '')}",
                                                  limits.quote or 80)}
        if getattr(s, "url", None):
            item["action"] = {"type": "url", "url": s.url}
        items.append(item)
    out.append({"type": "list", "id": "suggested", "items": items})
    return out


def _customer(customer: Any) -> list[dict[str, Any]]:
    if customer is None:
        return []
    items = [(label, getattr(customer, attr, None)) for label, attr in
             (("Name", "name"), ("Tier", "tier"), ("Plan", "plan"), ("Organization", "organization"),
              ("Language", "language"))]
    items.append(("Earlier contacts", len(getattr(customer, "recent_contacts", ()) or ())))
    return [_say("customer_title", "Customer", "header"), _table([(k, v) for k, v in items if v not in (None, "")])]


def _feedback_form(panel: Mapping[str, Any], error: str | None, values: Mapping[str, str]) -> list[dict[str, Any]]:
    verdicts: Mapping[str, str] = panel.get("verdicts") or {}
    types: list[str] = [t for t in panel.get("types") or () if t][:50]
    mine = panel.get("mine")
    if not values and mine:  # the teammate's own saved choice, shown to be changed
        values = {k: str(mine[k]) for k in ("verdict", "resolution", "missing_knowledge") if mine.get(k)}
    verdict, resolution = values.get("verdict"), values.get("resolution") or UNSET
    # which input the error concerns: an unknown choice, else nothing chosen at all (the text area)
    wrong_verdict = bool(error) and verdict is not None and verdict not in verdicts
    wrong_resolution = bool(error) and resolution != UNSET and resolution not in types
    wrong_nothing = bool(error) and not wrong_verdict and not wrong_resolution

    single: dict[str, Any] = {"type": "single-select", "id": "verdict", "label": panel.get("question") or "The escalation …",
                              "options": [{"type": "option", "id": k, "text": v} for k, v in verdicts.items()]}
    if verdict in verdicts:
        single["value"] = verdict
    dropdown: dict[str, Any] = {"type": "dropdown", "id": "resolution", "label": "Resolution",
                                "options": [{"type": "option", "id": UNSET, "text": "— not set —"}]
                                + [{"type": "option", "id": t, "text": t} for t in types],
                                "value": resolution if resolution in types else UNSET}
    area: dict[str, Any] = {"type": "textarea", "id": "missing_knowledge", "label": "What the bot should have known",
                            "placeholder": "e.g. the refund policy for annual plans"}
    if values.get("missing_knowledge"):
        area["value"] = values["missing_knowledge"][:4000]
    out: list[dict[str, Any]] = [_say("feedback_title", "Your feedback", "header"), single]
    if wrong_verdict:
        single["save_state"] = "failed"
        out.append(_say("verdict_error", error or "", "error"))
    out.append(dropdown)
    if wrong_resolution:
        dropdown["save_state"] = "failed"
        out.append(_say("resolution_error", error or "", "error"))
    out.append(area)
    if wrong_nothing:
        area["error"] = True
        out.append(_say("feedback_error", error or "", "error"))
    out.append({"type": "button", "id": SAVE, "label": "Save changes" if mine else "Save feedback", "style": "primary",
                "action": {"type": "submit"}})
    return out


def _feedback_so_far(rows: Sequence[Mapping[str, Any]], verdicts: Mapping[str, str],
                     limits: Limits) -> list[dict[str, Any]]:
    if not rows:
        return []
    out = [_say("so_far_title", "Feedback so far", "header")]
    for i, row in enumerate(list(rows)[-5:]):  # the latest five
        bits = [x for x in (verdicts.get(row.get("verdict") or "", row.get("verdict")), row.get("resolution"),
                            f"“{_clip(row.get('missing_knowledge'), limits.quote or 80)}”" if row.get("missing_knowledge") else None) if x]
        out.append(_say(f"so_far_{i}", f"{row.get('author_name') or 'someone'}: {' · '.join(map(str, bits))}", "muted"))
    return out


def _say(cid: str, text: str, style: str = "paragraph") -> dict[str, Any]:
    return {"type": "text", "id": cid, "text": _md(text), "style": style}


def _table(items: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    return {"type": "data-table",  # the one component without an id
            "items": [{"type": "field-value", "field": k, "value": _clip(str(v), 200)} for k, v in items]}


_MARKDOWN = re.compile(r"([\\`*_\[\]()<>])")


def _md(text: str) -> str:
    """Plain text for a Markdown-rendering text component: no link, no bold, no HTML from it."""
    return _MARKDOWN.sub(r"\\\1", text)


def _clip(text: Any, limit: int) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[:max(0, limit - 1)].rstrip() + "…"


def _when(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%a %d %b, %H:%M %Z").strip()
    except ValueError:
        return str(value)


# -- OAuth ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hosts:
    """Where a workspace's Intercom lives: the web app (OAuth consent) and the REST API."""

    app: str
    api: str


# the hosting regions (https://developers.intercom.com/docs/build-an-integration/learn-more/rest-apis/
# regional-hosting; the app.eu / app.au consent hosts are [3P])
REGIONS = {"us": Hosts("https://app.intercom.com", "https://api.intercom.io"),
           "eu": Hosts("https://app.eu.intercom.com", "https://api.eu.intercom.io"),
           "au": Hosts("https://app.au.intercom.com", "https://api.au.intercom.io")}


@dataclass(frozen=True)
class Teammate:
    """``GET /me`` with a workspace's token: the teammate who authorized Baton, and the workspace."""

    id: str
    name: str
    email: str
    workspace_id: str


def authorize_url(hosts: Hosts, client_id: str, state: str, redirect_uri: str) -> str:
    """Intercom's consent page; there is no ``scope`` parameter (permissions are the app's)."""
    return f"{hosts.app}/oauth?" + urlencode({"client_id": client_id, "state": state, "redirect_uri": redirect_uri})


def exchange_code(hosts: Hosts, client_id: str, client_secret: str, code: str) -> str:
    """The workspace's access token for ``code`` (it never expires: valid until uninstalled)."""
    body = HttpClient(hosts.api).request("POST", "/auth/eagle/token", json={
        "code": code, "client_id": client_id, "client_secret": client_secret})
    token = (body or {}).get("access_token") or (body or {}).get("token")
    if not isinstance(token, str) or not token:
        raise ApiInvalid("the token endpoint answered without a token")
    return token


def whoami(hosts: Hosts, token: str) -> Teammate:
    me = HttpClient(hosts.api, headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                        "Intercom-Version": "2.14"}).request("GET", "/me") or {}
    workspace = _text((me.get("app") or {}).get("id_code"))
    if not _text(me.get("id")) or not workspace:
        raise ApiInvalid("/me answered without the teammate or the workspace")
    return Teammate(_text(me["id"]), _text(me.get("name")) or _text(me.get("email")) or f"teammate {me['id']}",
                    _text(me.get("email")), workspace)
