"""A Freshchat installation's console and panel, reached through the Freshdesk app of the same
business: only when the Freshchat installation names that Freshdesk installation as its app
(``settings["freshdesk_installation"]``), with the user and role Freshdesk vouches for."""
from __future__ import annotations

from typing import Any

import pytest

from connectors.freshchat.sandbox import key_pair, public_pem
from tests.connectors.freshdesk.test_app import (FakeQueue, client, install, other_sandbox, page, people,  # noqa: F401
                                                 queue, sandbox)


def freshchat(store: Any, linked_to: str | None) -> str:
    settings = {"api_user_id": "b-1"} | ({"freshdesk_installation": linked_to} if linked_to else {})
    return store.installations.add("freshchat", "https://acme.freshchat.com", {"token": "t"}, settings=settings,
                                   webhook_secret=public_pem(key_pair("tests-freshchat"))).id


def open_page(client: Any, key: str, user: int, installation: str, path: str = "/panel?ticket=c-1") -> Any:
    body = {"path": path, "method": "GET", "form": [], "user": {"id": user}, "installation": installation}
    from connectors.freshdesk.app import KEY_HEADER

    return client.post("/apps/freshdesk/page", json=body, headers={KEY_HEADER: key})


def test_the_linked_freshchat_installations_panel_and_console_open_through_the_freshdesk_app(client, store, sandbox):
    admin, agent = people(sandbox)
    fd = install(client, sandbox.url).get_json()
    fc = freshchat(store, fd["installation"])
    store.decisions.record_feedback(fc, "c-1", author_id="1", author_name="Ada", verdict="right", resolution=None,
                                    missing_knowledge="only the Freshchat conversation knows this")
    r = open_page(client, fd["key"], agent, fc)
    assert r.status_code == 200 and "only the Freshchat conversation knows this" in r.get_json()["html"]
    assert open_page(client, fd["key"], agent, fc, "/console/").get_json()["status"] == 403  # agents: panel only
    assert open_page(client, fd["key"], admin, fc, "/console/").get_json()["status"] == 200
    # the same agent without ``installation`` sees the Freshdesk installation's panel, not Freshchat's
    assert "only the Freshchat" not in page(client, fd["key"], agent, "/panel?ticket=c-1").get_json()["html"]


@pytest.mark.parametrize("case", ["not linked", "linked elsewhere", "not freshchat", "unknown", "uninstalled"])
def test_an_installation_that_does_not_name_this_freshdesk_app_is_refused(client, store, sandbox, other_sandbox, case):
    admin, _ = people(sandbox)
    fd = install(client, sandbox.url).get_json()
    other = install(client, other_sandbox.url).get_json()
    target = {"not linked": lambda: freshchat(store, None),
              "linked elsewhere": lambda: freshchat(store, other["installation"]),
              "not freshchat": lambda: other["installation"],
              "unknown": lambda: "nope",
              "uninstalled": lambda: freshchat(store, fd["installation"])}[case]()
    if case == "uninstalled":
        store.lifecycle.uninstall(target, "test")
    r = open_page(client, fd["key"], admin, target, "/console/")
    assert r.status_code == 403 and "not linked" in r.get_json()["error"]
