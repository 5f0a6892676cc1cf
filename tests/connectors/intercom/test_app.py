"""Baton's Intercom app: the Canvas Kit card and its feedback, the uninstall request and the OAuth
install, through Baton's web app (Flask's test client) with the Intercom sandbox as Intercom."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import insert

from connectors.intercom import app as intercom
from connectors.intercom.sandbox import AppRegistration, IntercomSandbox
from integration.core.codec import conversation_to_json
from integration.core.model import Contact, Conversation, Customer, Message, Role
from integration.service.installs import install
from integration.service.settings import Settings
from integration.service.store import Store, Vault, decisions, installations
from integration.service.web import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "canvas"
CLIENT_ID, SECRET = "baton-intercom", "intercom-client-secret"
PUBLIC = "https://baton.example"
TICKET = "100000000001"


class Queue:
    def enqueue_event(self, event_id: int, installation: str | None = None) -> None: ...

    def ping(self) -> None: ...


@pytest.fixture
def sandbox() -> Iterator[IntercomSandbox]:
    sb = IntercomSandbox(retry_delays=(0.05,))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/baton.db", Vault(Fernet.generate_key().decode()))
    s.migrate()
    yield s
    s.engine.dispose()


@pytest.fixture
def client(store: Store) -> Any:
    settings = Settings(database_url="sqlite://", secret_key="", session_key="test-session-key", public_url=PUBLIC,
                        intercom_client_id=CLIENT_ID, intercom_client_secret=SECRET, development=True)
    return create_app(settings, store=store, queue=Queue()).test_client()


@pytest.fixture
def inst(store: Store, sandbox: IntercomSandbox) -> Any:
    """Baton installed for the sandbox's workspace, the operator's way (its token; the sandbox's own secret)."""
    installation = install(store, "intercom", sandbox.url, {"access_token": sandbox.access_token,
                                                            "client_secret": sandbox.client_secret}, PUBLIC, mode="webhooks",
                           development=True)
    return installation


def decide(store: Store, inst: Any, ticket: str = TICKET, quote: str = "I was charged twice, get me a person",
           reasons: int = 2) -> None:
    customer = Customer(id="7", name="Ann Customer", tier="vip", plan="Enterprise", organization="Acme", language="fr",
                        recent_contacts=(Contact("99"),))
    conversation = Conversation(ticket, (Message(Role.CUSTOMER, quote),), customer)
    route = {"group_id": "5017001", "agent_id": "991267002", "live": True, "opens_at": None, "wait_minutes": 6.4,
             "explanation": "Billing is open; Sam is online and least loaded.",
             "customer_message": "A billing specialist will join in about 6 minutes.", "candidates": []}
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst.id, ticket_id=ticket, action="escalate", priority="high", category="billing", tier=2,
            reasons=[{"code": f"r{i}", "summary": f"Reason {i}: the customer asked for a person",
                      "evidence": [{"message_index": 0, "quote": quote, "score": 1.0, "threshold": 0.5, "note": ""}]}
                     for i in range(reasons)],
            explanation="The customer asked for a person about a double charge.", route=route,
            created_at=datetime.now(timezone.utc), conversation=conversation_to_json(conversation)))


def sample(name: str, **changes: Any) -> dict[str, Any]:
    """A request as Intercom documents it (fixtures/canvas), with ``changes`` on top."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body.update(changes)
    return body


def post(client: Any, path: str, body: dict[str, Any] | bytes, secret: str | None = SECRET,
         signature: str | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None or signature is not None:
        headers["X-Body-Signature"] = signature if signature is not None else intercom.sign(secret or "", raw)
    return client.post(path, data=raw, headers=headers)


def texts(canvas: dict[str, Any]) -> str:
    return "\n".join(c.get("text", "") for c in canvas["canvas"]["content"]["components"])


def component(canvas: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in canvas["canvas"]["content"]["components"] if c.get("id") == cid)


def tables(canvas: dict[str, Any]) -> list[dict[str, str]]:
    """The card's data tables (they have no id), as field → value."""
    return [{i["field"]: i["value"] for i in c["items"]} for c in canvas["canvas"]["content"]["components"]
            if c["type"] == "data-table"]


