"""Baton's Zendesk app (ZAF v2, ``manifests/zendesk/``): the checks its web side relies on, with no
web framework in them.

Signed URLs (https://developer.zendesk.com/documentation/apps/build-an-app/building-a-server-side-app/
part-5-secure-the-app): with ``"signedUrls": true`` Zendesk loads each app location by POSTing the
location URL (which carries ``origin`` and ``app_guid`` in its query) with a form field ``token``: a
JWT signed RS256 with the app's private key, valid about five minutes, that comes with the first
load only. Its claims: ``iss`` = ``{subdomain}.zendesk.com``, ``aud`` =
``https://{subdomain}.zendesk.com/api/v2/apps/installations/{app installation id}.json``, ``sub`` =
the signed-in user, ``iat``/``nbf``/``exp``, ``qsh``, ``cnf.jku`` and ``context`` =
``{"product": "support", "location": "nav_bar"}``. The key is published at
``{account}/api/v2/apps/{app id}/public_key.pem``; whether it is the same for every account is
not documented, so keys are kept per account and app.

Not in the token: the user's role (Baton asks the API) and, in a ticket sidebar, the ticket (the
ZAF SDK in the iframe asks Zendesk for ``ticket.id``).
"""
from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from connectors.base import HttpClient, json_value, pooled_session, seg
from connectors.zendesk import DESCRIPTOR
from integration.core.contract import ApiError, ApiInvalid, NotOurs

ALGORITHMS = ["RS256"]  # pinned: never "none", never an HMAC keyed with the public key
LEEWAY = 30  # seconds of clock skew allowed on exp/nbf/iat
LOCATIONS = ("nav_bar", "ticket_sidebar")
PRODUCT = "support"
REFETCH_SECONDS = 60.0  # a key is fetched again at most this often when a signature fails
# Production issuers are the descriptor's domains; a sandbox's "127.0.0.1:5000" is accepted in development only.
_LOCAL_HOST = re.compile(r"(?:localhost|127\.0\.0\.1|\[::1\]):\d{1,5}")

OAUTH_SCOPE = "read write"  # tickets, users, groups, webhooks, triggers and app installations
STATE_SECONDS = 600  # an OAuth round trip must finish within ten minutes
WEBHOOK_NAME = "Baton handoff"  # what connectors/zendesk/client.py and requirements.json call it


class AppTokenError(Exception):
    """A sign-in Baton cannot accept: missing, malformed, forged, expired, or not for this account."""


@dataclass(frozen=True)
class AppClaims:
    """Who Zendesk says opened the app, and where."""

    account: str  # https://{subdomain}.zendesk.com (the sandbox's http://host:port in development)
    user_id: str
    app_installation_id: str  # Zendesk's id of the app installation (not Baton's installation)
    location: str


def account_url(issuer: Any, development: bool = False) -> str:
    """The helpdesk address a token's ``iss`` names. Only ``*.zendesk.com`` over https, so a token can
    never make Baton fetch a key from (or trust) another host; a local sandbox in development."""
    if isinstance(issuer, str) and DESCRIPTOR.serves(issuer) and issuer == issuer.lower():
        return f"https://{issuer}"
    if development and isinstance(issuer, str) and _LOCAL_HOST.fullmatch(issuer):
        return f"http://{issuer}"
    raise AppTokenError("the token does not come from a Zendesk account")


def readable(token: str) -> str:
    """``token`` once its header and claims are JSON by ``json_value``'s rule (not nested deeper
    than MAX_JSON_DEPTH), before PyJWT parses them with a plain ``json.loads``; else AppTokenError."""
    for segment in token.split(".")[:2]:
        try:
            json_value(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, NotOurs) as e:  # not base64 (binascii.Error, non-ASCII), not JSON, too deep
            raise AppTokenError(f"not a JWT ({e})") from e
    return token


def unverified_issuer(token: str) -> str:
    """``iss`` read without checking anything: only to know whose key verifies the token."""
    try:
        claims = jwt.decode(readable(token), options={"verify_signature": False})
    except (jwt.PyJWTError, RecursionError) as e:  # RecursionError: only if readable() was fooled
        raise AppTokenError("not a JWT") from e
    return claims.get("iss")  # type: ignore[no-any-return]


