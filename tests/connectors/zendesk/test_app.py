"""Baton's Zendesk app: the signed-URL JWT checks (connectors/zendesk/app.py), and its web side
(integration/service/apps/zendesk.py) against the sandbox acting as Zendesk: who gets the console or
the panel, what is refused (always a 4xx), connecting an account by OAuth, and the uninstall sweep."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.zendesk import app
from connectors.zendesk.sandbox import ZendeskSandbox

ACME, GLOBEX = "https://acme.zendesk.com", "https://globex.zendesk.com"
SECRET = "state-signing-key"


def keypair() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    (k1, p1), (k2, p2) = keypair(), keypair()
    return {"key": k1, "pem": p1, "other": k2, "other_pem": p2}


def claims(account: str = ACME, location: str = "nav_bar", **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": account.split("://")[1], "aud": f"{account}/api/v2/apps/installations/77.json",
            "sub": f"{account}/api/v2/users/5001.json", "iat": now, "nbf": now, "exp": now + 300,
            "cnf": {"jku": f"{account}/api/v2/apps/4242/public_key.pem"}, "qsh": "x",
            "context": {"product": "support", "location": location}}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, body: dict[str, Any]) -> str:
    return jwt.encode(body, key, algorithm="RS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(pem: str, body: dict[str, Any]) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the (public) RSA key."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(body).encode())
    return head + "." + b64(hmac.new(pem.encode(), head.encode(), hashlib.sha256).digest())


# -- the token ------------------------------------------------------------------------------------

def test_a_token_zendesk_signed_says_who_where_and_in_which_app_installation(keys):
    got = app.verify(sign(keys["key"], claims()), keys["pem"], ACME, "nav_bar")
    assert got == app.AppClaims(ACME, "5001", "77", "nav_bar")
    assert app.verify(sign(keys["key"], claims(sub="5001")), keys["pem"], ACME, "nav_bar").user_id == "5001"


REFUSED = {
    "forged signature": lambda k: sign(k["other"], claims()),
    "alg none": lambda k: jwt.encode(claims(), None, algorithm="none"),
    "HS256 keyed with the public key": lambda k: hs256_with_public_key(k["pem"], claims()),
    "expired": lambda k: sign(k["key"], claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600)),
    "not valid yet": lambda k: sign(k["key"], claims(nbf=int(time.time()) + 600)),
    "no expiry": lambda k: sign(k["key"], claims(exp=None)),
    "issued by another account": lambda k: sign(k["key"], claims(iss="globex.zendesk.com")),
    "audience in another account": lambda k: sign(k["key"], claims(aud=f"{GLOBEX}/api/v2/apps/installations/77.json")),
    "audience not an app installation": lambda k: sign(k["key"], claims(aud=f"{ACME}/api/v2/users/1.json")),
    "another location": lambda k: sign(k["key"], claims(location="ticket_sidebar")),
    "another product": lambda k: sign(k["key"], claims(context={"product": "chat", "location": "nav_bar"})),
    "no user": lambda k: sign(k["key"], claims(sub=None)),
    "a user of another account": lambda k: sign(k["key"], claims(sub=f"{GLOBEX}/api/v2/users/5001.json")),
    "not a JWT": lambda k: "hello.world.again",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_is_not_exactly_a_zendesk_signed_token_for_this_account_and_place_is_refused(keys, case):
    with pytest.raises(app.AppTokenError):
        app.verify(REFUSED[case](keys), keys["pem"], ACME, "nav_bar")


def test_only_zendesk_hosts_are_issuers_and_a_local_sandbox_only_in_development():
    assert app.account_url("acme.zendesk.com") == ACME
    assert app.account_url("127.0.0.1:5000", development=True) == "http://127.0.0.1:5000"
    for issuer in ("acme.zendesk.com.evil.example", "evil.example", "127.0.0.1:5000", "acme.zendesk.com/x", None, 7):
        with pytest.raises(app.AppTokenError):
            app.account_url(issuer)


class Fetcher:
    def __init__(self, pems: dict[str, str]) -> None:
        self.pems, self.calls = pems, []

    def __call__(self, account: str, app_id: str) -> str:
        self.calls.append((account, app_id))
        if account not in self.pems:
            raise requests.ConnectionError("no such host")
        return self.pems[account]


def test_each_account_is_checked_with_its_own_key(keys):
    fetch = Fetcher({ACME: keys["pem"], GLOBEX: keys["other_pem"]})
    cache = app.KeyCache(fetch)
    assert app.verify_signed_load(sign(keys["other"], claims(GLOBEX)), cache, "4242", "nav_bar").account == GLOBEX
    with pytest.raises(app.AppTokenError):  # globex's key cannot speak for acme
        app.verify_signed_load(sign(keys["other"], claims(ACME)), cache, "4242", "nav_bar")
    assert (ACME, "4242") in fetch.calls and (GLOBEX, "4242") in fetch.calls


def test_a_rotated_key_is_fetched_again_but_forgeries_cannot_make_baton_fetch_it_over_and_over(keys):
    now = [1000.0]
    fetch = Fetcher({ACME: keys["pem"]})
    cache = app.KeyCache(fetch, clock=lambda: now[0])
    assert app.verify_signed_load(sign(keys["key"], claims()), cache, "4242", "nav_bar").user_id == "5001"
    fetch.pems[ACME] = keys["other_pem"]  # Zendesk rotated the app's key
    now[0] += app.REFETCH_SECONDS
    assert app.verify_signed_load(sign(keys["other"], claims()), cache, "4242", "nav_bar").user_id == "5001"
    assert len(fetch.calls) == 2
    for _ in range(5):  # forged tokens right after: refused, and no more fetches
        with pytest.raises(app.AppTokenError):
            app.verify_signed_load(sign(keys["key"], claims()), cache, "4242", "nav_bar")
    assert len(fetch.calls) == 2


def test_no_token_or_no_key_means_no_entry(keys):
    cache = app.KeyCache(Fetcher({}))
    for token in ("", "x" * 9000, sign(keys["key"], claims())):  # the last: acme's key cannot be read
        with pytest.raises(app.AppTokenError):
            app.verify_signed_load(token, cache, "4242", "nav_bar")


# -- roles and the OAuth state --------------------------------------------------------------------

@pytest.mark.parametrize(("user", "expected"), [
    ({"role": "admin"}, "admin"), ({"role": "agent"}, "agent"), ({"role": "agent", "role_type": 4}, "agent"),
    ({"role": "end-user"}, None), ({"role": "admin", "suspended": True}, None), ({}, None)])
def test_admins_get_the_console_agents_the_panel_and_others_nothing(user, expected):
    assert app.role(user) == expected


def test_the_oauth_state_names_the_account_the_user_and_the_browser_and_cannot_be_altered(monkeypatch):
    state = app.sign_state(SECRET, ACME, "5001", "nonce-1")
    assert app.read_state(SECRET, state) == {"account": ACME, "user": "5001", "nonce": "nonce-1"}
    payload, rest = state.split(".", 1)
    other = base64.urlsafe_b64encode(json.dumps({"account": GLOBEX, "user": "5001", "nonce": "nonce-1"}).encode())
    for bad in (state[:-2] + ("AA" if state[-2:] != "AA" else "BB"), other.decode().rstrip("=") + "." + rest, "", None):
        with pytest.raises(app.AppTokenError):
            app.read_state(SECRET, bad)
    with pytest.raises(app.AppTokenError):
        app.read_state("another-key", state)
    monkeypatch.setattr(app, "STATE_SECONDS", -1)
    with pytest.raises(app.AppTokenError, match="expired"):
        app.read_state(SECRET, state)


def test_the_consent_page_is_asked_for_with_batons_client_and_the_state():
    url = app.authorize_url(ACME, "zdg-baton", "https://baton.example/apps/zendesk/oauth/callback", "st")
    assert url.startswith(f"{ACME}/oauth/authorizations/new?")
    query = parse_qs(urlsplit(url).query)
    assert query == {"response_type": ["code"], "client_id": ["zdg-baton"], "state": ["st"], "scope": [app.OAUTH_SCOPE],
                     "redirect_uri": ["https://baton.example/apps/zendesk/oauth/callback"]}


# -- the web side, with the sandbox as Zendesk ----------------------------------------------------

BATON = "http://baton.test"


@pytest.fixture
def zendesk() -> Iterator[ZendeskSandbox]:
    sb = ZendeskSandbox(retry_delays=(0.05,))
    sb.start()
    sb.install_app({"baton_url": BATON}, {"nav_bar": "{{setting.baton_url}}/apps/zendesk/nav_bar",
                                          "ticket_sidebar": "{{setting.baton_url}}/apps/zendesk/ticket_sidebar"},
                   json.loads((app_package() / "requirements.json").read_text()))
    yield sb
    sb.stop()


def app_package() -> Any:
    from connectors.zendesk.sandbox import APP_PACKAGE
    return APP_PACKAGE


class Baton:
    def __init__(self, tmp_path: Any) -> None:
        from integration.service.settings import Settings
        from integration.service.store import Store, Vault
        from integration.service.tasks import LocalQueue
        from integration.service.pipeline import Pipeline
        from integration.service.web import create_app

        secret = Fernet.generate_key().decode()
        self.settings = Settings(database_url=f"sqlite:///{tmp_path}/baton.db", secret_key=secret, public_url=BATON,
                                 zendesk_client_id="baton-zendesk", zendesk_client_secret="zendesk-client-secret",
                                 zendesk_app_id="4242", development=True)
        self.store = Store(self.settings.database_url, Vault(secret))
        self.store.migrate()
        self.queue = LocalQueue(Pipeline(self.store, park_after=30), drain_every=30)
        self.client = create_app(self.settings, store=self.store, queue=self.queue).test_client()

    def load(self, token: str, location: str = "nav_bar", query: str = "") -> Any:
        return self.client.post(f"/apps/zendesk/{location}{query}", data={"token": token})


@pytest.fixture
def baton(tmp_path: Any) -> Iterator[Baton]:
    b = Baton(tmp_path)
    yield b
    b.queue.stop()


@pytest.fixture
def people(zendesk: ZendeskSandbox) -> dict[str, int]:
    return {role: zendesk.add_user(f"{role.title()} One", f"{role}@acme.example", role=role)["id"]
            for role in ("admin", "agent", "end-user")}


@pytest.fixture
def connected(baton: Baton, zendesk: ZendeskSandbox) -> Any:
    """Baton installed for the sandbox account the way the operator command does (API token)."""
    return baton.store.installations.add("zendesk", zendesk.url, {"email": zendesk.api_email, "token": zendesk.api_token})


def test_an_admin_is_sent_into_the_console_of_their_account(baton, zendesk, people, connected):
    r = baton.load(zendesk.app_token(people["admin"], "nav_bar"))
    assert r.status_code == 303 and r.location.startswith("/console/?s=")
    assert zendesk.url in r.headers["Content-Security-Policy"]  # framed by this account's Zendesk only
    console = baton.client.get(r.location)
    assert console.status_code == 200 and b"Baton in this Zendesk account" in console.data


def test_an_agent_gets_the_panel_launcher_but_not_the_console_and_an_end_user_nothing(baton, zendesk, people, connected):
    assert baton.load(zendesk.app_token(people["agent"], "nav_bar")).status_code == 403
    sidebar = baton.load(zendesk.app_token(people["agent"], "ticket_sidebar"), "ticket_sidebar")
    assert sidebar.status_code == 200
    page = sidebar.get_data(as_text=True)
    assert 'data-panel="/panel?s=' in page and "vendor/zaf/zaf_sdk.js" in page and "/apps/zendesk/launch.js" in page
    panel_url = page.split('data-panel="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert baton.client.get(panel_url + "&ticket=1001").status_code == 200
    assert baton.client.get(panel_url.replace("/panel", "/console/")).status_code == 403  # the session is an agent's
    assert baton.load(zendesk.app_token(people["end-user"], "ticket_sidebar"), "ticket_sidebar").status_code == 403


def test_the_query_string_never_makes_anyone_an_admin(baton, zendesk, people, connected):
    r = baton.load(zendesk.app_token(people["agent"], "nav_bar"), query="?role=admin&user_id=1&as=1")
    assert r.status_code == 403


def test_refused_sign_ins_are_401_pages_and_junk_never_a_5xx(baton, zendesk, people, connected, keys):
    other_account = jwt.encode(claims("http://127.0.0.1:1"), keys["key"], algorithm="RS256")
    for token in ("", "junk", "a.b.c", "x" * 20000, sign(keys["key"], claims(zendesk.url)), other_account,
                  zendesk.app_token(people["admin"], "nav_bar", lifetime=-120),
                  zendesk.app_token(people["admin"], "ticket_sidebar")):  # a sidebar token replayed on nav_bar
        r = baton.load(token)
        assert r.status_code == 401, token[:40]
        assert b"could not verify this sign-in" in r.data
    assert baton.client.post("/apps/zendesk/nav_bar", data={"token": ["a", "b"]}).status_code == 401
    assert baton.client.post("/apps/zendesk/top_bar", data={"token": "x"}).status_code == 404
    assert baton.client.get("/apps/zendesk/nav_bar").status_code == 405


def test_a_rotated_app_key_is_picked_up(baton, zendesk, people, connected):
    assert baton.load(zendesk.app_token(people["admin"], "nav_bar")).status_code == 303
    zendesk.rotate_app_key()
    assert baton.load(zendesk.app_token(people["admin"], "nav_bar")).status_code == 303


def test_an_account_baton_does_not_know_is_offered_to_connect_and_its_agents_told_to_wait(baton, zendesk, people):
    page = baton.load(zendesk.app_token(people["admin"], "nav_bar"))
    assert page.status_code == 200 and b'id="connect"' in page.data and b"/apps/zendesk/connect?state=" in page.data
    assert baton.load(zendesk.app_token(people["agent"], "ticket_sidebar"), "ticket_sidebar").status_code == 403


# -- connecting by OAuth ------------------------------------------------------------------------------

def start_connecting(baton: Baton, zendesk: ZendeskSandbox, user: int) -> str:
    """The Connect button: Baton's redirect to Zendesk's consent page, with its nonce cookie set."""
    page = baton.load(zendesk.app_token(user, "nav_bar")).get_data(as_text=True)
    href = page.split('id="connect" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    r = baton.client.get(href)
    assert r.status_code == 302 and r.location.startswith(f"{zendesk.url}/oauth/authorizations/new?")
    return r.location  # type: ignore[no-any-return]


def consent(zendesk: ZendeskSandbox, authorize: str, user: int, decision: str = "allow") -> str:
    """The user presses Allow (or Deny) on Zendesk's consent page; where Zendesk sends the browser."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    session = requests.Session()
    assert session.get(authorize, cookies={"zendesk_sandbox_user": str(user)}, timeout=5).status_code == 200
    r = session.post(f"{zendesk.url}/oauth/authorizations", data={**query, "decision": decision},
                     cookies={"zendesk_sandbox_user": str(user)}, allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"].startswith(f"{BATON}/apps/zendesk/oauth/callback?")
    return r.headers["Location"][len(BATON):]


def test_an_admin_connects_baton_and_the_apps_own_webhook_is_adopted(baton, zendesk, people):
    callback = consent(zendesk, start_connecting(baton, zendesk, people["admin"]), people["admin"])
    r = baton.client.get(callback)
    assert r.status_code == 303 and r.location == f"{zendesk.url}/agent/apps/baton"
    inst = baton.store.installations.find("zendesk", base_url=zendesk.url)
    assert inst is not None and set(inst.credentials) == {"oauth_token"}
    assert inst.settings["connected_by"] == "zendesk_app" and inst.settings["api_user_id"] == str(people["admin"])
    (hook,) = zendesk.requirement_webhooks()
    assert (hook["id"], hook["status"], hook["endpoint"]) == (
        inst.settings["webhook_id"], "active", f"{BATON}/webhooks/zendesk/{inst.id}")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {inst.credentials['oauth_token']}"
    assert [h["id"] for h in api.get(f"{zendesk.url}/api/v2/webhooks", timeout=5).json()["webhooks"]] == [hook["id"]]
    secret = api.get(f"{zendesk.url}/api/v2/webhooks/{hook['id']}/signing_secret", timeout=5).json()
    assert inst.webhook_secret == secret["signing_secret"]["secret"]  # deliveries of the adopted webhook verify
    body = b'{"type": "zen:event-type:ticket.priority_changed", "id": "e1", "detail": {"id": "1"}, "event": {}}'
    delivery = baton.client.post(f"/webhooks/zendesk/{inst.id}", data=body, headers=zendesk.signed_request(hook["id"], body))
    assert delivery.status_code == 200
    # the same code cannot be used twice, and a second admin load goes straight to the console
    assert baton.client.get(callback).status_code == 400
    assert baton.load(zendesk.app_token(people["admin"], "nav_bar")).status_code == 303


def test_connecting_is_refused_to_agents_to_another_user_to_tampered_states_and_to_other_browsers(baton, zendesk, people):
    r = baton.client.get(consent(zendesk, start_connecting(baton, zendesk, people["agent"]), people["agent"]))
    assert r.status_code == 403 and b"Only an administrator" in r.data
    r = baton.client.get(consent(zendesk, start_connecting(baton, zendesk, people["agent"]), people["admin"]))
    assert r.status_code == 403 and b"another Zendesk user" in r.data
    r = baton.client.get(consent(zendesk, start_connecting(baton, zendesk, people["admin"]), people["admin"], "deny"))
    assert r.status_code == 403 and b"did not allow" in r.data
    callback = consent(zendesk, start_connecting(baton, zendesk, people["admin"]), people["admin"])
    query = parse_qs(urlsplit(callback).query)
    assert baton.client.get(f"/apps/zendesk/oauth/callback?code={query['code'][0]}&state=x{query['state'][0]}"
                            ).status_code == 400
    baton.client.delete_cookie("baton_zendesk_oauth", path="/apps/zendesk/oauth/callback")
    assert baton.client.get(callback).status_code == 400  # the nonce cookie is this browser's proof
    assert baton.client.get("/apps/zendesk/connect?state=forged").status_code == 400
    assert baton.store.installations.find("zendesk", base_url=zendesk.url) is None


def test_uninstalling_the_app_removes_its_webhook_and_the_sweep_marks_the_installation(baton, zendesk, people):
    from integration.service.apps.zendesk import sweep_uninstalled

    baton.client.get(consent(zendesk, start_connecting(baton, zendesk, people["admin"]), people["admin"]))
    inst = baton.store.installations.find("zendesk", base_url=zendesk.url)
    assert sweep_uninstalled(baton.store, baton.settings) == []
    zendesk.uninstall_app()  # Zendesk deletes the app's requirements, and tells no one
    assert zendesk.requirement_webhooks() == []
    hooks = requests.get(f"{zendesk.url}/api/v2/webhooks", auth=(f"{zendesk.api_email}/token", zendesk.api_token),
                         timeout=5).json()["webhooks"]
    assert hooks == []
    assert sweep_uninstalled(baton.store, baton.settings) == [inst.id]
    assert baton.store.installations.get(inst.id).status == "uninstalled"
    page = baton.load(zendesk.app_token(people["admin"], "nav_bar"))  # reinstalled later: connect again
    assert page.status_code == 200 and b'id="connect"' in page.data


def test_the_sandbox_oauth_and_app_endpoints_refuse_like_zendesk(zendesk):
    key = requests.get(f"{zendesk.url}/api/v2/apps/4242/public_key.pem", timeout=5)  # public, no credentials
    assert key.status_code == 200 and key.text == zendesk.app_public_key()
    assert requests.get(f"{zendesk.url}/api/v2/apps/installations", timeout=5).status_code == 401
    token = {"grant_type": "authorization_code", "code": "nope", "client_id": "baton-zendesk",
             "client_secret": "zendesk-client-secret", "redirect_uri": f"{BATON}/cb"}
    assert requests.post(f"{zendesk.url}/oauth/tokens", json=token, timeout=5).json()["error"] == "invalid_grant"
    wrong = requests.post(f"{zendesk.url}/oauth/tokens", json={**token, "client_secret": "guess"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    consent = requests.get(f"{zendesk.url}/oauth/authorizations/new", timeout=5, params={
        "response_type": "code", "client_id": "someone-else", "redirect_uri": f"{BATON}/cb"})
    assert consent.status_code == 400
    api = (f"{zendesk.api_email}/token", zendesk.api_token)
    (hook,) = zendesk.requirement_webhooks()
    patch = requests.patch(f"{zendesk.url}/api/v2/webhooks/{hook['id']}", auth=api, timeout=5,
                           json={"webhook": {"endpoint": "ftp://nowhere"}})
    assert patch.status_code == 422 and zendesk.requirement_webhooks() == [hook]
    assert requests.patch(f"{zendesk.url}/api/v2/webhooks/nope", auth=api, timeout=5,
                          json={"webhook": {"status": "active"}}).status_code == 404