def initialize(client: Any, sandbox: IntercomSandbox, ticket: str = TICKET) -> Any:
    conversation = {**sample("initialize_request")["conversation"], "id": ticket}
    return post(client, "/apps/intercom/canvas/initialize",
                sample("initialize_request", workspace_id=sandbox.app_id, conversation=conversation))


def submit(client: Any, sandbox: IntercomSandbox, values: dict[str, Any], ticket: str = TICKET) -> Any:
    conversation = {**sample("submit_request")["conversation"], "id": ticket}
    return post(client, "/apps/intercom/canvas/submit", sample(
        "submit_request", workspace_id=sandbox.app_id, conversation=conversation, component_id=intercom.SAVE,
        input_values=values))


# -- signatures ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/apps/intercom/canvas/initialize", "/apps/intercom/canvas/submit",
                                  "/apps/intercom/uninstall"])
@pytest.mark.parametrize("how", ["missing", "wrong secret", "not hex", "empty", "not ascii"])
def test_a_request_without_a_valid_signature_is_401(client, sandbox, inst, path, how):
    body = sample("initialize_request", workspace_id=sandbox.app_id)
    response = {"missing": lambda: post(client, path, body, secret=None),
                "wrong secret": lambda: post(client, path, body, secret="sandbox-client-secret"),
                "not hex": lambda: post(client, path, body, signature="sha256=zz"),
                "empty": lambda: post(client, path, body, signature=""),
                "not ascii": lambda: post(client, path, body, signature="é" * 64)}[how]()
    assert response.status_code == 401
    assert inst.id and client.application.extensions["baton"].store.installations.get(inst.id).status == "active"


def test_a_signature_of_another_body_is_401(client, sandbox, inst):
    raw = json.dumps(sample("initialize_request", workspace_id=sandbox.app_id)).encode()
    assert post(client, "/apps/intercom/canvas/initialize", raw + b" ", signature=intercom.sign(SECRET, raw)).status_code == 401


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"admin": {"id": "1"}}', b'{"workspace_id": "x"}'])
def test_a_signed_body_baton_cannot_read_is_400(client, body):
    response = post(client, "/apps/intercom/canvas/initialize", body)
    assert response.status_code == 400 and response.is_json


# -- the card -----------------------------------------------------------------------------------------

def test_the_card_shows_the_decision_its_reasons_the_route_the_wait_and_the_customer(client, store, sandbox, inst):
    decide(store, inst)
    response = initialize(client, sandbox)
    assert response.status_code == 200
    canvas = response.get_json()
    text = texts(canvas)
    assert "Handed over to a person" in text and "Priority: high · Category: billing" in text
    assert "Reason 0: the customer asked for a person" in text and "“I was charged twice, get me a person”" in text
    assert "Billing is open; Sam is online and least loaded." in text
    assert "A billing specialist will join in about 6 minutes." in text
    route, customer = tables(canvas)
    assert route == {"Someone free now": "yes", "Expected wait": "about 6 min"}
    assert customer == {"Name": "Ann Customer", "Tier": "vip", "Plan": "Enterprise", "Organization": "Acme",
                        "Language": "fr", "Earlier contacts": "1"}
    assert [o["id"] for o in component(canvas, "verdict")["options"]] == ["right", "not_needed", "too_late"]
    assert "refund issued" in [o["id"] for o in component(canvas, "resolution")["options"]]
    assert component(canvas, "missing_knowledge")["label"] == "What the bot should have known"
    assert component(canvas, intercom.SAVE)["action"] == {"type": "submit"}
    assert canvas["canvas"]["stored_data"] == {"conversation_id": TICKET}


def test_a_conversation_baton_has_not_decided_on_still_takes_feedback(client, sandbox, inst):
    canvas = initialize(client, sandbox, ticket="4242").get_json()
    assert "Baton has not decided on this conversation yet." in texts(canvas)
    assert component(canvas, intercom.SAVE)


def test_customer_text_cannot_put_a_link_or_bold_into_the_card(client, store, sandbox, inst):
    decide(store, inst, quote="see [my invoice](https://evil.example) **now**")
    text = texts(initialize(client, sandbox).get_json())
    assert "\\[my invoice\\]\\(https://evil.example\\) \\*\\*now\\*\\*" in text


