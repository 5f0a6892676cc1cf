"""Baton's side of the Freshdesk app (``/apps/freshdesk/…``): install from the settings page with an
API key Freshdesk accepts, pages only for the installation whose key the proxy sends and only for
the account's agents (their role from Freshdesk), uninstall. Freshdesk is the sandbox, over HTTP."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.freshdesk import webhook
from connectors.freshdesk.app import API_KEY_HEADER, KEY_HEADER, KEY_SETTING, key_matches
from connectors.freshdesk.sandbox import FreshdeskSandbox
from integration.service.apps.freshdesk import issue_key
from integration.service.settings import Settings
from integration.service.web import create_app
from integration.tools.local import Server, free_port

API_KEY = "fd-admin-api-key"


class FakeQueue:
    def __init__(self) -> None:
        self.events: list[int] = []

    def enqueue_event(self, event_id: int, installation: str | None = None) -> None:
        self.events.append(event_id)

    def ping(self) -> None:
        pass


def _sandbox() -> FreshdeskSandbox:
    sb = FreshdeskSandbox(api_key=API_KEY, retry_delays=(0.05, 0.05, 0.05))
    sb.start()
    return sb


@pytest.fixture
def sandbox() -> Iterator[FreshdeskSandbox]:
    sb = _sandbox()
    yield sb
    sb.stop()


@pytest.fixture
def other_sandbox() -> Iterator[FreshdeskSandbox]:
    sb = _sandbox()
    yield sb
    sb.stop()


def settings(store: Any) -> Settings:
    return Settings(database_url=store.url, session_key="test-session-key", public_url="https://baton.test",
                    development=True)


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def client(store: Any, queue: FakeQueue) -> Any:
    return create_app(settings(store), store=store, queue=queue).test_client()


def install(client: Any, domain: str, api_key: str | None = API_KEY) -> Any:
    headers = {API_KEY_HEADER: api_key} if api_key is not None else {}
    return client.post("/apps/freshdesk/install", json={"domain": domain}, headers=headers)


def page(client: Any, key: str, user: Any, path: str = "/console/", method: str = "GET",
         form: Any = (), session: str | None = None) -> Any:
    body = {"path": path, "method": method, "form": [list(f) for f in form], "user": {"id": user}, "session": session}
    return client.post("/apps/freshdesk/page", json=body, headers={KEY_HEADER: key})


def people(sb: FreshdeskSandbox) -> tuple[int, int]:
    """An account administrator and a plain agent of the sandbox's account."""
    return (sb.add_agent("Ada Admin", "ada@yourco.test", role="Account Administrator")["id"],
            sb.add_agent("Pat Agent", "pat@yourco.test", role="Agent")["id"])


def test_install_checks_the_key_with_freshdesk_and_answers_a_key_baton_keeps_only_hashed(client, store, sandbox):
    r = install(client, sandbox.url)
    assert r.status_code == 201
    answer = r.get_json()
    inst = store.installations.get(answer["installation"])
    assert (inst.provider, inst.base_url, inst.credentials, inst.settings["mode"]) == (
        "freshdesk", sandbox.url, {"api_key": API_KEY}, "app")
    assert answer["webhook_secret"] == inst.webhook_secret and len(inst.webhook_secret) >= 43
    assert answer["key"].startswith(f"{inst.id}.") and key_matches(answer["key"], inst.settings[KEY_SETTING])
    assert answer["key"] not in json.dumps(dict(inst.settings))  # a database dump opens nothing
    assert {"/api/v2/agents/me", "/api/v2/roles"} <= {e["path"] for e in sandbox.requests_log}
    assert [a["action"] for a in store.rules.audit_log(inst.id)][:2] == ["app installed", "settings"]


@pytest.mark.parametrize("domain, api_key, status, says", [
    ("{sandbox}", "not-the-key", 422, "Freshdesk refused this API key (401)"),
    ("{sandbox}", None, 400, "API key is missing"),
    ("{sandbox}", "", 400, "API key is missing"),
    ("https://acme.example.com", API_KEY, 400, "is not a Freshdesk account address"),
    ("https://acme.freshdesk.com/some/path", API_KEY, 400, "is not an account address"),
    ("", API_KEY, 400, "domain is missing"),
    ("http://127.0.0.1:{closed}", API_KEY, 422, "could not use Freshdesk"),
])
def test_install_refuses_what_freshdesk_would_not_accept_with_a_clear_4xx_and_creates_nothing(
        client, store, sandbox, domain, api_key, status, says):
    r = install(client, domain.format(sandbox=sandbox.url, closed=free_port()), api_key)
    assert r.status_code == status and says in r.get_json()["error"]
    assert store.installations.active() == []


def test_install_refuses_a_body_that_is_not_json(client, store, sandbox):
    r = client.post("/apps/freshdesk/install", data=b"domain=x", headers={API_KEY_HEADER: API_KEY})
    assert r.status_code == 400 and store.installations.active() == []


