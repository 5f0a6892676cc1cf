"""Who is using the console or the agent panel, proven once by the helpdesk and then carried by
Baton itself.

Each helpdesk proves identity its own way, once (Zendesk: an RS256 JWT on the iframe's first
POST; Freshdesk: the installation key its request proxy adds to every call; Intercom: OAuth, or
the signed Canvas Kit request). From then on Baton carries a short-lived token of its own in
links and forms (``s``), not a cookie: the console lives in a third-party iframe, where browsers
block cookies. Every form also carries a CSRF token bound to the session token.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_SECONDS = 3600  # a console tab stays usable an hour after its last page
ROLES = ("admin", "agent")


class SessionError(Exception):
    """No session, a forged one, or an expired one: the user opens Baton from the helpdesk again."""


@dataclass(frozen=True)
class Identity:
    installation_id: str
    user_id: str
    name: str
    role: str  # admin: the console and the panel; agent: the panel only
    helpdesk: str  # zendesk | freshdesk | intercom: the look of the pages
    frame: str = "iframe"  # iframe (Zendesk) | fdk (pages fetched through Freshdesk's proxy) | page (Intercom)

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="baton-console")


def issue(secret: str, identity: Identity) -> str:
    if identity.role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return _serializer(secret).dumps(asdict(identity))


def read(secret: str, token: str | None, max_age: int | None = None) -> Identity:
    if not token:
        raise SessionError("no session: open Baton from your helpdesk")
    try:
        data: Any = _serializer(secret).loads(token, max_age=SESSION_SECONDS if max_age is None else max_age)
    except SignatureExpired as e:
        raise SessionError("your session expired: open Baton from your helpdesk again") from e
    except BadSignature as e:
        raise SessionError("this session is not one Baton issued") from e
    try:
        return Identity(**data)
    except TypeError as e:
        raise SessionError("this session is not one Baton issued") from e


def csrf_token(secret: str, token: str) -> str:
    """The CSRF token of a session: only a page Baton rendered for that session knows it."""
    return hmac.new(secret.encode(), f"csrf:{token}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(secret: str, token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret, token), given or "")