def test_an_unknown_or_uninstalled_workspace_gets_a_card_saying_so(client, store, sandbox, inst):
    conversation = {**sample("initialize_request")["conversation"], "id": TICKET}
    unknown = post(client, "/apps/intercom/canvas/initialize",
                   sample("initialize_request", workspace_id="nope1234", conversation=conversation))
    assert unknown.status_code == 200 and "Baton is not installed in this workspace" in texts(unknown.get_json())
    store.lifecycle.uninstall(inst.id, "test")
    assert "Baton is not installed in this workspace" in texts(initialize(client, sandbox).get_json())


def test_the_card_stays_under_64_kb_with_huge_quotes_and_many_reasons(client, store, sandbox, inst):
    store.installations.change_settings(inst.id, {"resolution_types": [f"type {i} " + "x" * 55 for i in range(400)]}, "test")
    decide(store, inst, quote="“Q”" * 20_000, reasons=200)  # non-ASCII: 3 bytes a character in UTF-8
    response = initialize(client, sandbox)
    assert len(response.data) <= intercom.MAX_CANVAS_BYTES  # the bytes Intercom receives
    canvas = response.get_json()
    assert "Handed over to a person" in texts(canvas) and component(canvas, intercom.SAVE)
    assert "… and" in texts(canvas)  # the reasons left out are counted


def test_the_card_builder_shrinks_until_it_fits():
    long = "返金してください " * 20_000  # three bytes a character: the first limits give a card over 64 KB
    panel = {"ticket": "1", "decision": {"action": "escalate", "priority": "high", "explanation": long,
                                         "reasons": [{"summary": long, "evidence": [{"quote": long}] * 3}] * 8},
             "route": {"explanation": long, "customer_message": long, "live": False}, "customer": None,
             "feedback": [{"author_name": "x", "verdict": "right", "missing_knowledge": long}] * 9,
             "verdicts": {"right": "Escalation was right"}, "types": [long[:64]] * 60}
    first = {"canvas": {"content": {"components": intercom._components(panel, None, None, {}, intercom.Limits())}}}
    assert intercom.canvas_size(first) > intercom.MAX_CANVAS_BYTES
    canvas = intercom.panel_canvas(panel, values={"missing_knowledge": long})
    assert intercom.canvas_size(canvas) <= intercom.MAX_CANVAS_BYTES
    assert component(canvas, intercom.SAVE) and component(canvas, "decision")


# -- feedback -----------------------------------------------------------------------------------------

def test_submitting_feedback_stores_it_and_answers_a_saved_card(client, store, sandbox, inst):
    decide(store, inst)
    response = submit(client, sandbox, {"verdict": "right", "resolution": "refund issued",
                                        "missing_knowledge": "Annual plans are refunded pro rata."})
    assert response.status_code == 200
    canvas = response.get_json()
    assert "Thanks: your feedback is saved." in texts(canvas)
    (row,) = store.decisions.feedback_for(inst.id, TICKET)
    assert (row["verdict"], row["resolution"], row["missing_knowledge"]) == (
        "right", "refund issued", "Annual plans are refunded pro rata.")
    assert (row["author_id"], row["author_name"]) == ("1295", "Hoban Washburne")  # the request's admin
    assert "Hoban Washburne: Escalation was right · refund issued" in texts(canvas)
    # the teammate's saved choice stays on the card, to see and to change (it was a fresh form)
    assert component(canvas, "verdict")["value"] == "right" and component(canvas, "resolution")["value"] == "refund issued"
    assert component(canvas, "missing_knowledge")["value"] == "Annual plans are refunded pro rata."
    assert component(canvas, intercom.SAVE)["label"] == "Save changes"


