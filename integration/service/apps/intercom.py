"""The Intercom app on Baton's side (``manifests/intercom/app.json`` lists the URLs below as the
Developer Hub needs them).

POST /apps/intercom/canvas/initialize   Canvas Kit: the card in the conversation details
POST /apps/intercom/canvas/submit       Canvas Kit: the card's "Save feedback" button
    401 bad or missing X-Body-Signature · 400 a signed body Baton cannot read · 200 a canvas
    (also for a workspace where Baton is not installed: the card says so)
POST /apps/intercom/uninstall           the app's uninstall URL: Baton stops for that workspace
GET  /apps/intercom/install             the app's Installation URL: starts OAuth (or, within the hour of
                                        a console session this browser holds, opens that console again)
GET  /apps/intercom/oauth/callback      OAuth's redirect URL: installs (first time), records who installed
                                        it by name, and opens the console

Who may use the console: Intercom tells an app nothing it could trust about a teammate's role
(``/me`` has no role and a Canvas request's ``admin`` has none either). So Baton's console admins
are the teammate whose authorization Baton acts with (``api_user_id``: who installed the app
through OAuth, or whose token the operator installed with) plus the teammate ids an admin lists
in the installation's ``console_admins`` setting. Every teammate gets the card in the inbox.
"""
from __future__ import annotations

import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from connectors.intercom import app as intercom
from integration.core.contract import ApiError, ApiHostError, ApiTimeoutError
from integration.core.model import Installation
from integration.service.console import Identity, secure_page, start_session
from integration.service.console import session as sessions
from integration.service.console.views import panel_data, save_feedback
from integration.service.egress import check_base_url
from integration.service.installs import install

bp = Blueprint("app_intercom", __name__, url_prefix="/apps/intercom")

STATE_SECONDS = 600  # from the Installation URL to the OAuth callback
STATE_COOKIE = "baton_intercom_oauth"  # binds the OAuth round trip to the browser that started it
COOKIE_PATH = "/apps/intercom/oauth"  # sent to the callback only
CONSOLE_COOKIE = "baton_intercom_console"  # the console's session, for the App Store's Open within the hour
CONSOLE_COOKIE_PATH = "/apps/intercom/install"  # sent to the Installation URL only
UNINSTALLED_BY = "Intercom (the app was uninstalled from the workspace)"


def _baton() -> Any:
    return current_app.extensions["baton"]


# -- Canvas Kit -------------------------------------------------------------------------------------

@bp.post("/canvas/initialize")
def canvas_initialize() -> Any:
    return _canvas(submit=False)


@bp.post("/canvas/submit")
def canvas_submit() -> Any:
    return _canvas(submit=True)


def _canvas(submit: bool) -> Any:
    body, refusal = _signed_body()
    if refusal:
        return refusal
    try:
        req = intercom.canvas_request(body)
    except intercom.BadRequest as e:
        return jsonify(error=str(e)), 400
    inst = _installation(req.workspace_id)
    if inst is None:
        return _answer(intercom.message_canvas(
            "Baton is not connected", "Baton is not installed in this workspace. An admin installs it from "
            "Intercom's App Store; the card then shows Baton's handoffs here."))
    if req.conversation_id is None:
        return _answer(intercom.message_canvas("Baton", "Open a conversation to see Baton's handoff."))
    notice = error = None
    values: dict[str, str] = {}
    if submit and req.component_id == intercom.SAVE:
        who = Identity(inst.id, req.admin_id, req.admin_name, "agent", "intercom", "page")
        form = {k: (None if v == intercom.UNSET else v) for k, v in (req.input_values or {}).items()}
        error = save_feedback(inst, who, req.conversation_id, form)
        if error:
            values = dict(req.input_values or {})
        else:
            notice = "Thanks: your feedback is saved."
    return _answer(intercom.panel_canvas(panel_data(inst, req.conversation_id, req.admin_id), notice=notice, error=error,
                                         values=values))


