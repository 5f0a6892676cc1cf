"""The Freshchat sandbox behaves like the Freshchat API v2 subset Baton uses, over real HTTP: bearer
auth, shapes, paging, 429 with Retry-After, the refusals, and RSA-signed webhooks that Baton's own
verifier accepts."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from connectors.freshchat import webhook
from connectors.freshchat.sandbox import FreshchatSandbox
from integration.core.contract import InvalidSignature
from integration.core.model import Installation
from tests.receiver import Receiver

TOKEN = "fc-token"


class Api:
    def __init__(self, base: str, token: str | None = TOKEN) -> None:
        self.base, self.session = base, requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __getattr__(self, method: str) -> Any:
        return lambda path, **kw: self.session.request(method.upper(), self.base + "/v2" + path, timeout=5, **kw)


@pytest.fixture
def sandbox() -> Iterator[FreshchatSandbox]:
    sb = FreshchatSandbox(token=TOKEN, retry_delays=(0.05, 0.05, 0.05))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def api(sandbox: FreshchatSandbox) -> Api:
    return Api(sandbox.url)


@pytest.fixture
def world(sandbox: FreshchatSandbox) -> dict[str, Any]:
    group = sandbox.add_group("Billing")
    agent = sandbox.add_agent("Sam Stone", "sam@yourco.test", [group["id"]])
    user = sandbox.add_user("Ann Lee", "ann@example.com", {"plan": "Pro"})
    conv = sandbox.start_conversation(user["id"], "I was charged twice")
    sandbox.add_property("cf_baton_tags")
    return {"group": group, "agent": agent, "user": user, "conv": conv, "cid": conv["conversation_id"]}


def test_every_call_needs_the_accounts_bearer_token(sandbox: FreshchatSandbox) -> None:
    for token in (None, "wrong"):
        r = Api(sandbox.url, token).get("/accounts/configuration")
        assert r.status_code == 401 and r.json()["code"] == 401
    basic = requests.get(f"{sandbox.url}/v2/accounts/configuration", auth=(TOKEN, "X"), timeout=5)
    assert basic.status_code == 401  # the token is a bearer, never Basic
    assert Api(sandbox.url).get("/accounts/configuration").json()["app_id"] == sandbox.app_id


def test_a_conversation_and_its_messages_in_freshchats_shapes(api: Api, world: dict[str, Any]) -> None:
    conv = api.get(f"/conversations/{world['cid']}").json()
    assert {"conversation_id", "app_id", "status", "channel_id", "properties", "user_id", "created_time",
            "updated_time", "assigned_agent_id", "assigned_group_id"} <= set(conv)
    assert conv["status"] == "new" and conv["properties"] == {"priority": "Low"}
    (first,) = api.get(f"/conversations/{world['cid']}/messages").json()["messages"]
    assert first["message_parts"] == [{"text": {"content": "I was charged twice"}}]
    assert (first["actor_type"], first["actor_id"], first["message_type"]) == ("user", world["user"]["id"], "normal")
    assert api.get("/conversations/00000000-0000-4000-8000-000000000000").status_code == 404


def test_messages_come_newest_first_a_page_at_a_time(sandbox: FreshchatSandbox, api: Api, world: dict[str, Any]) -> None:
    for n in range(4):
        sandbox.user_message(world["cid"], f"message {n}")
    page = api.get(f"/conversations/{world['cid']}/messages", params={"items_per_page": 3}).json()
    assert [m["message_parts"][0]["text"]["content"] for m in page["messages"]] == ["message 3", "message 2", "message 1"]
    assert page["link"]["rel"] == "next_page"
    rest = requests.get(sandbox.url + page["link"]["href"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert [m["message_parts"][0]["text"]["content"] for m in rest["messages"]] == ["message 0", "I was charged twice"]
    assert "link" not in rest
    assert api.get(f"/conversations/{world['cid']}/messages", params={"items_per_page": 1000}).status_code == 400


def test_the_handoff_update_is_stored_and_what_freshchat_refuses_changes_nothing(api: Api, world: dict[str, Any]) -> None:
    cid, group, agent = world["cid"], world["group"]["id"], world["agent"]["id"]
    refused = [
        {"status": "escalated"},
        {"assigned_agent_id": "00000000-0000-4000-8000-000000000000"},
        {"assigned_group_id": 12},
        {"properties": {"priority": "high"}},  # Freshchat's priorities are capitalised
        {"properties": {"cf_not_defined": "x"}},  # a property the account never defined
        {"priority": "High"},  # priority lives under properties
    ]
    for body in refused:
        r = api.put(f"/conversations/{cid}", json=body)
        assert r.status_code == 400, body
    assert api.get(f"/conversations/{cid}").json()["status"] == "new"
    assert api.put(f"/conversations/{cid}", data="status=assigned",
                   headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    ok = api.put(f"/conversations/{cid}", json={"assigned_group_id": group, "assigned_agent_id": agent, "status": "assigned",
                                                "properties": {"priority": "High", "cf_baton_tags": "baton_escalated"}})
    assert ok.status_code == 200
    conv = api.get(f"/conversations/{cid}").json()
    assert (conv["status"], conv["assigned_group_id"], conv["assigned_agent_id"]) == ("assigned", group, agent)
    assert conv["properties"] == {"priority": "High", "cf_baton_tags": "baton_escalated"}


def test_a_private_message_needs_text_parts_and_a_real_agent(sandbox: FreshchatSandbox, api: Api, world: dict[str, Any]) -> None:
    path = f"/conversations/{world['cid']}/messages"
    good = {"message_parts": [{"text": {"content": "note"}}], "message_type": "private", "actor_type": "agent",
            "actor_id": sandbox.api_agent_id}
    for bad in ({**good, "message_parts": []}, {**good, "message_parts": [{"image": {"url": "x"}}]},
                {**good, "message_type": "note"}, {**good, "actor_type": "admin"},
                {**good, "actor_id": "00000000-0000-4000-8000-000000000000"},
                {**good, "actor_type": "user", "actor_id": world["user"]["id"]},  # users write no private notes
                {**good, "body": "x"}):
        assert api.post(path, json=bad).status_code == 400, bad
    r = api.post(path, json=good)
    assert r.status_code == 201 and r.json()["message_type"] == "private"
    assert [m["message_type"] for m in sandbox.get_messages(world["cid"])] == ["normal", "private"]


def test_429_carries_retry_after_and_changes_nothing(sandbox: FreshchatSandbox, api: Api, world: dict[str, Any]) -> None:
    sandbox.throttle(1, retry_after=7)
    r = api.put(f"/conversations/{world['cid']}", json={"status": "resolved"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert api.get(f"/conversations/{world['cid']}").json()["status"] == "new"
    assert [e["status"] for e in sandbox.requests_log] == [429, 200]


def test_groups_and_agents_are_paged_with_links(sandbox: FreshchatSandbox, api: Api, world: dict[str, Any]) -> None:
    for n in range(3):
        sandbox.add_agent(f"Agent {n}", f"a{n}@yourco.test")
    page = api.get("/agents", params={"items_per_page": 2}).json()
    assert len(page["agents"]) == 2 and page["pagination"]["total_items"] == 5  # Baton's agent, Sam and three
    assert page["links"]["next_page"]["href"].endswith("page=2&items_per_page=2")
    assert api.get("/groups").json()["groups"] == [world["group"]]


def test_webhooks_are_signed_with_the_accounts_key_and_baton_verifies_them(sandbox: FreshchatSandbox,
                                                                           world: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        sandbox.set_webhook(receiver.url)
        sandbox.user_message(world["cid"], "Hello?")
        sandbox.update_as(world["cid"], world["agent"]["id"], {"assigned_agent_id": world["agent"]["id"], "status": "assigned"})
        sandbox.update_as(world["cid"], world["agent"]["id"], {"status": "resolved"})
        sandbox.user_message(world["cid"], "Again")  # writing on a resolved conversation reopens it
        assert sandbox.wait_for_deliveries(10)
        posts = receiver.posts()
    finally:
        receiver.close()
    actions = [json.loads(body)["action"] for _, body in posts]
    assert actions == ["message_create", "conversation_assignment", "conversation_resolution", "conversation_reopen",
                       "message_create"]
    inst = Installation("i", "freshchat", sandbox.url, {}, sandbox.public_key)
    now = datetime.now(timezone.utc)
    for headers, body in posts:
        assert headers["X-Freshchat-Payload-Version"] == "1" and headers["X-Retry-Count"] == "0"
        webhook.verify(headers, body, inst, now)  # Baton's own check accepts the sandbox's signature
        assert webhook.parse(body, inst).ticket_id == world["cid"]
    headers, body = posts[0]
    with pytest.raises(InvalidSignature):
        webhook.verify(headers, body.replace(b"Hello?", b"Hello!"), inst, now)


def test_a_failed_delivery_is_retried_with_its_retry_count(sandbox: FreshchatSandbox, world: dict[str, Any]) -> None:
    receiver = Receiver()
    receiver.statuses = [503]
    try:
        sandbox.set_webhook(receiver.url)
        sandbox.user_message(world["cid"], "Hello?")
        assert sandbox.wait_for_deliveries(10)
        counts = [h["X-Retry-Count"] for h, _ in receiver.posts()]
    finally:
        receiver.close()
    assert counts == ["0", "1"]  # the signature covers the body only: the same bytes, the same signature
    assert [d["status"] for d in sandbox.deliveries] == [503, 200]


def test_the_inbox_page_shows_a_conversation_with_its_private_notes_escaped(sandbox: FreshchatSandbox,
                                                                          world: dict[str, Any]) -> None:
    """The read-only inbox a person opens from the demo: at the path of the conversation's url, every
    message (private notes marked), the assignment, and no markup of anyone's run."""
    cid = world["cid"]
    sandbox.user_message(cid, "<img src=x onerror=alert(1)> hello?")
    sandbox.agent_message(cid, sandbox.api_agent_id, "[Baton handoff] billing", private=True)
    sandbox.update_as(cid, world["agent"]["id"], {"assigned_group_id": world["group"]["id"], "status": "assigned"})
    url = sandbox.get_conversation(cid)["url"]
    page = requests.get(sandbox.url + url.split(sandbox.domain, 1)[1], timeout=5)
    assert page.status_code == 200 and "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "I was charged twice" in page.text and "private note" in page.text and "[Baton handoff] billing" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt; hello?" in page.text and "<img" not in page.text
    assert "assigned" in page.text and "group Billing" in page.text
    listing = requests.get(f"{sandbox.url}/a/inbox", timeout=5).text
    assert "Ann Lee" in listing and "Billing" in listing
    assert requests.get(f"{sandbox.url}/a/{sandbox.app_id}/open/conversation/1", timeout=5).status_code == 404