def test_a_conversation_kept_with_the_bot_asks_whether_keeping_it_was_right(client, store, sandbox, inst):
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst.id, ticket_id=TICKET, action="continue", priority="normal", category=None, tier=1,
            reasons=[], explanation="The bot can continue.", created_at=datetime.now(timezone.utc)))
    canvas = initialize(client, sandbox).get_json()
    verdict = component(canvas, "verdict")
    assert "Kept with the bot" in texts(canvas) and verdict["label"] == "Keeping it with the bot was …"
    assert [(o["id"], o["text"]) for o in verdict["options"]] == [
        ("right", "Right: the bot could handle it"), ("too_late", "Wrong: it should have been handed over")]
    saved = submit(client, sandbox, {"verdict": "too_late"}).get_json()
    assert "Hoban Washburne: Should have been handed over" in texts(saved)


def test_nothing_chosen_puts_the_error_beside_the_text_area_and_saves_nothing(client, store, sandbox, inst):
    canvas = submit(client, sandbox, {"resolution": intercom.UNSET, "missing_knowledge": "  "}).get_json()
    components = canvas["canvas"]["content"]["components"]
    area = components.index(component(canvas, "missing_knowledge"))
    assert components[area]["error"] is True
    assert components[area + 1] == {"type": "text", "id": "feedback_error", "style": "error", "text": (
        "Nothing to save: choose a verdict, a resolution type or write what the bot should have known.")}
    assert store.decisions.feedback_for(inst.id, TICKET) == []


def test_a_choice_not_on_the_card_is_flagged_on_its_input_and_the_entry_kept(client, store, sandbox, inst):
    canvas = submit(client, sandbox, {"verdict": "right", "resolution": "made up",
                                      "missing_knowledge": "keep me"}).get_json()
    assert component(canvas, "resolution")["save_state"] == "failed"
    assert component(canvas, "resolution_error")["text"] == "Choose a resolution type from the list."
    assert component(canvas, "verdict")["value"] == "right" and component(canvas, "missing_knowledge")["value"] == "keep me"
    assert store.decisions.feedback_for(inst.id, TICKET) == []


def test_input_values_of_the_wrong_type_are_ignored_not_a_500(client, store, sandbox, inst):
    response = submit(client, sandbox, {"verdict": ["right"], "resolution": 7, "missing_knowledge": {"x": 1}})
    assert response.status_code == 200 and "Nothing to save" in texts(response.get_json())


# -- uninstall ----------------------------------------------------------------------------------------

def test_the_signed_uninstall_request_stops_every_installation_of_that_workspace(client, store, sandbox, inst):
    response = post(client, "/apps/intercom/uninstall", {"app_id": sandbox.app_id})
    assert response.status_code == 200 and response.get_json()["installations"] == [inst.id]
    assert store.installations.get(inst.id).status == "uninstalled"
    assert post(client, "/apps/intercom/uninstall", {"app_id": sandbox.app_id}).get_json()["status"] == "unknown workspace"
    assert post(client, "/apps/intercom/uninstall", {"nothing": 1}).status_code == 400


# -- OAuth ---------------------------------------------------------------------------------------------

@pytest.fixture
def registered(sandbox: IntercomSandbox) -> IntercomSandbox:
    sandbox.register_app(AppRegistration(CLIENT_ID, SECRET, "Baton", f"{PUBLIC}/apps/intercom/install",
                                         (f"{PUBLIC}/apps/intercom/oauth/callback",), f"{PUBLIC}/i", f"{PUBLIC}/s"))
    return sandbox


