"""The Intercom sandbox's web app and app platform: sign-in, the App Store, OAuth consent for
Baton's public app, uninstalling it, and the inbox with the app's Canvas Kit card (signed
initialize and submit requests, rendered as HTML).
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask, redirect, render_template_string, request
from markupsafe import Markup, escape

from connectors.intercom.sandbox.state import ApiError, AppRegistration, _Grant, IntercomState, _View
from connectors.sandbox import JSON, with_query

CANVAS_LIMIT = 64 * 1024  # a canvas over 64 KB is not shown
INTERACTIVE = ("input", "textarea", "dropdown", "single-select")
SIGN_IN = "intercom_sandbox_admin"  # the sign-in cookie of the sandbox's web pages


class IntercomPages(IntercomState):
    """Baton's public app on Intercom's platform, and the pages teammates see."""

    def register_app(self, registration: AppRegistration) -> None:
        """The app's settings as saved in the Developer Hub (again: replace)."""
        with self._lock:
            self.registered_app = registration

    def uninstall_app(self) -> int | None:
        """The workspace removes the app: every token it issued stops working, then its uninstall URL
        gets ``{"app_id": …}`` signed like a Canvas Kit request. What that URL answered (None: no answer)."""
        with self._lock:
            app = self._require_app()
            self._oauth_tokens.clear()
            self._grants.clear()
            self.app_installed = False
        if not app.uninstall_url:
            return None
        body = json.dumps({"app_id": self.app_id}).encode()
        try:
            return requests.post(app.uninstall_url, data=body, headers=self.canvas_headers(body), timeout=10).status_code
        except requests.RequestException:
            return None

    def canvas_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a Canvas Kit (or uninstall) request: ``X-Body-Signature`` = hex HMAC-SHA256 of
        the body, keyed with the app's client secret."""
        secret = self._require_app().client_secret
        return {"Content-Type": "application/json", "Accept": "application/json",
                "X-Body-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}

    def initialize_request(self, conversation_id: str, admin_id: str) -> JSON:
        """What Intercom POSTs to the initialize URL when a teammate opens the conversation (inbox
        capability, the conversation details): Intercom-OpenAPI 2.11 ``initialize_request``."""
        with self._lock:
            conv, admin = self._find("conversation", conversation_id), self._find("admin", admin_id)
            return {"workspace_id": self.app_id, "workspace_region": "us", "admin": self._teammate(admin),
                    "card_creation_options": {},
                    "context": {"conversation_id": int(conv["id"]), "location": "conversation", "locale": "en"},
                    "conversation": self._conversation_json(conv),
                    "contact": copy.deepcopy(self._find("contact", conv["contact_id"]))}

    def submit_request(self, conversation_id: str, admin_id: str, component_id: str, input_values: JSON,
                       current_canvas: JSON) -> JSON:
        """What Intercom POSTs to the submit URL when the teammate uses a component with a submit action.
        2.11's ``submit_request`` wraps the canvas once more (``current_canvas.current_canvas``)."""
        request_ = self.initialize_request(conversation_id, admin_id)
        del request_["card_creation_options"]
        return {**request_, "component_id": component_id, "input_values": input_values,
                "current_canvas": {"current_canvas": current_canvas}, "user": request_["contact"]}

    def _require_app(self) -> AppRegistration:
        if self.registered_app is None:
            raise ApiError(404, "not_found", "No app is registered")
        return self.registered_app

    @staticmethod
    def _teammate(admin: JSON) -> JSON:
        """An admin as Canvas Kit requests show it (the Admin model: numeric team ids, a job title)."""
        return {**copy.deepcopy(admin), "job_title": admin.get("job_title") or "",
                "team_ids": [int(t) for t in admin["team_ids"]]}

    def _card(self, kind: str, view: _View, body: JSON) -> str | None:
        """Send a Canvas Kit request and keep the canvas it answers in ``view``; what went wrong, if anything
        (Intercom then shows the app's card as failed to load)."""
        app = self._require_app()
        raw = json.dumps(body).encode()
        entry: JSON = {"kind": kind, "body": body, "status": None, "answer": None}
        with self._lock:
            self.canvas_requests.append(entry)
        try:
            answer = requests.post(app.initialize_url if kind == "initialize" else app.submit_url, data=raw,
                                   headers=self.canvas_headers(raw), timeout=10)
        except requests.RequestException as e:
            return f"the app did not answer ({type(e).__name__})"
        entry["status"] = answer.status_code
        if answer.status_code != 200:
            return f"the app answered {answer.status_code}"
        try:
            entry["answer"] = answer.json()
            canvas = entry["answer"]["canvas"]
            components = canvas["content"]["components"]
        except (ValueError, KeyError, TypeError):
            return "the app answered something that is not a canvas"
        if not isinstance(components, list) or len(answer.content) > CANVAS_LIMIT:
            return "the app's canvas is not a list of components under 64 KB"
        view.canvas = canvas
        return None

    @staticmethod
    def _input_values(canvas: JSON, form: Any) -> JSON:
        """The values of the card's interactive components, keyed by component id, as Intercom sends them."""
        values: JSON = {}
        for c in canvas.get("content", {}).get("components", []):
            name = f"in.{c.get('id')}"
            if c.get("type") == "checkbox":
                values[c["id"]] = form.getlist(name)
            elif c.get("type") in INTERACTIVE and form.get(name) is not None:
                values[c["id"]] = form.get(name)
        return values

    @staticmethod
    def _submits(canvas: JSON, component_id: str) -> bool:
        """``component_id`` is on the card and has a submit action (a button, a list item, a select …)."""
        for c in canvas.get("content", {}).get("components", []):
            for item in [c, *(c.get("items") or [] if c.get("type") == "list" else [])]:
                if item.get("id") == component_id and (item.get("action") or {}).get("type") == "submit":
                    return True
        return False
    # -- the web app: sign-in, App Store, OAuth consent, the inbox ----------------------------------
    def _add_pages(self, app: Flask) -> None:
        @app.get("/a/login")
        def sign_in() -> Any:
            """Sign in as a teammate (a cookie), then go on to ``next`` (a path on this host)."""
            admin_id, after = request.args.get("as", ""), request.args.get("next", "/a/appstore")
            with self._lock:
                known = admin_id in self._tables["admin"]
            if not known:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=after)
            response = redirect(after if after.startswith("/") and not after.startswith("//") else "/a/appstore")
            response.set_cookie(SIGN_IN, admin_id, httponly=True, samesite="Lax")
            return response

        @app.get("/a/appstore")
        def app_store() -> Any:
            return self._page("App Store", APP_STORE_PAGE, 200, reg=self.registered_app, admin=self._signed_in(),
                              installed=self.app_installed)

        @app.post("/a/appstore/uninstall")
        def app_store_uninstall() -> Any:
            if self._signed_in() is None:
                return self._page("Sign in", SIGN_IN_PAGE, 401, next="/a/appstore")
            status = self.uninstall_app()
            return self._page("App Store", APP_STORE_PAGE, 200, reg=self.registered_app, admin=self._signed_in(),
                              installed=self.app_installed, notice=f"Uninstalled; the app's uninstall URL answered {status}.")

        @app.get("/oauth")
        def oauth_consent() -> Any:
            client_id, state = request.args.get("client_id", ""), request.args.get("state", "")
            redirect_uri, problem = self._oauth_target(client_id, request.args.get("redirect_uri"))
            if problem:
                return self._page("Authorization error", ERROR_PAGE, 400, message=problem)
            admin = self._signed_in()
            if admin is None:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=request.full_path)
            return self._page("Authorize", CONSENT_PAGE, 200, reg=self.registered_app, admin=admin,
                              client_id=client_id, state=state, redirect_uri=redirect_uri)

        @app.post("/oauth/authorize")
        def oauth_authorize() -> Any:
            form = request.form
            redirect_uri, problem = self._oauth_target(form.get("client_id", ""), form.get("redirect_uri"))
            admin = self._signed_in()
            if problem or admin is None:
                return self._page("Authorization error", ERROR_PAGE, 400, message=problem or "Sign in first.")
            if form.get("decision") != "allow":
                return redirect(with_query(redirect_uri, {"error": "access_denied", "state": form.get("state", "")}))
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = _Grant(admin["id"], form["client_id"], redirect_uri, time.monotonic() + 600)
            return redirect(with_query(redirect_uri, {"code": code, "state": form.get("state", "")}))

        @app.post("/auth/eagle/token")
        def oauth_token() -> JSON:
            """A code (once, within 10 minutes) and the app's client credentials, form- or JSON-encoded."""
            data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
            reg = self.registered_app
            if (reg is None or not isinstance(data, dict) or data.get("client_id") != reg.client_id
                    or not hmac.compare_digest(str(data.get("client_secret") or "").encode(), reg.client_secret.encode())):
                raise ApiError(401, "unauthorized", "Invalid client credentials")
            with self._lock:
                grant = self._grants.pop(str(data.get("code") or ""), None)
                if grant is None or grant.expires < time.monotonic() or grant.client_id != reg.client_id:
                    raise ApiError(400, "invalid_grant", "The code is unknown, used or expired")
                token = f"tok_{secrets.token_urlsafe(24)}"
                self._oauth_tokens[token] = grant.admin_id
                self.app_installed = True
            return {"token_type": "Bearer", "token": token, "access_token": token}

        @app.get("/a/inbox/<workspace>/inbox/conversation/<conv_id>")
        def inbox_address(workspace: str, conv_id: str) -> Any:
            """A conversation's address as Intercom gives it (the client's ``url``): the inbox below."""
            query = request.query_string.decode()
            return redirect(f"/a/inbox/conversation/{quote(conv_id, safe='')}" + (f"?{query}" if query else ""))

        @app.get("/a/inbox/conversation/<conv_id>")
        def inbox(conv_id: str) -> Any:
            """The conversation, and the app's card in its details: a fresh initialize request each time."""
            admin = self._signed_in(request.args.get("as"))
            if admin is None:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=request.full_path)
            view = _View(self._find_locked("conversation", conv_id)["id"], admin["id"])
            error = self._card("initialize", view, self.initialize_request(conv_id, admin["id"])) \
                if self.registered_app else None
            return self._inbox(view, admin, error)

        @app.post("/a/inbox/conversation/<conv_id>/app")
        def inbox_submit(conv_id: str) -> Any:
            """The card's form: Intercom sends the submit request with the inputs' values."""
            with self._lock:
                view = self._views.get(request.form.get("_view", ""))
            admin = self._signed_in(view.admin_id if view else None)
            component = request.form.get("component", "")
            if view is None or admin is None or view.conversation_id != conv_id or not self._submits(view.canvas, component):
                return self._page("Inbox", ERROR_PAGE, 400, message="This card is out of date: reload the conversation.")
            body = self.submit_request(conv_id, admin["id"], component, self._input_values(view.canvas, request.form),
                                       view.canvas)
            return self._inbox(view, admin, self._card("submit", view, body))

    def _inbox(self, view: _View, admin: JSON, error: str | None) -> Any:
        view_id = secrets.token_urlsafe(12)
        with self._lock:
            self._views[view_id] = view
            conv = self._conversation_json(self._find("conversation", view.conversation_id), plaintext=True)
            contact = copy.deepcopy(self._find("contact", self._tables["conversation"][view.conversation_id]["contact_id"]))
            admins = copy.deepcopy(self._tables["admin"])
        parts = [{"who": (conv["source"]["author"] or {}).get("name"), "kind": "comment", "body": conv["source"]["body"]}]
        parts += [{"who": (p["author"] or {}).get("name"), "kind": p["part_type"], "body": p["body"]}
                  for p in conv["conversation_parts"]["conversation_parts"] if p["part_type"] in ("comment", "note")]
        return self._page(f"Inbox · {contact['name']}", INBOX_PAGE, 200, conv=conv, contact=contact, parts=parts,
                          admin=admin, reg=self.registered_app, view_id=view_id, canvas=view.canvas, error=error,
                          assignee=admins.get(str(conv["admin_assignee_id"]), {}).get("name"),
                          components=view.canvas.get("content", {}).get("components", []))

    def _oauth_target(self, client_id: str, redirect_uri: str | None) -> tuple[str, str | None]:
        """Where the consent sends the teammate back: a redirect URL the app registered (the first if none
        is named). The second value says what is wrong, if anything."""
        reg = self.registered_app
        if reg is None or client_id != reg.client_id:
            return "", "No app has this client_id."
        if redirect_uri is None:
            return reg.redirect_urls[0], None
        if redirect_uri not in reg.redirect_urls:
            return "", "redirect_uri is not one of the app's redirect URLs."
        return redirect_uri, None

    def _signed_in(self, as_admin: str | None = None) -> JSON | None:
        """The teammate using the web pages: ``?as=`` if given, else the sign-in cookie."""
        admin_id = as_admin or request.cookies.get(SIGN_IN, "")
        with self._lock:
            admin = self._tables["admin"].get(admin_id)
            return copy.deepcopy(admin) if admin else None

    def _find_locked(self, kind: str, key: str) -> JSON:
        with self._lock:
            return copy.deepcopy(self._find(kind, key))

    def _page(self, title: str, body: str, status: int, **context: Any) -> tuple[str, int]:
        with self._lock:
            admins = copy.deepcopy(list(self._tables["admin"].values()))
        return render_template_string(LAYOUT.replace("{{BODY}}", body), title=title, app_id=self.app_id,
                                      admins=admins, md=markdown, **context), status

