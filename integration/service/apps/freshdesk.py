"""The Freshdesk app on Baton's side (Freshworks FDK, Platform 3.0; the package is
``manifests/freshdesk/``).

A Freshworks app page cannot frame a remote URL: its packaged pages reach a backend only through
request templates that Freshworks' proxy sends (``client.request.invokeTemplate``). So Baton's
console and panel reach Freshdesk agents as HTML fragments returned by ``POST /apps/freshdesk/page``,
which the app's shell injects; its links and forms come back the same way.

POST /apps/freshdesk/install    from the settings page (iparams.html ``validate()``): the account's
    address and the API key Baton will write with (``X-Freshdesk-Api-Key``). Both are checked
    against Freshdesk, then the installation is created (or, for an account already installed,
    found) and a new app key is answered; the page keeps it as a secure iparam.
POST /apps/freshdesk/page       from the app's pages, through the proxy: ``X-Baton-Key``, and a body
    ``{path, method, form, user, session}``. Answers ``{html, status, session, path, styles}``.
    With ``installation``: the console and panel of a Freshdesk Messaging (Freshchat)
    installation of the same business, when that installation names this one in its setting
    ``freshdesk_installation`` (set by the operator at install: Freshchat has no app of Baton's).
POST /apps/freshdesk/uninstall  from the app's ``onAppUninstall`` handler (server/server.js).

The app key: ``<installation id>.<256 random bits>``; Baton stores its SHA-256 in the installation's
settings (never the key: a database dump does not open anyone's console) and compares digests in
constant time. Installing again issues a new key, which ends the old one.

Who the user is: ``loggedInUser`` is read by the page's own JavaScript and nothing signs it, so
anyone who can run script in an agent's Freshdesk tab could claim another agent's id. Baton
accepts only the key the proxy adds (so the request comes from this account's installed app),
checks the claimed id is an agent of this account with the Freshdesk API, and takes admin or
agent from that agent's Freshdesk roles, never from the page. Then a console session (frame
"fdk") carries the user for an hour without asking Freshdesk again.
"""
from __future__ import annotations

import contextvars
import secrets
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, current_app, jsonify, request, url_for
from markupsafe import escape
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

import connectors
from connectors.base import json_object
from connectors.freshdesk import app as fdk
from integration.core.contract import ApiError, ApiNotFound, ApiRateLimited, ApiUnauthorized, NotOurs
from integration.core.model import Installation
from integration.service.console import THEMES, Identity, start_session
from integration.service.console import session as sessions
from integration.service.egress import check_base_url
from integration.service.installs import install

bp = Blueprint("app_freshdesk", __name__, url_prefix="/apps/freshdesk")

PAGE_PREFIXES = ("/console/", "/panel")  # the console blueprint's pages: nothing else is reachable
MAX_REDIRECTS = 5
MAX_FIELDS = 500


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@bp.errorhandler(Refused)
def _refused(e: Refused) -> Any:
    # ``html``: what the app's shell shows in place of a page
    html = ('<div class="c-callout c-callout--error" role="alert">'
            f'<p class="c-callout__paragraph">{escape(e.message)}</p></div>')
    return jsonify(error=e.message, html=html), e.status


def issue_key(installation_id: str) -> tuple[str, dict[str, str]]:
    """A new app key for an installation and the settings change that stores its digest (the
    caller saves it, e.g. ``store.installations.change_settings(id, change, actor)``). The old key stops working."""
    made = fdk.new_key(installation_id)
    return made.key, {fdk.KEY_SETTING: made.digest}


def _baton() -> Any:
    return current_app.extensions["baton"]


def _json() -> dict[str, Any]:
    """The request's JSON object, parsed by the rule every untrusted body follows (``json_object``:
    Flask's own parser has no depth limit, and its RecursionError was a 500)."""
    if not request.is_json:
        raise Refused(400, "The body must be a JSON object (Content-Type: application/json).")
    try:
        return json_object(request.get_data(cache=True))
    except NotOurs as e:
        raise Refused(400, f"The body must be a JSON object ({e}).") from None


