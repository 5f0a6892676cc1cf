"""The Intercom sandbox behaves like the documented Intercom API (2.14), over real HTTP."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from connectors.intercom.sandbox import IntercomSandbox
from tests.receiver import Receiver

TOKEN, SECRET, APP_ID = "tok-123", "client-secret-xyz", "abc123de"
CONVERSATION_KEYS = {"type", "id", "created_at", "updated_at", "title", "state", "open", "read", "priority",
                     "admin_assignee_id", "team_assignee_id", "tags", "source", "contacts", "custom_attributes",
                     "conversation_rating", "conversation_parts", "ai_agent_participated", "ai_agent"}
PART_KEYS = {"type", "id", "part_type", "body", "created_at", "updated_at", "notified_at", "assigned_to", "author"}
ENVELOPE_KEYS = {"type", "app_id", "data", "links", "id", "topic", "delivery_status", "delivery_attempts",
                 "delivered_at", "first_sent_at", "created_at", "self"}


class Api:
    def __init__(self, base: str, token: str | None = TOKEN) -> None:
        self.base, self.session = base, requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Intercom-Version"] = "2.14"

    def __getattr__(self, method: str) -> Any:
        return lambda path, **kw: self.session.request(method.upper(), self.base + path, timeout=5, **kw)


@pytest.fixture
def sandbox() -> Iterator[IntercomSandbox]:
    sb = IntercomSandbox(access_token=TOKEN, client_secret=SECRET, app_id=APP_ID, retry_delays=(0.05, 0.05, 0.05))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def api(sandbox: IntercomSandbox) -> Api:
    return Api(sandbox.url)


@pytest.fixture
def world(sandbox: IntercomSandbox) -> dict[str, Any]:
    billing = sandbox.add_team("Billing")
    agent = sandbox.add_admin("Bob Agent", "bob@support.test", team_ids=[billing["id"]])
    fin = sandbox.add_admin("Fin", "fin@support.test")
    acme = sandbox.add_company("Acme", plan="Enterprise", custom_attributes={"mrr": 900})
    ann = sandbox.add_contact("Ann Customer", "ann@acme.test", company_ids=[acme["id"]],
                              custom_attributes={"tier": "gold"}, language_override="fr", tags=["vip"])
    conv = sandbox.start_conversation(ann["id"], "I was charged <twice>")
    return {"team": billing, "agent": agent, "fin": fin, "company": acme, "contact": ann, "conv": conv}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def subscribe(sandbox: IntercomSandbox, receiver: Receiver, topics: list[str]) -> None:
    sandbox.add_webhook(receiver.url, topics)
    assert sandbox.wait_for_deliveries(5)
    receiver.calls.clear()  # drop the HEAD check and the ping
    sandbox.deliveries.clear()


def test_every_api_call_needs_the_bearer_token(sandbox: IntercomSandbox, api: Api) -> None:
    anonymous = Api(sandbox.url, token=None).get("/me")
    wrong = Api(sandbox.url, token="nope").get("/me")
    basic = requests.get(sandbox.url + "/me", auth=(TOKEN, ""), timeout=5)
    for response in (anonymous, wrong, basic):
        assert response.status_code == 401
        body = response.json()
        assert body["type"] == "error.list" and len(body["request_id"]) == 36
        assert body["errors"] == [{"code": "unauthorized", "message": "Access Token Invalid"}]
        assert response.headers["X-RateLimit-Limit"] == "10000"

    me = api.get("/me")
    assert me.status_code == 200
    assert me.json()["id"] == sandbox.api_admin_id and me.json()["type"] == "admin"
    assert me.json()["app"]["id_code"] == APP_ID
    assert int(me.headers["X-RateLimit-Remaining"]) < 10000  # failed calls count too
    assert int(me.headers["X-RateLimit-Reset"]) > time.time() - 1
    assert [e["status"] for e in sandbox.requests_log] == [401, 401, 401, 200]
    assert [e["headers"] for e in sandbox.requests_log] == ["2.14", "2.14", None, "2.14"]
    assert sandbox.requests_log[3]["path"] == "/me"


def test_admin_team_contact_company_and_conversation_shapes(sandbox: IntercomSandbox, api: Api,
                                                          world: dict[str, Any]) -> None:
    agent, team, contact, company = world["agent"], world["team"], world["contact"], world["company"]
    admins = api.get("/admins").json()
    assert admins["type"] == "admin.list"
    assert [a["id"] for a in admins["admins"]] == [sandbox.api_admin_id, agent["id"], world["fin"]["id"]]
    assert api.get(f"/admins/{agent['id']}").json() == {
        "type": "admin", "id": agent["id"], "name": "Bob Agent", "email": "bob@support.test",
        "away_mode_enabled": False, "away_mode_reassign": False, "has_inbox_seat": True, "team_ids": [team["id"]]}
    assert api.get("/teams").json() == {"type": "team.list", "teams": [
        {"type": "team", "id": team["id"], "name": "Billing", "admin_ids": [agent["id"]]}]}

    got = api.get(f"/contacts/{contact['id']}").json()
    assert (got["role"], got["language_override"], got["custom_attributes"]) == ("user", "fr", {"tier": "gold"})
    assert got["companies"] == {"type": "list", "data": [{"type": "company", "id": company["id"]}]}
    [tag] = got["tags"]["data"]
    assert api.get("/tags").json()["data"] == [{"type": "tag", "id": tag["id"], "name": "vip"}]
    companies = api.get(f"/contacts/{contact['id']}/companies").json()
    assert companies == {"type": "list", "data": [api.get(f"/companies/{company['id']}").json()]}
    assert companies["data"][0]["plan"] == {"type": "plan", "name": "Enterprise"}
    assert companies["data"][0]["custom_attributes"] == {"mrr": 900}

    conv = api.get(f"/conversations/{world['conv']['id']}").json()
    assert set(conv) == CONVERSATION_KEYS and conv == world["conv"]
    assert all(isinstance(i, str) and i.isdigit() for i in (conv["id"], conv["source"]["id"], contact["id"]))
    assert len({conv["id"], conv["source"]["id"], contact["id"], company["id"], agent["id"], team["id"]}) == 6
    assert (conv["state"], conv["open"], conv["priority"], conv["admin_assignee_id"]) == ("open", True,
                                                                                          "not_priority", None)
    assert conv["source"] == {"type": "conversation", "id": conv["source"]["id"], "delivered_as": "customer_initiated",
                              "subject": "", "body": "<p>I was charged &lt;twice&gt;</p>",
                              "author": {"type": "user", "id": contact["id"], "name": "Ann Customer",
                                         "email": "ann@acme.test"}}
    assert conv["contacts"] == {"type": "contact.list", "contacts": [{"type": "contact", "id": contact["id"]}]}
    assert conv["conversation_parts"] == {"type": "conversation_part.list", "conversation_parts": [], "total_count": 0}
    assert (conv["ai_agent_participated"], conv["ai_agent"]) == (False, None)  # Fin never took part

    sandbox.admin_reply(conv["id"], world["fin"]["id"], "Let me check <that>", author_type="bot")
    [part] = api.get(f"/conversations/{conv['id']}").json()["conversation_parts"]["conversation_parts"]
    assert set(part) == PART_KEYS and part["part_type"] == "comment" and part["assigned_to"] is None
    assert part["author"] == {"type": "bot", "id": world["fin"]["id"], "name": "Fin", "email": "fin@support.test"}
    plain = api.get(f"/conversations/{conv['id']}", params={"display_as": "plaintext"}).json()
    assert plain["source"]["body"] == "I was charged <twice>"
    assert plain["conversation_parts"]["conversation_parts"][0]["body"] == "Let me check <that>"
    assert sandbox.requests_log[-1]["query"] == {"display_as": "plaintext"}

    for path in ("/conversations/1", f"/contacts/{conv['id']}", f"/admins/{contact['id']}", "/nowhere"):
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


def test_admin_note_fires_a_signed_noted_notification(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                                      world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.admin.noted"])
    cid = world["conv"]["id"]
    note = "<p><b>Baton handoff</b></p><p>billing</p>"
    response = api.post(f"/conversations/{cid}/reply", json={
        "message_type": "note", "type": "admin", "admin_id": sandbox.api_admin_id, "body": note})
    assert response.status_code == 200
    conv = response.json()
    assert conv["conversation_parts"]["conversation_parts"][-1]["body"] == note  # HTML kept as sent
    assert sandbox.wait_for_deliveries(5)

    [(headers, body)] = receiver.posts()
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "Intercom-Webhooks-Bot"
    assert hmac.compare_digest(headers["X-Hub-Signature"], sign(body))
    assert headers["X-Hub-Signature"] != sign(body, "another-apps-secret")
    payload = json.loads(body)
    assert set(payload) == ENVELOPE_KEYS
    assert (payload["type"], payload["app_id"], payload["topic"]) == ("notification_event", APP_ID,
                                                                      "conversation.admin.noted")
    assert payload["id"].startswith("notif_") and payload["self"] is None
    assert (payload["delivery_status"], payload["delivery_attempts"], payload["delivered_at"]) == ("pending", 1, 0)
    assert payload["data"]["type"] == "notification_event_data"
    item = payload["data"]["item"]
    assert item == conv  # the whole conversation; the note is the last part
    last = item["conversation_parts"]["conversation_parts"][-1]
    assert last["part_type"] == "note" and last["author"]["id"] == sandbox.api_admin_id
    assert last["author"]["type"] == "admin"
    assert sandbox.deliveries == [{"topic": "conversation.admin.noted", "notification_id": payload["id"],
                                   "status": 200, "attempt": 1, "at": sandbox.deliveries[0]["at"], "body": body}]


def test_user_and_admin_comments_through_the_api(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                                 world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.user.replied", "conversation.admin.replied"])
    cid, contact = world["conv"]["id"], world["contact"]
    user = api.post(f"/conversations/{cid}/reply", json={
        "message_type": "comment", "type": "user", "intercom_user_id": contact["id"], "body": "a < b"})
    assert user.status_code == 200
    admin = api.post(f"/conversations/{cid}/reply", json={
        "message_type": "comment", "type": "admin", "admin_id": int(world["agent"]["id"]), "body": "On it"})
    assert admin.status_code == 200
    parts = sandbox.get_parts(cid)
    assert [(p["author"]["type"], p["body"]) for p in parts] == [("user", "<p>a &lt; b</p>"), ("admin", "<p>On it</p>")]

    before = sandbox.get_conversation(cid)
    for bad, status in (({"message_type": "note", "type": "user", "intercom_user_id": contact["id"], "body": "x"}, 400),
                        ({"message_type": "comment", "type": "admin", "admin_id": "424242", "body": "x"}, 404),
                        ({"message_type": "comment", "type": "admin", "admin_id": world["agent"]["id"]}, 400)):
        response = api.post(f"/conversations/{cid}/reply", json=bad)
        assert response.status_code == status
        assert response.json()["errors"][0]["code"] == ("parameter_invalid" if status == 400 else "not_found")
    assert sandbox.get_conversation(cid) == before
    assert sandbox.wait_for_deliveries(5)
    assert receiver.topics() == ["conversation.user.replied", "conversation.admin.replied"]


def test_assignment_to_a_team_and_to_an_admin(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                              world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.admin.assigned"])
    cid, team, agent = world["conv"]["id"], world["team"], world["agent"]
    to_team = api.post(f"/conversations/{cid}/parts", json={
        "message_type": "assignment", "type": "team", "admin_id": sandbox.api_admin_id, "assignee_id": team["id"],
        "body": "Billing dispute"})
    assert to_team.status_code == 200
    assert (to_team.json()["team_assignee_id"], to_team.json()["admin_assignee_id"]) == (team["id"], None)
    to_admin = api.post(f"/conversations/{cid}/parts", json={
        "message_type": "assignment", "type": "admin", "admin_id": sandbox.api_admin_id, "assignee_id": agent["id"]})
    assert (to_admin.json()["team_assignee_id"], to_admin.json()["admin_assignee_id"]) == (team["id"], agent["id"])

    first, second = sandbox.get_parts(cid)
    assert (first["part_type"], first["assigned_to"], first["body"]) == (
        "assignment", {"type": "team", "id": team["id"]}, "<p>Billing dispute</p>")
    assert (second["assigned_to"], second["body"]) == ({"type": "admin", "id": agent["id"]}, None)
    assert first["author"]["id"] == second["author"]["id"] == sandbox.api_admin_id

    missing = api.post(f"/conversations/{cid}/parts", json={
        "message_type": "assignment", "type": "team", "admin_id": sandbox.api_admin_id, "assignee_id": agent["id"]})
    assert missing.status_code == 404  # an admin id is not a team
    unassigned = api.post(f"/conversations/{cid}/parts", json={
        "message_type": "assignment", "type": "admin", "admin_id": sandbox.api_admin_id, "assignee_id": "0"})
    assert unassigned.json()["admin_assignee_id"] is None and unassigned.json()["team_assignee_id"] == team["id"]
    assert sandbox.wait_for_deliveries(5)
    items = [json.loads(body)["data"]["item"] for _, body in receiver.posts()]
    assert [i["conversation_parts"]["total_count"] for i in items] == [1, 2, 3]
    assert items[1]["admin_assignee_id"] == agent["id"]


def test_close_and_open_through_parts(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                      world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.admin.closed", "conversation.admin.opened"])
    cid, me = world["conv"]["id"], sandbox.api_admin_id
    closed = api.post(f"/conversations/{cid}/parts", json={"message_type": "close", "type": "admin", "admin_id": me})
    assert (closed.json()["state"], closed.json()["open"]) == ("closed", False)
    opened = api.post(f"/conversations/{cid}/parts", json={"message_type": "open", "type": "admin", "admin_id": me})
    assert opened.json()["state"] == "open"
    assert [p["part_type"] for p in sandbox.get_parts(cid)] == ["close", "open"]
    snooze = api.post(f"/conversations/{cid}/parts", json={"message_type": "snoozed", "type": "admin", "admin_id": me})
    assert snooze.status_code == 400
    assert sandbox.wait_for_deliveries(5)
    assert receiver.topics() == ["conversation.admin.closed", "conversation.admin.opened"]


def test_tags_are_created_once_and_attached_idempotently(sandbox: IntercomSandbox, api: Api,
                                                         world: dict[str, Any]) -> None:
    cid = world["conv"]["id"]
    tag = api.post("/tags", json={"name": "baton_escalated"}).json()
    assert tag == {"type": "tag", "id": tag["id"], "name": "baton_escalated"}
    assert api.post("/tags", json={"name": "baton_escalated"}).json() == tag
    assert [t["name"] for t in api.get("/tags").json()["data"]] == ["vip", "baton_escalated"]

    for _ in range(2):
        attached = api.post(f"/conversations/{cid}/tags", json={"id": tag["id"], "admin_id": sandbox.api_admin_id})
        assert attached.status_code == 200 and attached.json() == tag
    assert sandbox.get_conversation(cid)["tags"] == {"type": "tag.list", "tags": [tag]}
    unknown = api.post(f"/conversations/{cid}/tags", json={"id": "99", "admin_id": sandbox.api_admin_id})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "not_found"
    assert api.post("/tags", json={"name": ""}).status_code == 400

    assert api.delete(f"/conversations/{cid}/tags/{tag['id']}", json={"admin_id": sandbox.api_admin_id}).json() == tag
    assert sandbox.get_conversation(cid)["tags"]["tags"] == []


def test_priority_needs_the_preview_version_and_attributes_merge(sandbox: IntercomSandbox, api: Api,
                                                               world: dict[str, Any]) -> None:
    cid = world["conv"]["id"]
    before = sandbox.get_conversation(cid)
    stable = api.put(f"/conversations/{cid}", json={"priority": "high", "admin_id": sandbox.api_admin_id,
                                                   "custom_attributes": {"baton": "escalated"}})
    assert stable.status_code == 400 and stable.json()["errors"][0]["code"] == "parameter_invalid"
    assert sandbox.get_conversation(cid) == before

    preview = {"Intercom-Version": "Preview"}
    bad = api.put(f"/conversations/{cid}", headers=preview, json={"priority": "critical",
                                                                   "admin_id": sandbox.api_admin_id})
    assert bad.status_code == 400
    high = api.put(f"/conversations/{cid}", headers=preview, json={"priority": "high",
                                                                    "admin_id": sandbox.api_admin_id})
    assert high.status_code == 200 and high.json()["priority"] == "high"
    assert sandbox.requests_log[-1]["headers"] == "Preview"
    assert api.get(f"/conversations/{cid}").json()["priority"] == "priority"  # as 2.14 shows it

    api.put(f"/conversations/{cid}", json={"custom_attributes": {"baton": "escalated"}})
    merged = api.put(f"/conversations/{cid}", json={"custom_attributes": {"reason": "billing"}}).json()
    assert merged["custom_attributes"] == {"baton": "escalated", "reason": "billing"}


def test_search_by_contact_is_newest_first(sandbox: IntercomSandbox, api: Api, world: dict[str, Any]) -> None:
    contact = world["contact"]
    newer = sandbox.start_conversation(contact["id"], "Again")
    other = sandbox.add_contact("Zed", "zed@else.test")
    sandbox.start_conversation(other["id"], "Not mine")
    found = api.post("/conversations/search", json={"query": {"field": "contact_ids", "operator": "=",
                                                              "value": contact["id"]}}).json()
    assert found["type"] == "conversation.list" and found["total_count"] == 2
    assert [c["id"] for c in found["conversations"]] == [newer["id"], world["conv"]["id"]]
    assert found["pages"] == {"type": "pages", "page": 1, "per_page": 20, "total_pages": 1}
    assert "conversation_parts" not in found["conversations"][0]
    bad = api.post("/conversations/search", json={"query": {"field": "email", "operator": "~", "value": "x"}})
    assert bad.status_code == 400


def test_throttle_answers_429_and_changes_nothing(sandbox: IntercomSandbox, api: Api, world: dict[str, Any]) -> None:
    cid = world["conv"]["id"]
    before = sandbox.get_conversation(cid)
    sandbox.throttle(2, retry_after=3)
    note = {"message_type": "note", "type": "admin", "admin_id": sandbox.api_admin_id, "body": "handoff"}
    for _ in range(2):
        limited = api.post(f"/conversations/{cid}/reply", json=note)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert int(limited.headers["X-RateLimit-Reset"]) >= time.time() + 1
    assert sandbox.get_conversation(cid) == before

    assert api.post(f"/conversations/{cid}/reply", json=note).status_code == 200
    posts = [e for e in sandbox.requests_log if e["path"] == f"/conversations/{cid}/reply"]
    assert [e["status"] for e in posts] == [429, 429, 200] and all(e["json"] == note for e in posts)
    sandbox.reset_log()
    assert sandbox.requests_log == []


def test_delay_holds_the_call_but_still_applies_it(sandbox: IntercomSandbox, api: Api, world: dict[str, Any]) -> None:
    cid = world["conv"]["id"]
    sandbox.delay(0.5)
    with pytest.raises(requests.Timeout):
        requests.post(f"{sandbox.url}/conversations/{cid}/reply", headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"message_type": "note", "type": "admin", "admin_id": sandbox.api_admin_id, "body": "x"},
                      timeout=0.1)
    assert api.get(f"/conversations/{cid}").json()["conversation_parts"]["total_count"] == 0  # GETs are not delayed
    deadline = time.monotonic() + 5
    while not sandbox.get_parts(cid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p["part_type"] for p in sandbox.get_parts(cid)] == ["note"]


def test_subscription_sends_a_head_check_then_a_signed_ping(sandbox: IntercomSandbox, receiver: Receiver) -> None:
    subscription = sandbox.add_webhook(receiver.url, ["conversation.admin.noted"])
    assert subscription == {"url": receiver.url, "topics": ["conversation.admin.noted"]}
    assert sandbox.wait_for_deliveries(5)
    (head, _, head_body), (post, headers, body) = receiver.calls
    assert (head, head_body, post) == ("HEAD", b"", "POST")
    assert headers["X-Hub-Signature"] == sign(body)
    ping = json.loads(body)
    assert ping["topic"] == "ping" and ping["data"]["item"] == {"type": "ping",
                                                                "message": "something something interzen"}

    receiver.head_status = 405  # an endpoint that only accepts POST fails Intercom's check
    with pytest.raises(ValueError, match="HEAD"):
        sandbox.add_webhook(receiver.url + "/other", ["conversation.user.created"])
    sandbox.start_conversation(sandbox.add_contact("Ann", "ann@acme.test")["id"], "Hi")
    assert sandbox.wait_for_deliveries(5)
    assert receiver.topics() == ["ping"]  # the old subscription stands, without that topic


def test_only_subscribed_topics_are_sent(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                         world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.user.created", "conversation.user.replied"])
    cid, contact = world["conv"]["id"], world["contact"]
    sandbox.admin_reply(cid, world["agent"]["id"], "Hello")
    sandbox.user_reply(cid, contact["id"], "Still there?")
    sandbox.close(cid, world["agent"]["id"])
    sandbox.start_conversation(contact["id"], "New question")
    assert sandbox.wait_for_deliveries(5)
    assert receiver.topics() == ["conversation.user.replied", "conversation.user.created"]
    assert len({json.loads(body)["id"] for _, body in receiver.posts()}) == 2


def test_deliveries_are_retried_on_503_but_not_on_429_or_400(sandbox: IntercomSandbox, receiver: Receiver,
                                                             world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.user.replied"])
    cid, contact = world["conv"]["id"], world["contact"]["id"]
    receiver.statuses = [503, 503]
    sandbox.user_reply(cid, contact, "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, 503), (2, 503), (3, 200)]
    assert len({(headers["X-Hub-Signature"], body) for headers, body in receiver.posts()}) == 1
    assert len({d["notification_id"] for d in sandbox.deliveries}) == 1
    assert sandbox.deliveries[2]["at"] - sandbox.deliveries[0]["at"] >= 0.09

    receiver.statuses = [429, 400]
    sandbox.user_reply(cid, contact, "Again")
    sandbox.user_reply(cid, contact, "And again")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries[3:]] == [(1, 429), (1, 400)]


def test_unreachable_endpoint_is_tried_four_times(sandbox: IntercomSandbox, world: dict[str, Any]) -> None:
    gone = Receiver()
    subscribe(sandbox, gone, ["conversation.user.replied"])
    gone.close()  # the endpoint passed the HEAD check, then went away
    sandbox.user_reply(world["conv"]["id"], world["contact"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, None), (2, None), (3, None), (4, None)]


def test_redeliver_sends_the_same_body_and_signature(sandbox: IntercomSandbox, receiver: Receiver,
                                                     world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.user.replied"])
    sandbox.user_reply(world["conv"]["id"], world["contact"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert sandbox.redeliver(0) == 200
    (first, body1), (again, body2) = receiver.posts()
    assert body1 == body2 and again["X-Hub-Signature"] == first["X-Hub-Signature"] == sign(body2)
    assert [d["notification_id"] for d in sandbox.deliveries] == [json.loads(body1)["id"]] * 2

    assert sandbox.signed_request(b'{"a": 1}') == {
        "Content-Type": "application/json", "User-Agent": "Intercom-Webhooks-Bot",
        "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), b'{"a": 1}', hashlib.sha1).hexdigest()}


def test_rating_notification_carries_the_rating(sandbox: IntercomSandbox, api: Api, receiver: Receiver,
                                                world: dict[str, Any]) -> None:
    subscribe(sandbox, receiver, ["conversation.rating.added"])
    cid, agent = world["conv"]["id"], world["agent"]
    api.post(f"/conversations/{cid}/parts", json={"message_type": "assignment", "type": "admin",
                                                  "admin_id": sandbox.api_admin_id, "assignee_id": agent["id"]})
    sandbox.close(cid, agent["id"])
    sandbox.rate(cid, 4, remark="Quick, thanks")
    assert sandbox.wait_for_deliveries(5)
    [(_, body)] = receiver.posts()
    payload = json.loads(body)
    assert payload["topic"] == "conversation.rating.added"
    rating = payload["data"]["item"]["conversation_rating"]
    assert rating == {"rating": 4, "remark": "Quick, thanks", "created_at": rating["created_at"],
                      "contact": {"type": "contact", "id": world["contact"]["id"]},
                      "teammate": {"type": "admin", "id": agent["id"]}}
    assert payload["data"]["item"]["state"] == "closed"
    with pytest.raises(ValueError):
        sandbox.rate(cid, 6)


def test_injected_clock_drives_timestamps_and_rate_limit_reset() -> None:
    frozen = datetime(2026, 11, 20, 10, 0, 30, 500000, tzinfo=timezone.utc)
    sb = IntercomSandbox(clock=lambda: frozen)
    client = sb.app.test_client()  # the Flask app works without a server, too
    contact = sb.add_contact("Ann", "ann@acme.test")
    conv = sb.start_conversation(contact["id"], "Hi")
    epoch = int(frozen.timestamp())
    assert conv["created_at"] == conv["updated_at"] == contact["created_at"] == epoch
    response = client.get(f"/conversations/{conv['id']}", headers={"Authorization": "Bearer sandbox-token"})
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Reset"] == str(epoch - 30 + 60)  # the end of this minute's window
    assert response.headers["X-RateLimit-Remaining"] == "9999"
    assert client.get("/me").headers["X-RateLimit-Remaining"] == "9998"  # a refused call counts too
    assert sb.requests_log[0]["time"] == frozen


def test_fin_answers_on_both_reply_topics_and_reports_its_verdict_in_the_version_asked(
        sandbox: IntercomSandbox, api: Api, receiver: Receiver, world: dict[str, Any]) -> None:
    """Fin's reply: one part by a bot author flagged as the AI agent, sent on operator.replied and on
    admin.replied (as Intercom does); its verdict is ai_agent.resolution_state, in 2.15+ words, or
    2.14's for the app's default version."""
    subscribe(sandbox, receiver, ["conversation.operator.replied", "conversation.admin.replied"])
    cid = world["conv"]["id"]
    sandbox.fin_answer(cid, "Duplicate charges settle in 3-5 days.")
    assert sandbox.wait_for_deliveries()
    bodies = [json.loads(body) for _, body in receiver.requests if json.loads(body)["topic"] != "ping"]
    assert [b["topic"] for b in bodies] == ["conversation.operator.replied", "conversation.admin.replied"]
    parts = [b["data"]["item"]["conversation_parts"]["conversation_parts"][-1] for b in bodies]
    assert parts[0] == parts[1] and parts[0]["author"]["type"] == "bot"
    assert parts[0]["author"]["from_ai_agent"] is True and parts[0]["author"]["is_ai_answer"] is True
    assert parts[0]["author"]["email"] == f"operator+{sandbox.app_id}@intercom.io"

    sandbox.fin_verdict(cid, "procedure_handoff")
    new = api.get(f"/conversations/{cid}", headers={"Intercom-Version": "2.16"}).json()
    assert new["ai_agent_participated"] is True and new["ai_agent"]["resolution_state"] == "procedure_handoff"
    assert api.get(f"/conversations/{cid}").json()["ai_agent"]["resolution_state"] == "routed_to_team"  # 2.14
    assert sandbox.fin_answer(cid, "Anything else?") is None  # a procedure's handoff ends Fin's step
    with pytest.raises(ValueError):
        sandbox.fin_verdict(cid, "routed_to_team")  # 2.14's word: the sandbox keeps 2.16's


@pytest.mark.parametrize("stops", [True, False])
def test_an_assignment_stops_fin_only_when_the_sandbox_plays_that_answer(
        sandbox: IntercomSandbox, api: Api, world: dict[str, Any], stops: bool) -> None:
    sandbox.fin_stops_on_assignment = stops
    cid = world["conv"]["id"]
    assert sandbox.fin_answer(cid, "Let me look.") is not None
    api.post(f"/conversations/{cid}/parts", json={"message_type": "assignment", "type": "team",
                                                  "admin_id": sandbox.api_admin_id, "assignee_id": world["team"]["id"]})
    assert (sandbox.fin_answer(cid, "Still here!") is None) is stops


def test_tags_are_listed_in_their_documented_shape(sandbox: IntercomSandbox, api: Api) -> None:
    """``GET /tags`` (connectors/intercom/fixtures/README.md): every tag of the workspace, by name,
    one made in the settings on nothing yet included."""
    from pathlib import Path

    sandbox.add_tag("Beta User")
    body = api.get("/tags").json()
    example = json.loads((Path(__file__).parents[3] / "connectors" / "intercom" / "fixtures" / "api" / "tags.json").read_text())
    assert body["type"] == example["type"] and [t["name"] for t in body["data"]] == ["Beta User"]
    assert set(body["data"][0]) == set(example["data"][0])
