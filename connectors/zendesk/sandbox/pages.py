"""The Zendesk sandbox's pages and app platform: the read-only agent views (``/agent/tickets``),
Baton's app installed with its requirements, shown in its locations (nav_bar, ticket_sidebar) as
Zendesk loads signed URLs (an RS256 JWT) and answering the ZAF SDK's postMessage calls, and OAuth
for Baton's global client.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import html
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, redirect, request

from connectors.sandbox import JSON, fill, iso, sanitize, with_query
from connectors.zendesk.sandbox.state import MESSAGING, ZendeskState

CSP = "default-src 'none'; style-src 'unsafe-inline'"
APP_SLUG = "baton"  # the nav_bar app's page is /agent/apps/<slug of the app's name>
APP_TOKEN_SECONDS = 300  # Zendesk's signed-URL JWTs live about five minutes
CODE_SECONDS = 600
SESSION_COOKIE = "zendesk_sandbox_user"  # stands in for Zendesk's own sign-in


class ZendeskPages(ZendeskState):
    """Baton's app on Zendesk's app platform, and the pages agents and admins see."""

    # -- the app platform ------------------------------------------------------------------------
    def install_app(self, settings: Mapping[str, Any], locations: Mapping[str, str],
                    requirements: Mapping[str, Any] | None = None) -> JSON:
        """An admin installs Baton's app: its settings, its locations (``{"nav_bar": URL template}``,
        ``{{setting.x}}`` filled from the settings) and the requirements Zendesk creates with it
        (webhooks only here)."""
        values = {f"setting.{key}": str(value) for key, value in settings.items()}
        with self._lock:
            now = iso(self.clock())
            inst = {"id": next(self._ids["app_installation"]), "app_id": self.app_id, "product": "support",
                    "settings": dict(settings), "enabled": True, "created_at": now, "updated_at": now}
            self._app_installations[inst["id"]] = inst
            self._app_locations[inst["id"]] = {name: fill(url, values) for name, url in locations.items()}
            self._requirement_hooks[inst["id"]] = [
                self._create_webhook({**spec, "endpoint": fill(spec.get("endpoint", ""), values)})["id"]
                for spec in ((requirements or {}).get("webhooks") or {}).values()]
            return copy.deepcopy(inst)

    def uninstall_app(self, installation_id: int | None = None) -> None:
        """An admin uninstalls the app (the only one when no id is given): Zendesk deletes what its
        requirements created, and tells no one."""
        with self._lock:
            ids = [installation_id] if installation_id is not None else list(self._app_installations)
            for inst_id in ids:
                self._find(self._app_installations, inst_id)
                del self._app_installations[inst_id], self._app_locations[inst_id]
                for hook_id in self._requirement_hooks.pop(inst_id, []):
                    self._webhooks.pop(hook_id, None)
                    self._secrets.pop(hook_id, None)

    def app_installation(self) -> JSON | None:
        with self._lock:
            return copy.deepcopy(next(iter(self._app_installations.values()), None))

    def requirement_webhooks(self) -> list[JSON]:
        """The webhooks the app's requirements created, as they are now."""
        with self._lock:
            return [copy.deepcopy(self._webhooks[h]) for hooks in self._requirement_hooks.values() for h in hooks
                    if h in self._webhooks]

    def rotate_app_key(self) -> None:
        """A new key pair for the app: tokens are signed with it from now on."""
        with self._lock:
            self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def app_public_key(self) -> str:
        return self._key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def app_token(self, user_id: int, location: str, *, installation_id: int | None = None,
                  lifetime: int = APP_TOKEN_SECONDS, **overrides: Any) -> str:
        """The JWT Zendesk POSTs as ``token`` when it loads an app location for ``user_id``
        (``overrides`` replace claims, for tests of what Baton refuses)."""
        with self._lock:
            inst_id = installation_id if installation_id is not None else next(iter(self._app_installations), 0)
        base = self.url
        now = int(time.time())  # real time, not the sandbox clock: Baton checks it against its own
        claims = {"iss": urlsplit(base).netloc, "aud": f"{base}/api/v2/apps/installations/{inst_id}.json",
                  "sub": f"{base}/api/v2/users/{user_id}.json", "iat": now, "nbf": now, "exp": now + lifetime,
                  "cnf": {"jku": f"{base}/api/v2/apps/{self.app_id}/public_key.pem"},
                  # A hash of the request, like Atlassian Connect's; its recipe is not documented.
                  "qsh": hashlib.sha256(f"POST&{location}".encode()).hexdigest(),
                  "context": {"product": "support", "location": location}, **overrides}
        return jwt.encode(claims, self._key(), algorithm="RS256")

    def _key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._app_key is None:
                self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._app_key
    def _add_pages(self, app: Flask) -> None:
        """What people see: the agent's ticket pages, the app's locations and the OAuth consent."""
        self._add_oauth_routes(app)
        self._add_app_pages(app)

        @app.get("/agent/tickets")
        def agent_tickets() -> Response:
            with self._lock:
                rows = "".join(
                    "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                        f"<a href='/agent/tickets/{t['id']}'>#{t['id']}</a>",
                        html.escape(t["subject"]) + (" <small>(messaging)</small>" if t["via"]["channel"] in MESSAGING else ""),
                        t["status"] + (" <small>(AI agent ticket)</small>" if t["id"] in self._ai_tickets else ""),
                        t["priority"] or "-", self._name(self._users, t["assignee_id"]),
                        self._name(self._groups, t["group_id"]), html.escape(" ".join(t["tags"])))) + "</tr>"
                    for t in sorted(self._tickets.values(), key=lambda t: t["id"], reverse=True))
            head = "".join(f"<th>{h}</th>" for h in ("Id", "Subject", "Status", "Priority", "Assignee", "Group",
                                                      "Tags"))
            return _page("Tickets", f"<h1>Tickets</h1><table cellpadding='6'><tr>{head}</tr>{rows}</table>")

        @app.get("/agent/tickets/<int:ticket_id>")
        def agent_ticket(ticket_id: int) -> Response:
            with self._lock:
                if ticket_id not in self._tickets:
                    abort(404)
                t = self._tickets[ticket_id]
                parts: list[str] = []
                for c in self._comments[ticket_id]:
                    who = f"<b>{self._name(self._users, c['author_id'])}</b> <small>{c['created_at']}</small>"
                    if c["public"]:
                        parts.append(f"<div style='border:1px solid #ddd;padding:8px;margin:8px 0'>{who}"
                                     f"<div style='white-space:pre-wrap'>{html.escape(c['body'])}</div></div>")
                    else:  # internal notes show their HTML, as Zendesk does
                        parts.append(f"<div class='internal-note' style='background:#fff8c4;border:1px solid #e0c84a;"
                                     f"padding:8px;margin:8px 0'>{who} <i>internal note</i>"
                                     f"<div>{sanitize(c['html_body'])}</div></div>")
                meta = " · ".join((
                    t["status"], f"priority {t['priority'] or '-'}",
                    f"requester {self._name(self._users, t['requester_id'])}",
                    f"assignee {self._name(self._users, t['assignee_id'])}",
                    f"group {self._name(self._groups, t['group_id'])}", f"tags {html.escape(' '.join(t['tags']))}"))
                title = f"#{t['id']} {html.escape(t['subject'])}"
                messaging = self._sc_ticket_html(ticket_id)
            body = f"<p><a href='/agent/tickets'>All tickets</a></p><h1>{title}</h1><p>{meta}</p>{messaging}" + "".join(parts)
            user = self._signed_in()
            frame = self._app_frame("ticket_sidebar", user, ticket_id) if user is not None else None
            if frame is None:
                return _page(title, body)
            layout = (f"<div style='display:flex;gap:16px;align-items:flex-start'><div style='flex:1'>{body}</div>"
                      f"<aside style='width:320px;flex:none'>{frame[0]}</aside></div>")  # Zendesk's app sidebar is 320 px
            return self._signing_in(_page(title, layout, frame[1], width="1300px"), user)
    # -- the app platform's pages and OAuth --------------------------------------------------------
    def _signed_in(self) -> int | None:
        """The staff user viewing an agent page: ``?as=<id>`` signs them in, the cookie keeps them."""
        raw = request.args.get("as") or request.cookies.get(SESSION_COOKIE) or ""
        with self._lock:
            user = self._users.get(int(raw)) if raw.isdigit() else None
        return None if user is None or user["role"] == "end-user" else int(user["id"])

    @staticmethod
    def _signing_in(response: Response, user_id: int) -> Response:
        if request.args.get("as"):
            response.set_cookie(SESSION_COOKIE, str(user_id), httponly=True, samesite="Lax")
        return response

    def _app_frame(self, location: str, user_id: int, ticket_id: int | None = None) -> tuple[str, str] | None:
        """The app's iframe at ``location`` with the form that loads it as Zendesk loads signed URLs
        (POST, ``token`` field, ``origin`` and ``app_guid`` in the query), and the CSP the page needs
        for them; None when no installed app has that location."""
        with self._lock:
            found = [(i, urls[location]) for i, urls in self._app_locations.items() if location in urls]
            if not found:
                return None
            inst_id, url = found[0]
            settings, user = dict(self._app_installations[inst_id]["settings"]), dict(self._users[user_id])
        guid = str(uuid.uuid4())
        action = with_query(url, {"origin": request.host_url.rstrip("/"), "app_guid": guid})
        context: JSON = {"product": "support", "location": location, "instanceGuid": guid,
                         "account": {"subdomain": self.subdomain}}
        values: JSON = {"currentUser": {"id": user_id, "name": user["name"], "role": user["role"]},
                        "currentUser.id": user_id}
        if ticket_id is not None:
            context["ticketId"] = values["ticket.id"] = ticket_id
        metadata = {"appId": self.app_id, "installationId": inst_id, "name": "Baton", "settings": settings}

        def attr(value: Any) -> str:
            return html.escape(value if isinstance(value, str) else json.dumps(value), quote=True)
        height = "800px" if location == "nav_bar" else "560px"
        markup = (f'<form id="baton-app-launch" method="post" action="{attr(action)}" target="baton-app" '
                  f'data-app-guid="{guid}" data-context="{attr(context)}" data-values="{attr(values)}" '
                  f'data-metadata="{attr(metadata)}"><input type="hidden" name="token" '
                  f'value="{attr(self.app_token(user_id, location, installation_id=inst_id))}"></form>'
                  f'<iframe id="baton-app" name="baton-app" title="Baton" '
                  f'style="width:100%;height:{height};border:1px solid #d8dcde"></iframe>'
                  '<script src="/agent/assets/zaf_host.js"></script>')
        app = _origin(url)
        csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; frame-src {app}; form-action {app}"
        return markup, csp

    def _add_app_pages(self, app: Flask) -> None:
        @app.get("/agent/assets/zaf_host.js")
        def zaf_host() -> Response:
            return Response(ZAF_HOST_JS, mimetype="text/javascript")

        @app.get("/agent/apps/<slug>")
        def agent_app(slug: str) -> Response:
            user = self._signed_in()
            if user is None:
                return _page("Zendesk", "<p>Sign in first: add <code>?as=&lt;your user id&gt;</code>.</p>", status=401)
            frame = self._app_frame("nav_bar", user) if slug == APP_SLUG else None
            if frame is None:
                abort(404)
            body = "<p><a href='/agent/tickets'>Tickets</a></p>" + frame[0]
            return self._signing_in(_page("Baton", body, frame[1], width="1200px"), user)

    def _add_oauth_routes(self, app: Flask) -> None:
        """Zendesk's OAuth authorization code grant for Baton's global client (https://developer.zendesk.com/
        documentation/api-basics/authentication/using-oauth-to-implement-an-oauth-flow/)."""

        def problem(params: Mapping[str, str]) -> str | None:
            if params.get("response_type") != "code":
                return "response_type must be code"
            if params.get("client_id") not in self.oauth_clients:
                return "unknown client_id"
            if not str(params.get("redirect_uri", "")).startswith(("http://", "https://")):
                return "redirect_uri must be an http(s) URL"
            return None

        @app.get("/oauth/authorizations/new")
        def oauth_consent() -> Response:
            wrong = problem(request.args)
            if wrong:
                return _page("Zendesk", f"<p>Invalid authorization request: {html.escape(wrong)}.</p>", status=400)
            user = self._signed_in()
            if user is None:
                return _page("Zendesk", "<p>Sign in to Zendesk first.</p>", status=401)
            fields = "".join(f'<input type="hidden" name="{key}" value="{html.escape(request.args.get(key, ""))}">'
                             for key in ("response_type", "client_id", "redirect_uri", "scope", "state"))
            body = (f"<h1>Allow access?</h1><p><b>{html.escape(request.args['client_id'])}</b> asks for access to "
                    f"your account as <b>{self._name(self._users, user)}</b>: "
                    f"{html.escape(request.args.get('scope', 'read'))}.</p>"
                    f'<form method="post" action="/oauth/authorizations">{fields}'
                    '<button name="decision" value="allow" id="allow">Allow</button> '
                    '<button name="decision" value="deny" id="deny">Deny</button></form>')
            # Chrome applies form-action to the redirect that follows the form, too.
            csp = f"{CSP}; form-action 'self' {_origin(request.args['redirect_uri'])}"
            return self._signing_in(_page("Allow access?", body, csp), user)

        @app.post("/oauth/authorizations")
        def oauth_decide() -> Response:
            user = self._signed_in()
            if problem(request.form) or user is None:
                abort(400)
            params = {"state": request.form.get("state", "")}
            if request.form.get("decision") == "allow":
                code = secrets.token_urlsafe(24)
                with self._lock:
                    self._codes[code] = {"client_id": request.form["client_id"], "user": user,
                                         "redirect_uri": request.form["redirect_uri"],
                                         "scope": request.form.get("scope", "read"),
                                         "expires": time.monotonic() + CODE_SECONDS}
                params = {"code": code, **params}
            else:
                params = {"error": "access_denied", **params}
            return redirect(with_query(request.form["redirect_uri"], params), code=302)  # type: ignore[return-value]

        @app.post("/oauth/tokens")
        def oauth_token() -> tuple[JSON, int]:
            data: Any = request.get_json(silent=True) if request.is_json else request.form
            data = data if isinstance(data, Mapping) else {}

            def refuse(status: int, error: str, description: str) -> tuple[JSON, int]:
                return {"error": error, "error_description": description}, status
            secret = self.oauth_clients.get(str(data.get("client_id")))
            if secret is None or not hmac.compare_digest(str(data.get("client_secret", "")).encode(), secret.encode()):
                return refuse(401, "invalid_client", "Client authentication failed.")
            if data.get("grant_type") != "authorization_code":
                return refuse(400, "unsupported_grant_type", "The authorization grant type is not supported.")
            with self._lock:
                grant = self._codes.pop(str(data.get("code")), None)  # a code is used once, right or wrong
                if (grant is None or grant["expires"] < time.monotonic() or grant["client_id"] != data.get("client_id")
                        or grant["redirect_uri"] != data.get("redirect_uri")):
                    return refuse(400, "invalid_grant", "The provided authorization grant is invalid, expired, or "
                                                        "revoked.")
                token = secrets.token_urlsafe(32)
                self._tokens[token] = grant["user"]
            return {"access_token": token, "token_type": "bearer", "scope": grant["scope"]}, 200

    @staticmethod
    def _name(table: dict[int, JSON], key: int | None) -> str:
        return html.escape(table[key]["name"]) if key in table else "-"