def _answer(canvas: dict[str, Any]) -> Any:
    # the bytes the 64 KB limit was measured on (jsonify would escape non-ASCII and grow them)
    return current_app.response_class(intercom.canvas_json(canvas), mimetype="application/json")


# -- uninstall --------------------------------------------------------------------------------------

@bp.post("/uninstall")
def uninstall() -> Any:
    """Intercom POSTs ``{"app_id": …}``, signed like Canvas Kit requests, to the app's uninstall
    URL when a workspace removes the app (its token is revoked already). Every active
    installation of that workspace stops."""
    body, refusal = _signed_body()
    if refusal:
        return refusal
    try:
        workspace = intercom.uninstalled_workspace(body)
    except intercom.BadRequest as e:
        return jsonify(error=str(e)), 400
    stopped = []
    while (inst := _installation(workspace)) is not None:
        _baton().store.lifecycle.uninstall(inst.id, UNINSTALLED_BY)
        stopped.append(inst.id)
    return jsonify(status="uninstalled" if stopped else "unknown workspace", installations=stopped)


def _signed_body() -> tuple[bytes, Any]:
    secret = _baton().settings.intercom_client_secret
    if not secret:
        return b"", (jsonify(error="Baton's Intercom app is not configured (BATON_INTERCOM_CLIENT_SECRET)"), 503)
    body = request.get_data(cache=True)
    if not intercom.signed(secret, body, request.headers.get(intercom.SIGNATURE)):
        return body, (jsonify(error="invalid signature"), 401)
    return body, None


def _installation(workspace: str) -> Installation | None:
    inst = _baton().store.installations.find("intercom", setting=("app_id", workspace))
    return inst if inst is not None and inst.status != "uninstalled" else None


# -- OAuth: install and sign in -----------------------------------------------------------------------

@bp.get("/install")
def install_start() -> Any:
    """The Installation URL: off to Intercom's consent page. ``?region=eu|au`` for workspaces
    hosted there; a development deployment may name a local Intercom (the sandbox) with ``?host=``."""
    settings = _baton().settings
    if not (settings.intercom_client_id and settings.intercom_client_secret and settings.public_url):
        return _page(503, "Baton's Intercom app is not configured on this server (client id, client secret, public URL).")
    try:
        hosts = _hosts(request.args.get("region"), request.args.get("host"))
    except ValueError as e:
        return _page(400, str(e))
    reopened = _open_console(request.cookies.get(CONSOLE_COOKIE))
    if reopened is not None:  # an installed app, opened again within its session's hour: no new consent
        return reopened
    nonce = secrets.token_urlsafe(24)
    state = _states().dumps({"n": nonce, "app": hosts.app, "api": hosts.api})
    response = redirect(intercom.authorize_url(hosts, settings.intercom_client_id, state, _redirect_uri()))
    response.set_cookie(STATE_COOKIE, nonce, max_age=STATE_SECONDS, path=COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=settings.public_url.startswith("https://"))
    return response