def test_installing_again_keeps_the_installation_and_ends_the_old_key(client, store, sandbox):
    admin, _ = people(sandbox)
    first = install(client, sandbox.url).get_json()
    store.lifecycle.uninstall(first["installation"], "Freshdesk")
    again = install(client, sandbox.url)
    assert again.status_code == 200 and again.get_json()["installation"] == first["installation"]
    assert store.installations.get(first["installation"]).status == "active"
    assert page(client, first["key"], admin).status_code == 401
    assert page(client, again.get_json()["key"], admin).status_code == 200


@pytest.mark.parametrize("key", [None, "", "garbage", "{id}.{wrong}", "{id}", "nope.{wrong}", "{id}.{wrong}x"])
def test_pages_need_this_installations_app_key(client, sandbox, key):
    admin, _ = people(sandbox)
    inst_id = install(client, sandbox.url).get_json()["installation"]
    headers = {} if key is None else {KEY_HEADER: key.format(id=inst_id, wrong="A" * 43)}
    r = client.post("/apps/freshdesk/page", json={"path": "/console/", "user": {"id": admin}}, headers=headers)
    assert r.status_code == 401 and "app key" in r.get_json()["error"]


def test_another_installations_key_never_reads_this_ones_pages(client, store, sandbox, other_sandbox):
    admin_a, _ = people(sandbox)
    admin_b, _ = people(other_sandbox)  # the same ids in both accounts: ids prove nothing across accounts
    a, b = (install(client, sb.url).get_json() for sb in (sandbox, other_sandbox))
    store.decisions.record_feedback(a["installation"], "7", author_id=str(admin_a), author_name="Ada Admin", verdict="right",
                                    resolution=None, missing_knowledge="only account A knows this")
    seen_by_a = page(client, a["key"], admin_a, "/panel?ticket=7").get_json()
    assert "only account A knows this" in seen_by_a["html"]

    # B's key with A's session, in the body and in the page's own link: B's pages, B's session
    r = page(client, b["key"], admin_b, f"/panel?ticket=7&s={seen_by_a['session']}", session=seen_by_a["session"])
    assert r.status_code == 200 and r.get_json()["session"] != seen_by_a["session"]
    assert "only account A knows this" not in r.get_json()["html"]
    assert "s=" not in r.get_json()["path"]


def test_the_user_is_an_agent_of_the_account_and_freshdesk_says_who_is_admin(client, sandbox):
    admin, agent = people(sandbox)
    contact = sandbox.add_contact("Carla Customer", "carla@example.com")["id"]
    key = install(client, sandbox.url).get_json()["key"]

    console = page(client, key, admin).get_json()
    assert console["status"] == 200 and "Baton in this Freshdesk account" in console["html"]
    assert "<html" not in console["html"] and 'id="baton-main"' in console["html"]  # a fragment for the shell
    assert console["styles"] == ["https://baton.test/console/static/freshdesk.css",
                                 "https://baton.test/console/static/baton.css",
                                 "https://baton.test/console/static/charts.css"]

    refused = page(client, key, agent).get_json()
    assert refused["status"] == 403 and "Only the helpdesk&#39;s administrators" in refused["html"]
    assert page(client, key, agent, "/panel?ticket=1").get_json()["status"] == 200

    for stranger in (contact, 999):
        r = page(client, key, stranger)
        assert r.status_code == 403 and "not an agent of this Freshdesk account" in r.get_json()["error"]
    for claim in ("admin", None, -1, True, "1 OR 1"):
        assert page(client, key, claim).status_code == 400


def test_a_session_is_issued_once_then_carried_without_asking_freshdesk_again(client, sandbox):
    admin, _ = people(sandbox)
    key = install(client, sandbox.url).get_json()["key"]
    first = page(client, key, admin).get_json()
    asked = len(sandbox.requests_log)
    assert {e["path"] for e in sandbox.requests_log[-2:]} == {f"/api/v2/agents/{admin}", "/api/v2/roles"}
    again = page(client, key, admin, "/console/activity", session=first["session"]).get_json()
    assert again["session"] == first["session"] and again["status"] == 200
    assert len(sandbox.requests_log) == asked
    tampered = first["session"][:-4] + "AAAA"
    forged = page(client, key, admin, session=tampered).get_json()  # not Baton's: Freshdesk is asked again
    assert forged["status"] == 200 and forged["session"] != tampered and len(sandbox.requests_log) == asked + 2