def start(client: Any, sandbox: IntercomSandbox) -> dict[str, str]:
    """The Installation URL: where it sends the teammate, as query parameters."""
    response = client.get(f"/apps/intercom/install?host={sandbox.url}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sandbox.url}/oauth"
    return {k: v[0] for k, v in parse_qs(target.query).items()}


def consent(sandbox: IntercomSandbox, params: dict[str, str], admin_id: str) -> dict[str, str]:
    """The teammate authorizes on the sandbox's consent page: the code and state it sends back."""
    web = requests.Session()
    web.get(f"{sandbox.url}/a/login", params={"as": admin_id, "next": "/a/appstore"}, timeout=5)
    response = web.post(f"{sandbox.url}/oauth/authorize", data={**params, "decision": "allow"}, allow_redirects=False,
                        timeout=5)
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_oauth_installs_for_the_workspace_and_opens_the_console_for_the_installer(client, store, registered):
    params = start(client, registered)
    assert params["client_id"] == CLIENT_ID and params["redirect_uri"] == f"{PUBLIC}/apps/intercom/oauth/callback"
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    back = consent(registered, params, ada)
    response = client.get("/apps/intercom/oauth/callback", query_string=back)
    assert response.status_code == 303 and response.headers["Location"].startswith("/console/?s=")
    inst = store.installations.find("intercom", setting=("app_id", registered.app_id))
    assert inst.base_url == registered.url and inst.settings["api_user_id"] == ada
    assert inst.credentials["client_secret"] == SECRET and inst.credentials["access_token"].startswith("tok_")
    assert client.get(response.headers["Location"]).status_code == 200  # the console, as Ada
    # someone else of the workspace signs in, in their own browser: same installation, no console
    bob = registered.add_admin("Bob Agent", "bob@yourco.example")["id"]
    browser = client.application.test_client()
    again = browser.get("/apps/intercom/oauth/callback", query_string=consent(registered, start(browser, registered), bob))
    assert again.status_code == 403 and bob.encode() in again.data
    assert len(store.rows(installations)) == 1
    # until Ada lists Bob as a console admin
    store.installations.change_settings(inst.id, {"console_admins": [bob]}, "Ada Admin")
    third = browser.get("/apps/intercom/oauth/callback", query_string=consent(registered, start(browser, registered), bob))
    assert third.status_code == 303


def test_the_installed_app_opens_the_console_again_within_the_hour_without_a_new_consent(client, store, registered,
                                                                                          monkeypatch):
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    first = client.get("/apps/intercom/oauth/callback", query_string=consent(registered, start(client, registered), ada))
    console = first.headers["Location"]
    inst = store.installations.find("intercom", setting=("app_id", registered.app_id))
    assert inst.settings["api_user_name"] == "Ada Admin"  # who installed it, by name
    # Ada opens Baton from the App Store again: the same console, no OAuth round trip
    again = client.get(f"/apps/intercom/install?host={registered.url}")
    assert again.status_code == 303 and again.headers["Location"] == console
    assert client.get(console).status_code == 200
    # another browser, an hour later, an uninstalled workspace or a teammate no longer admin: consent again
    assert client.application.test_client().get(f"/apps/intercom/install?host={registered.url}").status_code == 302
    from integration.service.console import session as sessions
    monkeypatch.setattr(sessions, "SESSION_SECONDS", -1)
    assert client.get(f"/apps/intercom/install?host={registered.url}").status_code == 302
    monkeypatch.undo()
    store.lifecycle.uninstall(inst.id, "Intercom")
    assert client.get(f"/apps/intercom/install?host={registered.url}").status_code == 302


@pytest.mark.parametrize("tamper", ["state", "cookie", "expired", "code", "error"])
def test_a_tampered_or_replayed_oauth_callback_installs_nothing(client, store, registered, tamper, monkeypatch):
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    back = consent(registered, start(client, registered), ada)
    if tamper == "state":
        back["state"] = back["state"][:-2] + ("AA" if not back["state"].endswith("AA") else "BB")
    elif tamper == "cookie":
        client.set_cookie("baton_intercom_oauth", "another-browser-é", path="/apps/intercom/oauth")
    elif tamper == "expired":
        from integration.service.apps import intercom as view

        monkeypatch.setattr(view, "STATE_SECONDS", -1)
    elif tamper == "code":
        back["code"] = "made-up"
    else:
        back = {"error": "access_denied", "state": back["state"]}
    response = client.get("/apps/intercom/oauth/callback", query_string=back)
    assert response.status_code == 400
    assert store.installations.find("intercom", setting=("app_id", registered.app_id)) is None


def test_a_code_is_good_once(client, store, registered):
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    back = consent(registered, start(client, registered), ada)
    nonce = client.get_cookie("baton_intercom_oauth", path="/apps/intercom/oauth").value
    assert client.get("/apps/intercom/oauth/callback", query_string=back).status_code == 303
    client.set_cookie("baton_intercom_oauth", nonce, path="/apps/intercom/oauth")  # the same browser, replaying
    replay = client.get("/apps/intercom/oauth/callback", query_string=back)
    assert replay.status_code == 400 and b"refused this authorization" in replay.data


@pytest.mark.parametrize("query", ["host=https://api.intercom.io", "host=http://10.0.0.1:80/x", "region=mars"])
def test_the_installation_url_only_goes_to_intercom_or_in_development_a_local_sandbox(client, query):
    assert client.get(f"/apps/intercom/install?{query}").status_code == 400


def test_the_installation_url_defaults_to_intercoms_us_region(client):
    response = client.get("/apps/intercom/install")
    assert response.headers["Location"].startswith("https://app.intercom.com/oauth?client_id=baton-intercom&state=")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/apps/intercom/oauth" in cookie and "Secure" in cookie


# -- the sandbox's app platform, which the tests above and the browser tests rely on ------------------

def test_the_sandbox_token_endpoint_wants_the_apps_credentials_and_a_fresh_code(registered):
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    params = {"client_id": CLIENT_ID, "state": "s", "redirect_uri": f"{PUBLIC}/apps/intercom/oauth/callback"}
    code = consent(registered, params, ada)["code"]
    token_url = f"{registered.url}/auth/eagle/token"
    wrong = requests.post(token_url, json={"client_id": CLIENT_ID, "client_secret": "nope", "code": code}, timeout=5)
    assert wrong.status_code == 401
    good = requests.post(token_url, data={"client_id": CLIENT_ID, "client_secret": SECRET, "code": code}, timeout=5)
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"
    token = good.json()["access_token"]
    again = requests.post(token_url, json={"client_id": CLIENT_ID, "client_secret": SECRET, "code": code}, timeout=5)
    assert again.status_code == 400  # a code is good once
    me = requests.get(f"{registered.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert me["id"] == ada and me["app"]["id_code"] == registered.app_id  # the token acts as who authorized


def test_the_sandbox_consent_page_refuses_an_unregistered_redirect_or_client(registered):
    web = requests.Session()
    bad = web.get(f"{registered.url}/oauth", params={"client_id": CLIENT_ID, "state": "s",
                                                     "redirect_uri": "https://evil.example/cb"}, timeout=5)
    assert bad.status_code == 400
    assert web.get(f"{registered.url}/oauth", params={"client_id": "other", "state": "s"}, timeout=5).status_code == 400
    ada = registered.add_admin("Ada Admin", "ada@yourco.example")["id"]
    web.get(f"{registered.url}/a/login", params={"as": ada}, timeout=5)
    page = web.get(f"{registered.url}/oauth", params={"client_id": CLIENT_ID, "state": "s"}, timeout=5)
    assert page.status_code == 200 and "Ada Admin" in page.text and 'id="authorize"' in page.text
    denied = web.post(f"{registered.url}/oauth/authorize", data={"client_id": CLIENT_ID, "state": "s", "decision": "deny"},
                      allow_redirects=False, timeout=5)
    assert denied.headers["Location"] == f"{PUBLIC}/apps/intercom/oauth/callback?error=access_denied&state=s"


def test_uninstalling_in_the_sandbox_revokes_its_tokens_and_calls_the_uninstall_url_signed(sandbox, receiver):
    sandbox.register_app(AppRegistration(CLIENT_ID, SECRET, "Baton", f"{PUBLIC}/i", (f"{PUBLIC}/cb",), f"{PUBLIC}/ini",
                                         f"{PUBLIC}/sub", uninstall_url=receiver.url))
    ada = sandbox.add_admin("Ada Admin", "ada@yourco.example")["id"]
    code = consent(sandbox, {"client_id": CLIENT_ID, "state": "s"}, ada)["code"]
    token = requests.post(f"{sandbox.url}/auth/eagle/token", json={"client_id": CLIENT_ID, "client_secret": SECRET,
                                                                   "code": code}, timeout=5).json()["access_token"]
    assert sandbox.uninstall_app() == 200
    (headers, body), = receiver.requests
    assert json.loads(body) == {"app_id": sandbox.app_id}
    assert headers["X-Body-Signature"] == intercom.sign(SECRET, body)
    assert requests.get(f"{sandbox.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 401