@bp.get("/oauth/callback")
def oauth_callback() -> Any:
    settings, store = _baton().settings, _baton().store
    if request.args.get("error"):
        return _page(400, "Intercom did not authorize Baton, so nothing was installed. Start again from the App Store.")
    code, state = request.args.get("code", ""), request.args.get("state", "")
    if not code or not state:
        return _page(400, "This link is incomplete (no code or state): start again from Intercom's App Store.")
    try:
        data = _states().loads(state, max_age=STATE_SECONDS)
        hosts = intercom.Hosts(str(data["app"]), str(data["api"]))
        nonce = str(data["n"])
    except SignatureExpired:
        return _page(400, "The installation took too long: start again from Intercom's App Store.")
    except (BadSignature, KeyError, TypeError):
        return _page(400, "This authorization did not start at Baton (its state is not one Baton issued).")
    if not secrets.compare_digest(nonce.encode(), request.cookies.get(STATE_COOKIE, "").encode("utf-8", "replace")):
        return _page(400, "This authorization was started in another browser: start again from Intercom's App Store.")
    try:
        token = intercom.exchange_code(hosts, settings.intercom_client_id, settings.intercom_client_secret, code)
        me = intercom.whoami(hosts, token)
        inst = _installation(me.workspace_id)
        if inst is None:
            inst = install(store, "intercom", hosts.api,
                           {"access_token": token, "client_secret": settings.intercom_client_secret},
                           settings.public_url, settings={"api_user_name": me.name}, mode="webhooks",
                           development=settings.development)
            store.rules.record_audit(inst.id, me.name, "install", {"via": "Intercom OAuth", "teammate": me.id})
    except (ApiHostError, ApiTimeoutError):
        return _page(502, "Intercom could not be reached: try again in a minute.")
    except ValueError as e:  # egress.check_base_url: an address Baton does not connect to
        return _page(400, f"Baton cannot install for this Intercom address: {e}")
    except ApiError:
        return _page(400, "Intercom refused this authorization (an old or already used code): start again from "
                          "Intercom's App Store.")
    if not is_console_admin(inst, me.id):
        return _page(403, f"Baton's console is for this workspace's Baton admins. {me.name}, ask the teammate who "
                          f"installed Baton to add your Intercom teammate id {me.id} to Baton's console admins. "
                          "Baton's card in each conversation is open to every teammate.")
    if me.id == str(inst.settings.get("api_user_id") or "") and inst.settings.get("api_user_name") != me.name:
        store.installations.change_settings(inst.id, {"api_user_name": me.name}, me.name)  # who installed Baton, by name
    token = start_session(Identity(inst.id, me.id, me.name, "admin", "intercom", "page"))
    response = redirect(url_for("console.overview", s=token), code=303)
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    response.set_cookie(CONSOLE_COOKIE, token, max_age=sessions.SESSION_SECONDS, path=CONSOLE_COOKIE_PATH,
                        httponly=True, samesite="Lax", secure=settings.public_url.startswith("https://"))
    return response


def _open_console(token: str | None) -> Any:
    """The console again for the browser that opened it within the hour (its session, kept in a
    first-party cookie on the Installation URL's path: Intercom's console is Baton's own page, not a
    frame), while the teammate is still a console admin of an installed workspace; else None."""
    if not token:
        return None
    try:
        ident = sessions.read(current_app.config["SECRET_KEY"], token)
    except sessions.SessionError:
        return None
    inst = _baton().store.installations.get(ident.installation_id)
    if (inst is None or inst.provider != "intercom" or inst.status == "uninstalled" or ident.helpdesk != "intercom"
            or not ident.admin or not is_console_admin(inst, ident.user_id)):
        return None
    return redirect(url_for("console.overview", s=token), code=303)


def is_console_admin(inst: Installation, teammate_id: str) -> bool:
    admins = {str(inst.settings.get("api_user_id") or "")} | {str(a) for a in inst.settings.get("console_admins") or ()}
    return bool(teammate_id) and teammate_id in admins


def _hosts(region: str | None, host: str | None) -> intercom.Hosts:
    if host:
        if not (_baton().settings.development and _local(host)):
            raise ValueError("host= names a local Intercom (the sandbox) and needs a development deployment.")
        local = check_base_url("intercom", host, development=True)  # never a link-local or metadata address
        return intercom.Hosts(local, local)  # the sandbox serves both
    if (region or "us") not in intercom.REGIONS:
        raise ValueError(f"Unknown Intercom region {region!r}: one of {', '.join(intercom.REGIONS)}.")
    return intercom.REGIONS[region or "us"]


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _states() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="baton-intercom-oauth")


def _redirect_uri() -> str:
    return f"{_baton().settings.public_url.rstrip('/')}{url_for('.oauth_callback')}"


def _page(status: int, message: str) -> Any:
    return render_template("error.html", message=message), status


@bp.after_request
def _headers(response: Any) -> Any:
    # the callback's URL carries the code and the state: never in a Referer, never cached, never framed
    return secure_page(response, "'none'")