def _page(title: str, body: str, csp: str = CSP, status: int = 200, width: str = "960px") -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family:sans-serif;max-width:{width};margin:2em auto'>{body}</body></html>")
    return Response(page, status=status, mimetype="text/html", headers={"Content-Security-Policy": csp})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# The host side of the ZAF SDK's postMessage protocol (zendesk_app_framework_sdk lib/client.js): the
# app posts JSON strings to its parent with the page's origin as target; the host answers the
# handshake with "zaf.app.registered" (context and metadata) and each request {id, request, params}
# with {id, result}; a path it does not know comes back in result.errors, as ZAF does.
ZAF_HOST_JS = """(function () {
  var form = document.getElementById("baton-app-launch"), frame = document.getElementById("baton-app");
  var appOrigin = new URL(form.action).origin, guid = form.dataset.appGuid;
  var context = JSON.parse(form.dataset.context), values = JSON.parse(form.dataset.values);
  window.addEventListener("message", function (event) {
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) { return; }
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (!data || data.appGuid !== guid) { return; }
    function reply(message) { frame.contentWindow.postMessage(JSON.stringify(message), appOrigin); }
    if (data.key === "iframe.handshake") {
      reply({key: "zaf.app.registered", message: {context: context, metadata: JSON.parse(form.dataset.metadata)}});
    } else if (data.request === "get") {
      var result = {}, errors = {};
      data.params.forEach(function (path) {
        if (Object.prototype.hasOwnProperty.call(values, path)) { result[path] = values[path]; }
        else { errors[path] = {name: "APIUnavailable", message: "is not available here", path: path}; }
      });
      if (Object.keys(errors).length) { result.errors = errors; }
      reply({id: data.id, result: result});
    } else if (data.request === "invoke") {
      var size = (data.params.resize || [])[0];
      if (size && size.height) { frame.style.height = String(size.height).replace(/[^0-9a-z%.]/gi, ""); }
      reply({id: data.id, result: {}});
    }
  });
  form.submit();
})();
"""
