"""Baton's face inside each helpdesk: the admin console (overview, rules, preview, versions,
roster, activity) and the agent panel on a ticket. Server-rendered pages; each helpdesk's app
(``integration/service/apps/``) proves who the user is and hands over a session (see
``session.py``), and the same pages serve all three, in each helpdesk's look.

Every request carries the session token ``s`` (query, form field or ``X-Baton-Session``); every
POST carries ``csrf`` bound to it. Admins use the console and the panel, agents the panel only;
a session opens its own installation's data and nothing else.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, render_template, request
from markupsafe import Markup

from integration.core.model import RESOLUTION_TYPES
from integration.service.console import session as sessions
from integration.service.console.session import Identity, SessionError
from integration.service.console.words import DECIDED

# The look of each helpdesk: the stylesheets (vendored under static/, with their licences) a page
# loads after Baton's own. The markup uses Zendesk Garden's class names (c-btn, c-table, c-callout,
# c-tag, c-txt); the other themes style the same classes in their helpdesk's look.
THEMES: dict[str, tuple[str, ...]] = {
    "zendesk": ("vendor/garden/bedrock.css", "vendor/garden/buttons.css", "vendor/garden/forms.css",
                "vendor/garden/tables.css", "vendor/garden/tags.css", "vendor/garden/callouts.css"),
    "freshdesk": ("freshdesk.css",),
    "intercom": ("intercom.css",),
}

VERDICTS = {"right": "Escalation was right", "not_needed": "Not needed", "too_late": "Came too late"}
# what an agent is asked, in the words of what Baton did (the stored verdicts are the same three:
# "should have been handed over" is an escalation that came too late, never at all), and how an
# answer reads in the feedback so far
QUESTIONS = {
    "continue": ("Keeping it with the bot was …", {"right": "Right: the bot could handle it",
                                                     "too_late": "Wrong: it should have been handed over"}),
    "offer_human": ("Offering a person was …", {"right": "Right", "not_needed": "Not needed: the bot could handle it",
                                                 "too_late": "Too late: it should have been handed over sooner"}),
    "escalate": ("The handoff was …", {"right": "Right", "not_needed": "Not needed: the bot could handle it",
                                       "too_late": "Too late: it should have come sooner"}),
}
SAID = {"continue": {"right": "Right to keep with the bot", "too_late": "Should have been handed over"}}


bp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
               static_url_path="/console/static")


def baton() -> Any:
    return current_app.extensions["baton"]


def secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def identity() -> Identity:
    return g.identity  # type: ignore[no-any-return]


def start_session(ident: Identity) -> str:
    """A session token for a user the helpdesk just vouched for (the apps call this)."""
    return sessions.issue(secret(), ident)


@bp.before_app_request
def _load_session() -> Any:
    """Pages under /console and /panel need a session; a POST needs its CSRF token too."""
    if request.blueprint != "console" or request.endpoint == "console.static":
        return None
    if not secret():
        return _error(503, "Baton's console needs BATON_SECRET_KEY (or BATON_SESSION_KEY) to be set.")
    token = request.values.get("s") or request.headers.get("X-Baton-Session")
    try:
        g.identity = sessions.read(secret(), token)
    except SessionError as e:
        return render_template("error.html", message=str(e), identity=None, fragment=False), 401
    g.token = token
    inst = baton().store.installations.get(g.identity.installation_id)
    g.installation = inst  # also for an error page: it may be framed by this installation's helpdesk
    if "\x00" in request.path or any("\x00" in v for v in request.values.values()):  # PostgreSQL cannot
        # even compare such text (a path id included: /console/preview/%00 was a 500 there)
        return _error(400, "This request carries a NUL character: Baton refuses it.")
    if request.method == "POST" and not sessions.csrf_ok(secret(), token or "",
                                                        request.form.get("csrf") or request.headers.get("X-CSRF-Token")):
        return _error(403, "This form is out of date (missing or wrong CSRF token): reload the page and try again.")
    if request.path.startswith("/console") and not g.identity.admin:
        return _error(403, "Only the helpdesk's administrators can use Baton's console. The Baton panel on each "
                           "ticket is open to every agent.")
    if inst is None or inst.status == "uninstalled":
        return _error(403, "Baton is not installed in this helpdesk account any more.")
    return None


@bp.after_app_request
def _headers(response: Any) -> Any:
    return secure_page(response, frame_ancestors()) if request.blueprint == "console" else response


def secure_page(response: Any, ancestors: str) -> Any:
    """The headers of every page that carries a session token or an OAuth state in its URLs: never
    sent on in a Referer, never cached, only Baton's own files, framed by ``ancestors`` only."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
        f"frame-ancestors {ancestors}")
    return response


def frame_ancestors() -> str:
    """Who may frame Baton's pages: the installation's helpdesk (its address), else none."""
    inst = getattr(g, "installation", None)
    if inst is None:
        return "'none'"
    return f"'self' {inst.base_url.rstrip('/')}" + (" https://*.zendesk.com" if inst.provider == "zendesk" else "")


def _error(status: int, message: str) -> Any:
    return render_template("error.html", message=message), status


ID_MAX = 2**31 - 1  # the largest id or version number the database holds (PostgreSQL INTEGER)


def whole_number(raw: str | None, low: int = 1, high: int = ID_MAX) -> int | None:
    """A number a query string or a path gives a page (a version, a count): ASCII digits for a whole
    number from ``low`` to ``high``, else None, and the page says that no such thing exists. Never
    ``int()`` on what a URL carries: it takes "٣", " 7", "1_000" and "-1", raises on "²" and on 5000
    digits, and a number beyond the column's range fails inside the database as a server error."""
    text = raw or ""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    def link(endpoint: str, **values: Any) -> str:
        from flask import url_for

        return url_for(endpoint, s=getattr(g, "token", None), **values)

    def hidden() -> Markup:
        token = getattr(g, "token", "") or ""
        return Markup('<input type="hidden" name="s" value="{}"><input type="hidden" name="csrf" value="{}">').format(
            token, sessions.csrf_token(secret(), token))

    ident = getattr(g, "identity", None)
    return {"link": link, "hidden": hidden, "identity": ident, "installation": getattr(g, "installation", None),
            "themes": THEMES.get(ident.helpdesk, ()) if ident else (),
            "fragment": bool(ident and ident.frame == "fdk"), "when": _when, "decided": DECIDED}


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "never"


from integration.service.console import analytics, views, words  # noqa: E402,F401  (register their routes on bp)

__all__ = ["bp", "Identity", "start_session", "whole_number", "ID_MAX", "RESOLUTION_TYPES", "VERDICTS", "QUESTIONS", "SAID"]