def _authenticated() -> Installation:
    """The installation whose key the proxy sent, or 401 (410 once Baton was uninstalled)."""
    key = request.headers.get(fdk.KEY_HEADER, "")
    inst_id = fdk.key_installation(key)
    inst = _baton().store.installations.get(inst_id) if inst_id else None
    if inst is None or inst.provider != "freshdesk" or not fdk.key_matches(key, inst.settings.get(fdk.KEY_SETTING)):
        raise Refused(401, "Missing or wrong app key: reinstall Baton from the Freshdesk Marketplace.")
    if inst.status == "uninstalled":
        raise Refused(410, "Baton was uninstalled from this Freshdesk account.")
    return inst


def _freshdesk(inst: Installation) -> Any:
    """The Freshdesk connector's HTTP client for this installation (its auth, timeouts, errors)."""
    client: Any = connectors.get("freshdesk").client(inst)
    return client.http


def _public_url() -> str:
    return _baton().settings.public_url or request.host_url.rstrip("/")


# install and uninstall

@bp.post("/install")
def install_app() -> Any:
    """Check the address and the API key against Freshdesk, then install (or find) and answer a new key."""
    data = _json()
    api_key = request.headers.get(fdk.API_KEY_HEADER, "").strip()
    if not api_key or len(api_key) > 200:
        raise Refused(400, "The Freshdesk API key is missing (Profile settings → Your API key).")
    try:
        development = _baton().settings.development
        base_url = check_base_url("freshdesk", fdk.account_url(data.get("domain"), development), development)
    except ValueError as e:
        raise Refused(400, str(e)) from None
    probe = Installation("new", "freshdesk", base_url, {"api_key": api_key}, "")
    try:
        me = _freshdesk(probe).request("GET", "/api/v2/agents/me")
        _freshdesk(probe).request("GET", "/api/v2/roles")  # Baton reads roles to tell admins from agents
    except ApiUnauthorized as e:
        raise Refused(422, f"Freshdesk refused this API key ({e.status}). Use the API key of an administrator "
                           "(Profile settings → Your API key).") from None
    except ApiError as e:
        raise Refused(422, f"Baton could not use Freshdesk at {base_url}: {e}") from None
    if not isinstance(me, Mapping):
        raise Refused(422, f"{base_url} did not answer as Freshdesk does (GET /api/v2/agents/me).")
    store, who = _baton().store, f"{fdk.agent_name(me)} (Freshdesk app)"
    inst = store.installations.find("freshdesk", base_url=base_url)
    created = inst is None
    if inst is None:
        try:
            inst = install(store, "freshdesk", base_url, {"api_key": api_key}, _public_url(), mode="app",
                           development=development)
        except ApiError as e:
            raise Refused(422, f"Baton could not use Freshdesk at {base_url}: {e}") from None
    else:  # installed again: the key just proven replaces the stored one (and revives an uninstalled account,
        # whose webhook secret went with its data: a new one)
        store.installations.update(inst.id, credentials={"api_key": api_key},
                                   webhook_secret=inst.webhook_secret or secrets.token_urlsafe(32))
        inst = store.installations.get(inst.id)  # type: ignore[assignment]
    key, change = issue_key(inst.id)
    store.installations.change_settings(inst.id, change, who)
    store.rules.record_audit(inst.id, who, "app installed" if created else "app installed again", {"base_url": base_url})
    return jsonify(installation=inst.id, key=key, webhook_secret=inst.webhook_secret), 201 if created else 200


@bp.post("/uninstall")
def uninstall_app() -> Any:
    inst = _authenticated()
    _baton().store.lifecycle.uninstall(inst.id, "Freshdesk (the app was uninstalled)")
    return jsonify(status="uninstalled")


# the pages