def test_forms_are_posted_with_their_csrf_token_and_redirects_followed(client, store, sandbox):
    _, agent = people(sandbox)
    answer = install(client, sandbox.url).get_json()
    shown = page(client, answer["key"], agent, "/panel?ticket=5").get_json()
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown["html"]).group(1)
    form = [("s", "not-a-session"), ("csrf", csrf), ("ticket", "5"), ("verdict", "right"),
            ("resolution", "refund issued"), ("missing_knowledge", "")]
    saved = page(client, answer["key"], agent, "/panel/feedback", "POST", form, shown["session"]).get_json()
    assert saved["status"] == 200 and saved["path"] == "/panel?ticket=5&saved=1"
    assert "your feedback is saved" in saved["html"]
    (row,) = store.decisions.feedback_for(answer["installation"], "5")
    assert (row["verdict"], row["resolution"], row["author_id"], row["author_name"]) == (
        "right", "refund issued", str(agent), "Pat Agent")

    no_csrf = page(client, answer["key"], agent, "/panel/feedback", "POST", form[2:], shown["session"]).get_json()
    assert no_csrf["status"] == 403 and len(store.decisions.feedback_for(answer["installation"], "5")) == 1


@pytest.mark.parametrize("body", [
    {"path": "/apps/freshdesk/install"}, {"path": "/webhooks/freshdesk/x"}, {"path": "/healthz"},
    {"path": "https://evil.test/console/"}, {"path": "//evil.test/console/"}, {"path": "/console/../healthz"},
    {"path": 42}, {"path": None},
    {"path": "/console/", "method": "DELETE"}, {"path": "/console/", "form": "a=b"},
    {"path": "/console/", "form": [["a"]]}, {"path": "/console/", "form": [["a", 1]]},
])
def test_only_the_console_and_panel_pages_are_reachable(client, sandbox, body):
    admin, _ = people(sandbox)
    key = install(client, sandbox.url).get_json()["key"]
    r = client.post("/apps/freshdesk/page", json={"user": {"id": admin}, **body}, headers={KEY_HEADER: key})
    assert r.status_code == 400


def test_uninstall_stops_the_webhooks_with_410_and_closes_the_pages(client, store, sandbox):
    admin, _ = people(sandbox)
    answer = install(client, sandbox.url).get_json()
    assert client.post("/apps/freshdesk/uninstall").status_code == 401
    r = client.post("/apps/freshdesk/uninstall", json={"event": "onAppUninstall"}, headers={KEY_HEADER: answer["key"]})
    assert r.status_code == 200 and store.installations.get(answer["installation"]).status == "uninstalled"
    event = b'{"baton_event": "ticket_updated", "ticket_id": "1", "updated_at": "2026-11-20T10:00:00Z"}'
    hook = client.post(f"/webhooks/freshdesk/{answer['installation']}", data=event,
                       headers={webhook.SECRET_HEADER: answer["webhook_secret"], "Content-Type": "application/json"})
    assert hook.status_code == 410
    assert page(client, answer["key"], admin).status_code == 410


def test_the_sandbox_app_reaches_baton_only_through_its_templates(store, sandbox, queue):
    """The packaged app's serverless part, played by the sandbox: events forwarded with the
    installation's webhook secret, onAppUninstall telling Baton with the app key."""
    port = free_port()
    server = Server(create_app(settings(store), store=store, queue=queue), port=port)
    try:
        inst = store.installations.add("freshdesk", sandbox.url, {"api_key": API_KEY}, settings={"api_user_id": "1"})
        key, change = issue_key(inst.id)
        store.installations.change_settings(inst.id, change, "test")
        sandbox.install_app({"baton_host": f"127.0.0.1:{port}", "baton_installation": inst.id},
                            {"baton_key": key, "baton_secret": inst.webhook_secret})
        customer = sandbox.add_contact("Carla Customer", "carla@example.com")["id"]
        sandbox.create_ticket(customer, "Charged twice", "I want a human")
        assert sandbox.wait_for_deliveries(10)
        (delivery,) = sandbox.deliveries
        assert delivery["url"] == f"http://127.0.0.1:{port}/webhooks/freshdesk/{inst.id}" and delivery["status"] == 200
        assert delivery["headers"][webhook.SECRET_HEADER] == inst.webhook_secret and len(queue.events) == 1

        assert sandbox.uninstall_app() == 200
        call = sandbox.app_requests[-1]
        assert (call["name"], call["url"], call["headers"][KEY_HEADER]) == (
            "baton_uninstall", f"http://127.0.0.1:{port}/apps/freshdesk/uninstall", key)
        assert store.installations.get(inst.id).status == "uninstalled"
        assert sandbox.app_iparams == sandbox.app_secure_iparams == {}
        sandbox.create_ticket(customer, "Again", "Hello?")
        assert sandbox.wait_for_deliveries(10) and len(sandbox.deliveries) == 1  # the app no longer forwards
    finally:
        server.stop()


def test_the_app_package_runs_the_consoles_own_script_on_each_page():
    """Scripts inside a page the shell injects do not run: the package carries the console's script
    (sections, filters, the unsaved-changes warning), byte for byte, loaded before the shell."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    copy = root / "manifests/freshdesk/app/scripts/baton.js"
    assert copy.read_bytes() == (root / "integration/service/console/static/baton.js").read_bytes()
    for page in ("index.html", "sidebar.html"):
        html = (root / "manifests/freshdesk/app" / page).read_text()
        assert html.index('src="scripts/baton.js"') < html.index('src="scripts/shell.js"')