def markdown(text: Any) -> Markup:
    """A text component's Markdown as Intercom renders it: bold and links; a backslash escapes."""
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        kept.append(m.group(1))
        return f"\x00{len(kept) - 1}\x00"

    out = str(escape(re.sub(r"\\(.)", keep, str(text or ""))))
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s\"]+)\)", r'<a href="\2" target="_blank" rel="noopener">\1</a>', out)
    return Markup(re.sub("\x00(\\d+)\x00", lambda m: str(escape(kept[int(m.group(1))])), out))


LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Intercom sandbox</title>
<style>
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;background:#f5f5f4}
header.top{display:flex;gap:16px;align-items:center;padding:10px 18px;background:#fff;border-bottom:1px solid #e5e5e5}
header.top strong{font-size:15px}header.top .who{margin-left:auto;color:#6b6b6b}
main{padding:18px}.card{background:#fff;border:1px solid #e5e5e5;border-radius:8px;padding:16px;max-width:560px}
.inbox{display:grid;grid-template-columns:1fr 360px;gap:0;min-height:calc(100vh - 45px)}
.thread{padding:18px 24px}.thread h1{font-size:18px;margin:0 0 12px}
.part{background:#fff;border:1px solid #e5e5e5;border-radius:8px;padding:10px 12px;margin:8px 0;max-width:640px}
.part.note{background:#fef8e7;border-color:#f3d98b}.part .body{white-space:pre-wrap}.part small{color:#6b6b6b;display:block;margin-bottom:2px}
.details{background:#fff;border-left:1px solid #e5e5e5;padding:14px 16px}
.details h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#6b6b6b;margin:6px 0 10px}
.app-card{border:1px solid #e5e5e5;border-radius:8px;padding:12px;margin-top:12px}
.app-card>h3{font-size:13px;margin:0 0 8px;color:#6b6b6b}
.ck-text{margin:0 0 8px}.ck-text--header{font-weight:600;font-size:14px;margin-top:6px}
.ck-text--muted{color:#6b6b6b}.ck-text--error{color:#c52d2d}.ck-align--center{text-align:center}.ck-align--right{text-align:right}
.ck-table{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0 0 8px}.ck-table dt{color:#6b6b6b}.ck-table dd{margin:0}
.ck-label{display:block;font-weight:600;margin:8px 0 4px}
.ck-input{width:100%;box-sizing:border-box;border:1px solid #d4d4d4;border-radius:6px;padding:6px 8px;font:inherit}
.ck-failed{border-color:#c52d2d!important;background:#fff6f6}
fieldset.ck-select{border:1px solid #e5e5e5;border-radius:6px;margin:8px 0;padding:6px 10px}fieldset.ck-select label{display:block}
.ck-button{display:block;width:100%;margin:10px 0 4px;padding:8px 12px;border-radius:6px;border:1px solid #0057ff;font:inherit;font-weight:600;cursor:pointer;text-align:center;text-decoration:none}
.ck-button--primary{background:#0057ff;color:#fff}.ck-button--secondary{background:#fff;color:#0057ff}.ck-button--link{border:0;background:none;color:#0057ff}
.ck-divider{border:0;border-top:1px solid #e5e5e5;margin:10px 0}.ck-spacer--xs{height:4px}.ck-spacer--s{height:8px}
.ck-spacer--m{height:16px}.ck-spacer--l{height:24px}.ck-spacer--xl{height:32px}
.ck-list{list-style:none;margin:0;padding:0}.ck-list button{all:unset;cursor:pointer;display:block;padding:6px 0}
.failed{color:#c52d2d}.btn{padding:8px 14px;border-radius:6px;border:1px solid #0057ff;background:#0057ff;color:#fff;font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
.btn.secondary{background:#fff;color:#0057ff}
</style></head><body>
<header class="top"><strong>Intercom</strong><span>workspace {{ app_id }} (sandbox)</span>
{% if admin %}<span class="who">Signed in as {{ admin.name }}</span>{% endif %}</header>
{{BODY}}
</body></html>"""

SIGN_IN_PAGE = """<main><div class="card"><h1>Sign in to Intercom</h1><ul id="teammates">
{% for a in admins %}<li><a href="/a/login?{{ {'as': a.id, 'next': next}|urlencode }}">{{ a.name }}</a> <small>{{ a.email }}</small></li>{% endfor %}
</ul></div></main>"""

ERROR_PAGE = """<main><div class="card"><h1>{{ title }}</h1><p class="failed" id="error">{{ message }}</p></div></main>"""

APP_STORE_PAGE = """<main><div class="card"><h1>App Store</h1>
{% if notice %}<p id="notice">{{ notice }}</p>{% endif %}
{% if reg %}<h2>{{ reg.name }}</h2><p>{{ reg.description }}</p>
{% if installed %}<p id="installed">Installed in this workspace.</p>
<a class="btn" id="open" href="{{ reg.installation_url }}">Open {{ reg.name }}</a>
<form method="post" action="/a/appstore/uninstall" style="display:inline"><button class="btn secondary" id="uninstall">Uninstall</button></form>
{% else %}<a class="btn" id="install" href="{{ reg.installation_url }}">Install now</a>{% endif %}
{% else %}<p>No app is listed.</p>{% endif %}</div></main>"""

CONSENT_PAGE = """<main><div class="card" id="consent"><h1>{{ reg.name }} would like to access your Intercom workspace</h1>
<p>Workspace <strong>{{ app_id }}</strong>, as <strong>{{ admin.name }}</strong>. {{ reg.name }} will be able to:</p>
<ul>{% for p in reg.permissions %}<li>{{ p }}</li>{% endfor %}</ul>
<form method="post" action="/oauth/authorize"><input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="state" value="{{ state }}"><input type="hidden" name="redirect_uri" value="{{ redirect_uri }}">
<button class="btn" name="decision" value="allow" id="authorize">Authorize access</button>
<button class="btn secondary" name="decision" value="deny" id="cancel">Cancel</button></form></div></main>"""

INBOX_PAGE = """<div class="inbox"><section class="thread" aria-label="Conversation"><h1>{{ contact.name }}</h1>
{% for p in parts %}<div class="part {{ p.kind }}"><small>{{ p.who }}{% if p.kind == 'note' %} · note{% endif %}</small><div class="body">{{ p.body }}</div></div>{% endfor %}
</section><aside class="details" aria-label="Conversation details"><h2>Conversation details</h2>
<dl class="ck-table"><dt>Assignee</dt><dd>{{ assignee or "Unassigned" }}</dd><dt>Contact</dt><dd>{{ contact.email }}</dd></dl>
{% if reg %}<div class="app-card" id="app-card" data-app="{{ reg.name }}"><h3>{{ reg.name }}</h3>
{% if error %}<p class="failed" id="app-error">The app could not be loaded: {{ error }}.</p>{% else %}
<form method="post" action="/a/inbox/conversation/{{ conv.id }}/app" id="canvas"><input type="hidden" name="_view" value="{{ view_id }}">
{% for c in components %}{% set cid = 'in.' ~ c.id %}
{% if c.type == 'text' %}<p class="ck-text ck-text--{{ c.style or 'paragraph' }} ck-align--{{ c.align or 'left' }}" data-id="{{ c.id }}">{{ md(c.text) }}</p>
{% elif c.type == 'data-table' %}<dl class="ck-table" data-id="{{ c.id }}">{% for i in c['items'] %}<dt>{{ i.field }}</dt><dd>{{ i.value }}</dd>{% endfor %}</dl>
{% elif c.type == 'divider' %}<hr class="ck-divider">
{% elif c.type == 'spacer' %}<div class="ck-spacer ck-spacer--{{ c.size or 's' }}"></div>
{% elif c.type == 'image' %}<img src="{{ c.url }}" width="{{ c.width }}" height="{{ c.height }}" alt="">
{% elif c.type == 'button' %}{% if c.action.type == 'url' %}<a class="ck-button ck-button--{{ c.style or 'primary' }}" href="{{ c.action.url }}" target="_blank" rel="noopener" data-id="{{ c.id }}">{{ c.label }}</a>
{% else %}<button class="ck-button ck-button--{{ c.style or 'primary' }}" type="submit" name="component" value="{{ c.id }}" data-id="{{ c.id }}"{% if c.disabled %} disabled{% endif %}>{{ c.label }}</button>{% endif %}
{% elif c.type == 'single-select' %}<fieldset class="ck-select{% if c.save_state == 'failed' %} ck-failed{% endif %}" data-id="{{ c.id }}"{% if c.save_state == 'failed' %} aria-invalid="true"{% endif %}><legend class="ck-label">{{ c.label }}</legend>
{% for o in c.options %}<label><input type="radio" name="{{ cid }}" value="{{ o.id }}"{% if c.value == o.id %} checked{% endif %}{% if o.disabled or c.disabled %} disabled{% endif %}{% if c.action %} onchange="this.form.requestSubmit(this.form.querySelector('[data-submit=&quot;{{ c.id }}&quot;]'))"{% endif %}> {{ o.text }}</label>{% endfor %}
{% if c.action %}<button hidden type="submit" name="component" value="{{ c.id }}" data-submit="{{ c.id }}"></button>{% endif %}</fieldset>
{% elif c.type == 'dropdown' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><select class="ck-input{% if c.save_state == 'failed' %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" data-id="{{ c.id }}"{% if c.save_state == 'failed' %} aria-invalid="true"{% endif %}{% if c.disabled %} disabled{% endif %}>
{% for o in c.options %}<option value="{{ o.id }}"{% if c.value == o.id %} selected{% endif %}{% if o.disabled %} disabled{% endif %}>{{ o.text }}</option>{% endfor %}</select>
{% elif c.type == 'textarea' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><textarea class="ck-input{% if c.error %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" rows="3" data-id="{{ c.id }}" placeholder="{{ c.placeholder or '' }}"{% if c.error %} aria-invalid="true"{% endif %}{% if c.disabled %} disabled{% endif %}>{{ c.value or '' }}</textarea>
{% elif c.type == 'input' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><input class="ck-input{% if c.save_state == 'failed' %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" value="{{ c.value or '' }}" placeholder="{{ c.placeholder or '' }}" data-id="{{ c.id }}"{% if c.disabled %} disabled{% endif %}>
{% if c.action %}<button class="ck-button ck-button--secondary" type="submit" name="component" value="{{ c.id }}">Submit</button>{% endif %}
{% elif c.type == 'checkbox' %}<fieldset class="ck-select" data-id="{{ c.id }}"><legend class="ck-label">{{ c.label }}</legend>{% for o in c.option %}<label><input type="checkbox" name="{{ cid }}" value="{{ o.id }}"{% if o.id in (c.value or []) %} checked{% endif %}> {{ o.text }}</label>{% endfor %}</fieldset>
{% elif c.type == 'list' %}<ul class="ck-list" data-id="{{ c.id }}">{% for i in c['items'] %}<li>{% if i.action and i.action.type == 'submit' %}<button type="submit" name="component" value="{{ i.id }}"><strong>{{ i.title }}</strong> {{ i.subtitle or '' }}</button>
{% elif i.action and i.action.type == 'url' %}<a href="{{ i.action.url }}" target="_blank" rel="noopener"><strong>{{ i.title }}</strong> {{ i.subtitle or '' }}</a>{% else %}<strong>{{ i.title }}</strong> {{ i.subtitle or '' }}{% endif %}</li>{% endfor %}</ul>
{% else %}<p class="failed">Unsupported component {{ c.type }}</p>{% endif %}
{% endfor %}</form>{% endif %}</div>{% else %}<p>No app installed.</p>{% endif %}
</aside></div>"""