@bp.post("/page")
def page() -> Any:
    inst = _authenticated()
    data = _json()
    method = str(data.get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise Refused(400, "method must be GET or POST")
    path = data.get("path")
    if not isinstance(path, str) or len(path) > 2000 or not path.startswith(PAGE_PREFIXES) or ".." in path:
        raise Refused(400, "path must be one of Baton's console or panel pages, e.g. /console/")
    form = _form(data.get("form"))
    user = fdk.user_id(data.get("user"))
    if user is None:
        raise Refused(400, "user must be the logged-in agent ({id: …} from client.data.get('loggedInUser'))")
    token = _session(inst, user, data.get("session"), _linked(inst, data.get("installation")))
    html, status, final = _dispatch(method, path, form, token)
    styles = [_public_url() + url_for("console.static", filename=name) for name in (*THEMES["freshdesk"], "baton.css", "charts.css")]
    return jsonify(html=html, status=status, session=token, path=final, styles=styles)


def _form(raw: Any) -> list[tuple[str, str]]:
    """Form fields as ``[[name, value], …]`` (a field may repeat) or ``{name: value}``."""
    pairs = list(raw.items()) if isinstance(raw, Mapping) else raw if raw is not None else []
    if not isinstance(pairs, list) or len(pairs) > MAX_FIELDS:
        raise Refused(400, f"form must be a list of [name, value] pairs (at most {MAX_FIELDS})")
    fields = []
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise Refused(400, "form must be a list of [name, value] pairs of strings")
        fields.append((pair[0], pair[1]))
    return fields


# The connectors whose installations a Freshdesk app may open: they have no app of their own.
LINKABLE = ("freshchat",)


def _linked(inst: Installation, wanted: Any) -> Installation:
    """The installation the pages are for: this one, or a Freshchat installation that names this
    one as its Freshdesk app (``settings["freshdesk_installation"]``). The link is made on the
    Freshchat side, by whoever installed it: a Freshdesk admin cannot reach another tenant's
    conversations by naming its installation id."""
    if wanted is None or wanted == inst.id:
        return inst
    linked = _baton().store.installations.get(wanted) if isinstance(wanted, str) and len(wanted) <= 64 else None
    if (linked is None or linked.provider not in LINKABLE or linked.status == "uninstalled"
            or linked.settings.get("freshdesk_installation") != inst.id):
        raise Refused(403, "That installation is not linked to this Freshdesk account.")
    return linked


def _session(inst: Installation, user: str, token: Any, target: Installation | None = None) -> str:
    """The session the shell holds, while it is this user's in this installation (or the linked
    ``target``); else a new one, once Freshdesk confirms the user is one of the account's agents
    (and which role)."""
    target = target or inst
    if isinstance(token, str) and token:
        try:
            ident = sessions.read(str(current_app.config["SECRET_KEY"]), token)
        except sessions.SessionError:
            ident = None
        wanted = (target.id, user, "freshdesk", "fdk")
        if ident and (ident.installation_id, ident.user_id, ident.helpdesk, ident.frame) == wanted:
            return token
    api = _freshdesk(inst)
    try:
        agent = api.request("GET", f"/api/v2/agents/{user}")
        roles = api.request("GET", "/api/v2/roles")
    except ApiNotFound:
        raise Refused(403, "You are not an agent of this Freshdesk account.") from None
    except ApiRateLimited:
        raise Refused(429, "Freshdesk asks Baton to slow down: open Baton again in a minute.") from None
    except ApiUnauthorized:
        raise Refused(502, "Freshdesk refused Baton's API key: an administrator must install Baton again "
                           "with a working key.") from None
    except ApiError as e:
        raise Refused(502, f"Baton could not reach Freshdesk to check who you are ({e}).") from None
    if not isinstance(agent, Mapping) or str(agent.get("id")) != user:
        raise Refused(403, "You are not an agent of this Freshdesk account.")
    role = fdk.role_of(agent, roles if isinstance(roles, list) else [])
    return start_session(Identity(target.id, user, fdk.agent_name(agent), role, "freshdesk", "fdk"))


def _dispatch(method: str, path: str, form: list[tuple[str, str]], token: str) -> tuple[str, int, str]:
    """Run the console's page as if the browser had asked for it, following its redirects
    (post/redirect/get) here; the session replaces any ``s`` the page sent."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(path)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "s"]
        builder = EnvironBuilder(path=parts.path, method=method, base_url=request.host_url,
                                 query_string=urlencode([*query, ("s", token)]),
                                 data=MultiDict([*((k, v) for k, v in form if k != "s"), ("s", token)])
                                 if method == "POST" else None)
        # an empty context: the page gets its own app context and ``g``, not this request's
        body, status, headers = contextvars.Context().run(run_wsgi_app, app.wsgi_app, builder.get_environ(),
                                                           buffered=True)
        code = int(status.split()[0])
        location = urlsplit(headers.get("Location", ""))
        if code in (301, 302, 303, 307, 308) and location.path.startswith(PAGE_PREFIXES):
            path, method, form = location.path + (f"?{location.query}" if location.query else ""), "GET", []
            continue
        shown = urlencode(query)
        return b"".join(body).decode("utf-8", "replace"), code, parts.path + (f"?{shown}" if shown else "")
    raise Refused(508, "Too many redirects.")