def verify(token: str, public_key: str | bytes, account: str, location: str) -> AppClaims:
    """The claims of ``token`` once its RS256 signature, lifetime, issuer, audience and location hold."""
    host = account.split("://", 1)[1]
    try:
        claims = jwt.decode(readable(token), public_key, algorithms=ALGORITHMS, issuer=host, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_aud": False})
    except jwt.ExpiredSignatureError as e:
        raise AppTokenError("the sign-in expired: reload the app") from e
    except jwt.InvalidSignatureError as e:
        raise AppTokenError("the signature does not verify") from e
    except (jwt.PyJWTError, RecursionError) as e:
        raise AppTokenError(f"the token is not acceptable ({type(e).__name__})") from e
    # The audience is the app installation in this very account (PyJWT only compares it whole).
    aud = re.fullmatch(re.escape(account) + r"/api/v2/apps/installations/(\d+)(?:\.json)?", str(claims["aud"]))
    if aud is None:
        raise AppTokenError("the token is meant for another account or app")
    context = claims.get("context") if isinstance(claims.get("context"), dict) else {}
    if context.get("product") != PRODUCT or context.get("location") != location:
        raise AppTokenError("the token was issued for another place in Zendesk")
    return AppClaims(account, user_id(claims["sub"], account), aud.group(1), location)


def user_id(sub: Any, account: str) -> str:
    """The user a ``sub`` names: the user's API URL in this account (what Zendesk sends, as far as
    third-party code shows) or a bare id."""
    match = re.fullmatch(re.escape(account) + r"/api/v2/users/(\d+)(?:\.json)?", str(sub)) or \
        re.fullmatch(r"(\d+)", str(sub))
    if match is None:
        raise AppTokenError("the token names no user of this account")
    return match.group(1)


class KeyCache:
    """Each account's app public key, fetched once, and again when a signature fails (Zendesk may
    have rotated the key), but such a refetch at most once per ``REFETCH_SECONDS`` per account:
    forged tokens cannot make Baton hammer Zendesk."""

    def __init__(self, fetch: Callable[[str, str], str], clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch, self._clock = fetch, clock
        self._keys: dict[tuple[str, str], str] = {}
        self._refetched: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def key(self, account: str, app_id: str) -> str:
        with self._lock:
            hit = self._keys.get((account, app_id))
        return hit if hit is not None else self._load(account, app_id)

    def refreshed(self, account: str, app_id: str) -> str | None:
        """A fresh copy of the key, or None if one was refetched too recently to try again."""
        with self._lock:
            last = self._refetched.get((account, app_id))
            if last is not None and self._clock() - last < REFETCH_SECONDS:
                return None
            self._refetched[(account, app_id)] = self._clock()
        return self._load(account, app_id)

    def _load(self, account: str, app_id: str) -> str:
        try:
            pem = self._fetch(account, app_id)
        except Exception as e:  # unreachable, 404 …: the token cannot be checked, so it is refused
            raise AppTokenError("Zendesk's key for this app could not be read") from e
        with self._lock:
            self._keys[(account, app_id)] = pem
        return pem


def verify_signed_load(token: str, keys: KeyCache, app_id: str, location: str, development: bool = False) -> AppClaims:
    """Verify the ``token`` of a signed app load with the issuing account's key (fetched again once if
    the signature fails, in case Zendesk rotated it)."""
    if not token or len(token) > 8192:
        raise AppTokenError("no sign-in from Zendesk: open Baton from Zendesk")
    account = account_url(unverified_issuer(token), development)
    try:
        return verify(token, keys.key(account, app_id), account, location)
    except AppTokenError as first:
        if not isinstance(first.__cause__, jwt.InvalidSignatureError):
            raise
        fresh = keys.refreshed(account, app_id)
        if fresh is None:
            raise
        return verify(token, fresh, account, location)


def fetch_public_key(account: str, app_id: str, timeout: float = 5.0) -> str:
    """``GET {account}/api/v2/apps/{app_id}/public_key.pem``, sent without credentials: the first load
    of an account Baton does not know yet has none to send. Redirects are not followed."""
    # the pooled session checks the address it reached (S12): the account comes from a token not yet verified
    answer = pooled_session(account).get(f"{account}/api/v2/apps/{seg(app_id)}/public_key.pem", timeout=timeout,
                                         allow_redirects=False)
    answer.raise_for_status()
    if "BEGIN PUBLIC KEY" not in answer.text:
        raise ValueError("not a PEM public key")
    return answer.text


# -- who may do what -----------------------------------------------------------------------------

def role(user: dict[str, Any]) -> str | None:
    """Baton's role for a Zendesk user: admins get the console and the panel, agents the panel;
    end users (and suspended users) nothing. Custom agent roles are agents."""
    if user.get("suspended"):
        return None
    return {"admin": "admin", "agent": "agent"}.get(str(user.get("role")))


# -- connecting an account: OAuth with Baton's global client -------------------------------------

def _states(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="baton-zendesk-oauth")


def sign_state(secret: str, account: str, user: str, nonce: str) -> str:
    """The OAuth ``state``: which account is being connected, by whom, and the browser's nonce."""
    return _states(secret).dumps({"account": account, "user": user, "nonce": nonce})


def read_state(secret: str, state: str | None) -> dict[str, str]:
    try:
        data = _states(secret).loads(state or "", max_age=STATE_SECONDS)
    except SignatureExpired as e:
        raise AppTokenError("this connection attempt expired: open Baton from Zendesk and connect again") from e
    except BadSignature as e:
        raise AppTokenError("this connection attempt is not one Baton started") from e
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("account", "user", "nonce")):
        raise AppTokenError("this connection attempt is not one Baton started")
    return data


def authorize_url(account: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Zendesk's consent page for Baton's global OAuth client (authorization code grant)."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "scope": OAUTH_SCOPE, "state": state})
    return f"{account}/oauth/authorizations/new?{query}"


def exchange_code(account: str, code: str, client_id: str, client_secret: str, redirect_uri: str) -> str:
    """``POST {account}/oauth/tokens``: the authorization code for an access token."""
    body = HttpClient(account).request("POST", "/oauth/tokens", json={
        "grant_type": "authorization_code", "code": code, "client_id": client_id, "client_secret": client_secret,
        "redirect_uri": redirect_uri, "scope": OAUTH_SCOPE})
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise AppTokenError("Zendesk answered the code exchange without an access token")
    return token


# -- the app's requirements and its uninstall ----------------------------------------------------

def adopt_requirement_webhook(http: HttpClient, endpoint: str, own_id: str) -> dict[str, str] | None:
    """Installing the app makes Zendesk create the inactive "Baton handoff" webhook of
    ``requirements.json``; Zendesk deletes it again when the app is uninstalled. When Baton's own
    install has just made a second one (``own_id``), take over the app's: point it at ``endpoint``,
    switch it on, read its signing secret, and delete Baton's. Returns the adopted ``webhook_id``
    and ``webhook_secret``, or None (no such webhook, or it cannot be taken over: Baton's own stays)."""
    try:
        hooks = http.request("GET", "/api/v2/webhooks", params={"filter[name_contains]": WEBHOOK_NAME})["webhooks"]
        theirs = [h for h in hooks if h.get("name") == WEBHOOK_NAME and str(h.get("id")) != own_id]
        if not theirs:
            return None
        hook_id = str(theirs[0]["id"])
        secret = http.request("GET", f"/api/v2/webhooks/{seg(hook_id)}/signing_secret")["signing_secret"]["secret"]
        if not isinstance(secret, str) or not secret:
            return None
        http.request("PATCH", f"/api/v2/webhooks/{seg(hook_id)}",
                     json={"webhook": {"endpoint": endpoint, "status": "active"}})
    except (ApiError, KeyError, TypeError, AttributeError):  # not readable as documented: keep Baton's own
        return None
    try:
        http.request("DELETE", f"/api/v2/webhooks/{seg(own_id)}")
    except ApiError:
        pass  # left behind, it is signed with a secret Baton no longer accepts: its calls are refused
    return {"webhook_id": hook_id, "webhook_secret": secret}


def app_installed(http: HttpClient, app_id: str) -> bool:
    """Whether Baton's app is still installed in the account (``GET /api/v2/apps/installations``).
    Zendesk calls no one when an app is uninstalled, so Baton has to ask."""
    body = http.request("GET", "/api/v2/apps/installations.json")
    rows = body.get("installations") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ApiInvalid("the app installations list is not what Zendesk documents")
    return any(isinstance(row, dict) and str(row.get("app_id")) == str(app_id) for row in rows)
