"""The Zendesk app on Baton's side (``manifests/zendesk``: a ZAF v2 app with signed URLs).

POST /apps/zendesk/nav_bar          Zendesk's signed load of the apps-bar page: an admin gets the
                                    console (303), an agent a 403; on an account Baton does not
                                    know yet, the "Connect Baton" page.
POST /apps/zendesk/ticket_sidebar   the signed load of the ticket sidebar: a page whose script asks
                                    Zendesk (ZAF SDK) which ticket this is, then opens the panel.
GET  /apps/zendesk/launch.js        that script.
GET  /apps/zendesk/connect          starts OAuth with Baton's global client (in a new tab).
GET  /apps/zendesk/oauth/callback   ends it: the installation and its webhook, then back to Zendesk.

Who the user is comes only from the JWT Zendesk signed and from Zendesk's API (their role); never
from the query string. Refused sign-ins are 401 pages. The checks themselves are in
``connectors/zendesk/app.py``.

Uninstalling: Zendesk calls no one when an app is uninstalled (there is no uninstall event for
Support apps); it deletes what the app's requirements created, which includes the webhook Baton
adopts at connect time, so events stop at once. ``sweep_uninstalled`` then finds the accounts
whose app is gone and marks their installations uninstalled.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, render_template_string, \
    request, url_for
from markupsafe import Markup

from connectors.base import HttpClient, seg
from connectors.zendesk import app
from connectors.zendesk.client import ZendeskClient
from integration.core.contract import ApiError, ApiHostError, ApiTimeoutError, ApiUnauthorized
from integration.service.console import THEMES, Identity, secure_page, start_session
from integration.service.installs import install
from integration.service.settings import Settings
from integration.service.store import Store

log = logging.getLogger("baton.apps.zendesk")

bp = Blueprint("app_zendesk", __name__, url_prefix="/apps/zendesk")

# Where Zendesk shows a nav_bar app: /agent/apps/<its name as a slug>. The callback sends the admin
# back there, and the app's signed load then opens the console.
NAV_BAR_PAGE = "/agent/apps/baton"
NONCE_COOKIE = "baton_zendesk_oauth"
CONNECTED_BY = "zendesk_app"  # settings["connected_by"] of installations made by the app's OAuth flow

LAUNCH_JS = """(function () {
  var root = document.getElementById("baton-launch");
  function say(text) { root.querySelector("p").textContent = text; }
  var client = window.ZAFClient && window.ZAFClient.init();
  if (!client) { say("Open Baton from a ticket in Zendesk."); return; }
  client.invoke("resize", {width: "100%", height: "560px"});
  client.get("ticket.id").then(function (data) {
    var id = data && data["ticket.id"];
    if (!id) { say("Zendesk did not say which ticket this is: reload the ticket."); return; }
    window.location.replace(root.getAttribute("data-panel") + "&ticket=" + encodeURIComponent(String(id)));
  }, function () { say("Zendesk did not say which ticket this is: reload the ticket."); });
})();
"""

PAGE = """{% extends "base.html" %}{% block title %}Baton{% endblock %}{% block content %}{{ body }}{% endblock %}"""
LAUNCH = """<div id="baton-launch" data-panel="{{ panel }}"><p>Opening Baton for this ticket…</p></div>
<script src="{{ url_for('console.static', filename='vendor/zaf/zaf_sdk.js') }}"></script>
<script src="{{ url_for('app_zendesk.launch_script') }}"></script>"""
CONNECT = """<section class="connect"><h1>Connect Baton to this Zendesk account</h1>
<p>Baton reads each conversation while your bot answers and, when a person must take over, leaves the
agent a handoff note and routes the ticket. To do that it needs access to your account's tickets,
users and groups, and a webhook.</p>
<p>An administrator allows that once, in Zendesk. You come back here afterwards.</p>
<p><a class="c-btn c-btn--primary" id="connect" href="{{ url_for('app_zendesk.connect', state=state) }}"
 target="_blank" rel="noopener">Connect Baton</a></p></section>"""


def _baton() -> Any:
    return current_app.extensions["baton"]


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def _keys() -> app.KeyCache:
    """The public keys seen, per Flask app (so per deployment, and per test)."""
    cache = current_app.extensions.setdefault("baton_zendesk_keys", app.KeyCache(app.fetch_public_key))
    return cache  # type: ignore[no-any-return]


def _show(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
    body = Markup(render_template_string(template, **values))  # rendered (and escaped) already
    return render_template_string(PAGE, body=body, themes=THEMES["zendesk"]), status


def _refuse(status: int, message: str) -> tuple[str, int]:
    return render_template("error.html", message=message, themes=THEMES["zendesk"]), status


@bp.after_request
def _headers(response: Response) -> Response:
    # Session tokens and OAuth states ride in URLs: no Referer, no caching. Framed by Zendesk only.
    ancestors = "'self' https://*.zendesk.com"
    if getattr(g, "zendesk_account", None):
        ancestors += f" {g.zendesk_account}"
    if _baton().settings.development:
        ancestors += " http://127.0.0.1:* http://localhost:*"
    return secure_page(response, ancestors)


@bp.get("/launch.js")
def launch_script() -> Response:
    return Response(LAUNCH_JS, mimetype="text/javascript")


@bp.post("/<location>")
def signed_load(location: str) -> Any:
    """Zendesk loads an app location: verify who sent the user, then hand over to the console."""
    if location not in app.LOCATIONS:
        abort(404)
    settings: Settings = _baton().settings
    if not settings.zendesk_app_id:
        return _refuse(503, "Baton's Zendesk app is not configured here (BATON_ZENDESK_APP_ID).")
    try:
        claims = app.verify_signed_load(request.form.get("token", ""), _keys(), settings.zendesk_app_id, location,
                                        settings.development)
    except app.AppTokenError as e:
        log.warning("zendesk.app.refused", extra={"location": location, "why": str(e)})
        return _refuse(401, f"Baton could not verify this sign-in from Zendesk ({e}). Reload the page in Zendesk.")
    g.zendesk_account = claims.account
    inst = _baton().store.installations.find("zendesk", base_url=claims.account)
    if inst is None or inst.status == "uninstalled":
        if location != "nav_bar":
            return _refuse(403, "Baton is not connected to this Zendesk account yet: an administrator connects it "
                                "by opening Baton in the apps bar.")
        state = app.sign_state(_secret(), claims.account, claims.user_id, secrets.token_urlsafe(16))
        return _show(CONNECT, state=state)
    try:  # the role is Zendesk's word, asked with the installation's own access
        user = ZendeskClient(inst).http.request("GET", f"/api/v2/users/{seg(claims.user_id)}.json")["user"]
    except ApiUnauthorized:
        if location == "nav_bar":  # the callback checks the new token's user is an administrator
            state = app.sign_state(_secret(), claims.account, claims.user_id, secrets.token_urlsafe(16))
            return _show(CONNECT, state=state)
        return _refuse(503, "Zendesk refuses Baton's access to this account (it was revoked or expired): an "
                            "administrator must connect Baton again.")
    except ApiError as e:
        log.warning("zendesk.app.user-unreadable", extra={"installation": inst.id, "why": str(e)})
        return _refuse(503, "Zendesk did not tell Baton who you are: reload the page in Zendesk.")
    role = app.role(user)
    if role is None:
        return _refuse(403, "Baton is for this account's agents and administrators.")
    if location == "nav_bar" and role != "admin":
        return _refuse(403, "Only the account's administrators can use Baton's console. The Baton panel on each "
                            "ticket is open to every agent.")
    token = start_session(Identity(inst.id, claims.user_id, str(user.get("name") or ""), role, "zendesk", "iframe"))
    if location == "nav_bar":
        return redirect(url_for("console.overview", s=token), code=303)
    return _show(LAUNCH, panel=url_for("console.panel", s=token))


# -- connecting an account ------------------------------------------------------------------------

def _callback_url() -> str:
    public = _baton().settings.public_url or request.host_url.rstrip("/")
    return f"{public}{url_for('app_zendesk.oauth_callback')}"


@bp.get("/connect")
def connect() -> Any:
    """The Connect button's target (a top-level tab: Zendesk's consent page cannot be framed)."""
    settings: Settings = _baton().settings
    try:
        state = app.read_state(_secret(), request.args.get("state"))
    except app.AppTokenError as e:
        return _refuse(400, str(e))
    if not (settings.zendesk_client_id and settings.zendesk_client_secret):
        return _refuse(503, "Baton's Zendesk OAuth client is not configured here (BATON_ZENDESK_CLIENT_ID/SECRET).")
    response = redirect(app.authorize_url(state["account"], settings.zendesk_client_id, _callback_url(),
                                          request.args["state"]), code=302)
    # The callback must come back to this browser: it shows the nonce the state carries.
    response.set_cookie(NONCE_COOKIE, state["nonce"], max_age=app.STATE_SECONDS, httponly=True,
                        secure=request.is_secure, samesite="Lax", path=url_for("app_zendesk.oauth_callback"))
    return response


@bp.get("/oauth/callback")
def oauth_callback() -> Any:
    settings: Settings = _baton().settings
    store: Store = _baton().store
    try:
        state = app.read_state(_secret(), request.args.get("state"))
    except app.AppTokenError as e:
        return _refuse(400, str(e))
    if not hmac.compare_digest(request.cookies.get(NONCE_COOKIE, "").encode(), state["nonce"].encode()):
        return _refuse(400, "This connection was started in another browser or tab that is gone: open Baton from "
                            "Zendesk and connect again.")
    if request.args.get("error"):
        return _refuse(403, "Zendesk did not allow the connection, so Baton is not connected.")
    code = request.args.get("code", "")
    if not code or len(code) > 512:
        return _refuse(400, "Zendesk sent no authorization code: connect again from Baton in Zendesk.")
    account = state["account"]
    try:
        token = app.exchange_code(account, code, settings.zendesk_client_id, settings.zendesk_client_secret,
                                  _callback_url())
        zendesk = HttpClient(account, headers={"Authorization": f"Bearer {token}"})
        me = zendesk.request("GET", "/api/v2/users/me.json")["user"]
    except (ApiHostError, ApiTimeoutError):
        return _refuse(503, "Zendesk did not answer: try connecting again in a minute.")
    except (ApiError, app.AppTokenError, KeyError, TypeError):
        return _refuse(400, "Zendesk refused this connection (the code expired or was used already): connect again.")
    if str(me.get("id")) != state["user"]:
        return _refuse(403, "You allowed access as another Zendesk user than the one who asked to connect Baton.")
    if app.role(me) != "admin":
        return _refuse(403, "Only an administrator of this Zendesk account can connect Baton.")
    inst = store.installations.find("zendesk", base_url=account)
    if inst is None or inst.status == "uninstalled":
        try:
            _install(store, settings, account, token, str(me.get("name") or me["id"]))
        except ApiError as e:
            log.warning("zendesk.app.install-failed", extra={"account": account, "why": str(e)})
            return _refuse(503, "Baton could not set up its webhook in Zendesk: try connecting again.")
        except ValueError as e:  # egress.check_base_url: an address Baton does not connect to
            return _refuse(400, f"Baton cannot connect to this Zendesk account: {e}")
    else:  # connected again (the old token was revoked): the same installation, a new token
        store.installations.update(inst.id, credentials={"oauth_token": token})
        store.rules.record_audit(inst.id, str(me.get("name") or me["id"]), "reconnect", {"via": CONNECTED_BY})
    response = redirect(f"{account}{NAV_BAR_PAGE}", code=303)
    response.delete_cookie(NONCE_COOKIE, path=url_for("app_zendesk.oauth_callback"))
    return response


def _install(store: Store, settings: Settings, account: str, token: str, who: str) -> str:
    """The installation, with Baton's webhook; the app's own (requirements.json) adopted when present."""
    public = settings.public_url or request.host_url.rstrip("/")
    inst = install(store, "zendesk", account, {"oauth_token": token}, public,
                   settings={"bot_user_ids": [], "connected_by": CONNECTED_BY}, mode="events",
                   development=settings.development)
    adopted = app.adopt_requirement_webhook(ZendeskClient(inst).http, f"{public}/webhooks/zendesk/{inst.id}",
                                            str(inst.settings.get("webhook_id")))
    if adopted:
        store.installations.update(inst.id, webhook_secret=adopted["webhook_secret"],
                                   settings={**inst.settings, "webhook_id": adopted["webhook_id"]})
    store.rules.record_audit(inst.id, who, "connect", {"via": CONNECTED_BY, "adopted_webhook": bool(adopted)})
    return inst.id


# -- uninstalling ---------------------------------------------------------------------------------

def sweep_uninstalled(store: Store, settings: Settings) -> list[str]:
    """Mark uninstalled every installation made by the app whose account no longer has Baton's app
    (``GET /api/v2/apps/installations``), deleting Baton's webhook there if it is still around. For
    a periodic task: Zendesk tells no one about an uninstall. Returns the installations marked."""
    gone = []
    for inst_id in store.installations.active():
        inst = store.installations.get(inst_id)
        if inst is None or inst.provider != "zendesk" or inst.settings.get("connected_by") != CONNECTED_BY:
            continue
        http = ZendeskClient(inst).http
        try:
            if app.app_installed(http, settings.zendesk_app_id):
                continue
        except ApiError:  # unreachable or refused: try again next time; the pipeline flags refusals
            continue
        try:  # an adopted webhook went with the app; Baton's own would keep calling
            http.request("DELETE", f"/api/v2/webhooks/{seg(inst.settings.get('webhook_id'))}")
        except ApiError:
            pass
        store.lifecycle.uninstall(inst.id, "zendesk (the app was uninstalled)")
        gone.append(inst.id)
    return gone
