"""The Freshworks (FDK, Platform 3.0) app's checks on Baton's side, with no I/O: the installation
key that Freshworks' request proxy adds to every call, the Freshdesk address an install names,
and who of the account's agents is an administrator.

Freshworks signs nothing the app page sends: ``client.data.get("loggedInUser")`` is read by the
app's own JavaScript, so Baton takes the user id as a claim and checks it with the Freshdesk API
(the agent exists in this account; its roles say admin or agent). What Freshworks does vouch for
is the request's origin: a secure iparam can only be substituted into a request template's
headers, by the proxy, never read by the page (developers.freshworks.com, Request method:
"iparams substitution"). That header, ``X-Baton-Key``, names the installation.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectors.freshdesk import DESCRIPTOR

KEY_HEADER = "X-Baton-Key"  # from the proxy: <installation id>.<256 random bits>
API_KEY_HEADER = "X-Freshdesk-Api-Key"  # from the settings page, once, at install
KEY_SETTING = "app_key_sha256"  # what Baton keeps of the key: its SHA-256, never the key
# Freshdesk's default roles that administer the account (Admin > Team > Roles; API: GET /api/v2/roles).
# A custom role's privileges are not in the API: its agents are agents to Baton.
ADMIN_ROLES = frozenset({"Account Administrator", "Administrator"})

_KEY = re.compile(r"([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})")  # installation ids as web.py accepts them
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AppKey:
    key: str  # handed once to the app, which keeps it as a secure iparam
    digest: str  # what Baton stores


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(installation_id: str) -> AppKey:
    """A fresh key for an installation. A plain SHA-256 is enough to store it: 256 random bits
    cannot be guessed from the digest, and Baton never needs the key back, only to recognise it."""
    key = f"{installation_id}.{secrets.token_urlsafe(32)}"
    return AppKey(key, digest(key))


def key_installation(key: str | None) -> str | None:
    """The installation a well-formed key names (None: not a key Baton issues)."""
    match = _KEY.fullmatch(key or "")
    return match.group(1) if match else None


def key_matches(key: str, stored: Any) -> bool:
    """Constant-time comparison of the key's digest with the stored one."""
    return isinstance(stored, str) and bool(stored) and hmac.compare_digest(digest(key).encode(), stored.encode())


def account_url(domain: Any, development: bool = False) -> str:
    """``https://<account>.freshdesk.com`` from what the settings page read from ``currentHost``
    (a bare host is accepted too). ValueError says what is wrong. Only Freshdesk's own hosts are
    accepted: Baton calls the address with the key it is given. With ``development`` a local
    address over plain http is accepted too (the sandbox)."""
    if not isinstance(domain, str) or not domain.strip() or len(domain) > 255:
        raise ValueError("domain is missing: the Freshdesk account's address, e.g. https://acme.freshdesk.com")
    text = domain.strip().rstrip("/")
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{domain!r} is not an account address: give only https://<account>.freshdesk.com")
    if development and host in _LOCAL_HOSTS and parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme != "https" or parts.port is not None or not DESCRIPTOR.serves(host):
        raise ValueError(f"{domain!r} is not a Freshdesk account address (https://<account>.freshdesk.com)")
    return f"https://{host}"


def role_of(agent: Mapping[str, Any], roles: Iterable[Mapping[str, Any]]) -> str:
    """``admin`` when one of the agent's roles administers the account, else ``agent``."""
    names = {role.get("id"): role.get("name") for role in roles if isinstance(role, Mapping)}
    role_ids = agent.get("role_ids")
    held = {names.get(r) for r in role_ids} if isinstance(role_ids, list) else set()
    return "admin" if held & ADMIN_ROLES else "agent"


def agent_name(agent: Mapping[str, Any]) -> str:
    contact = agent.get("contact")
    name = contact.get("name") if isinstance(contact, Mapping) else None
    return str(name or f"agent {agent.get('id')}")[:120]


def user_id(user: Any) -> str | None:
    """The id in the page's ``loggedInUser`` claim (a positive integer), or None."""
    raw = user.get("id") if isinstance(user, Mapping) else None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return None
    text = str(raw).strip()
    return text if text.isascii() and text.isdigit() and 0 < len(text) <= 20 and int(text) > 0 else None  # "²" is a digit
