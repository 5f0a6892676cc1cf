"""The Zendesk sandbox behaves like the documented Zendesk API, over real HTTP."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.datastructures import Headers

from connectors.zendesk.sandbox import ZendeskSandbox
from tests.receiver import Receiver

EMAIL, TOKEN = "bot@example.com", "s3cret-token"
TICKET_KEYS = {"id", "url", "subject", "description", "status", "priority", "requester_id", "submitter_id",
               "assignee_id", "group_id", "organization_id", "tags", "created_at", "updated_at", "via"}
COMMENT_KEYS = {"id", "type", "author_id", "body", "html_body", "plain_body", "public", "created_at"}
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class Api:
    def __init__(self, base: str, auth: tuple[str, str] | None = (f"{EMAIL}/token", TOKEN)) -> None:
        self.base, self.session = base, requests.Session()
        self.session.auth = auth

    def __getattr__(self, method: str) -> Any:
        return lambda path, **kw: self.session.request(method.upper(), self.base + "/api/v2" + path, timeout=5, **kw)


@pytest.fixture
def sandbox() -> Iterator[ZendeskSandbox]:
    sb = ZendeskSandbox(api_email=EMAIL, api_token=TOKEN, oauth_token="oauth-abc", retry_delays=(0.05, 0.05, 0.05))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def api(sandbox: ZendeskSandbox) -> Api:
    return Api(sandbox.url)


@pytest.fixture
def world(sandbox: ZendeskSandbox) -> dict[str, Any]:
    org = sandbox.add_organization("Acme", tags=["enterprise"], organization_fields={"plan": "Business"})
    customer = sandbox.add_user("Ann Customer", "ann@acme.test", organization_id=org["id"], tags=["vip"],
                                time_zone="Europe/Paris", locale="fr", user_fields={"tier": "gold"})
    agent = sandbox.add_user("Bob Agent", "bob@support.test", role="agent")
    group = sandbox.add_group("Billing")
    ticket = sandbox.create_ticket(customer["id"], "Charged twice", "I was charged twice", priority="normal",
                                   tags=["billing"])
    return {"org": org, "customer": customer, "agent": agent, "group": group, "ticket": ticket}


def signature(secret: str, headers: Headers, body: bytes) -> str:
    stamp = headers["X-Zendesk-Webhook-Signature-Timestamp"].encode()
    return base64.b64encode(hmac.new(secret.encode(), stamp + body, hashlib.sha256).digest()).decode()


def webhook(api: Api, endpoint: str, subscriptions: list[str]) -> tuple[str, str]:
    created = api.post("/webhooks", json={"webhook": {
        "name": "Baton", "status": "active", "endpoint": endpoint, "http_method": "POST",
        "request_format": "json", "subscriptions": subscriptions}})
    assert created.status_code == 201, created.text
    hook_id = created.json()["webhook"]["id"]
    secret = api.get(f"/webhooks/{hook_id}/signing_secret").json()["signing_secret"]
    assert secret["algorithm"] == "SHA256"
    return hook_id, secret["secret"]


def test_every_api_call_needs_token_or_oauth_auth(sandbox: ZendeskSandbox, api: Api) -> None:
    anonymous = Api(sandbox.url, auth=None).get("/users/me")
    wrong = Api(sandbox.url, auth=(f"{EMAIL}/token", "nope")).get("/users/me")
    password_style = Api(sandbox.url, auth=(EMAIL, TOKEN)).get("/users/me")
    for response in (anonymous, wrong, password_style):
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}

    me = api.get("/users/me.json")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == sandbox.api_user_id
    assert me.json()["user"]["role"] == "admin" and me.json()["user"]["email"] == EMAIL
    assert me.headers["X-Rate-Limit"] == "700" and int(me.headers["X-Rate-Limit-Remaining"]) < 700
    bearer = requests.get(sandbox.url + "/api/v2/users/me", headers={"Authorization": "Bearer oauth-abc"}, timeout=5)
    assert bearer.status_code == 200
    assert [entry["status"] for entry in sandbox.requests_log] == [401, 401, 401, 200, 200]
    assert sandbox.requests_log[3]["path"] == "/api/v2/users/me"


def test_ticket_comment_user_organization_and_group_shapes(sandbox: ZendeskSandbox, api: Api,
                                                           world: dict[str, Any]) -> None:
    tid, customer = world["ticket"]["id"], world["customer"]
    ticket = api.get(f"/tickets/{tid}.json").json()["ticket"]
    assert set(ticket) == TICKET_KEYS
    assert ticket["id"] == tid and ticket["url"] == f"{sandbox.url}/api/v2/tickets/{tid}.json"
    assert (ticket["status"], ticket["priority"], ticket["tags"]) == ("new", "normal", ["billing"])
    assert ticket["requester_id"] == ticket["submitter_id"] == customer["id"]
    assert ticket["organization_id"] == world["org"]["id"] and ticket["via"] == {"channel": "web"}
    assert ticket["description"] == "I was charged twice"
    assert ticket["created_at"] == ticket["updated_at"]
    assert re.match(ISO, ticket["created_at"])

    comments = api.get(f"/tickets/{tid}/comments").json()
    assert (comments["count"], comments["next_page"], comments["previous_page"]) == (1, None, None)
    first = comments["comments"][0]
    assert set(first) == COMMENT_KEYS
    assert (first["type"], first["author_id"], first["public"]) == ("Comment", customer["id"], True)
    assert first["body"] == first["plain_body"] == "I was charged twice"
    assert first["html_body"] == "<p>I was charged twice</p>"

    user = api.get(f"/users/{customer['id']}").json()["user"]
    assert set(user) == {"id", "name", "email", "role", "organization_id", "tags", "time_zone", "locale",
                         "user_fields", "created_at"}
    assert (user["role"], user["time_zone"], user["user_fields"]) == ("end-user", "Europe/Paris", {"tier": "gold"})
    org = api.get(f"/organizations/{world['org']['id']}").json()["organization"]
    assert org == {"id": world["org"]["id"], "name": "Acme", "tags": ["enterprise"],
                   "organization_fields": {"plan": "Business"}, "created_at": org["created_at"]}
    assert api.get("/groups").json() == {"groups": [{"id": world["group"]["id"], "name": "Billing"}],
                                         "next_page": None, "previous_page": None, "count": 1}

    shown = api.get(f"/tickets/{tid}.json", params={"include": "users,organizations"}).json()
    assert shown["ticket"] == ticket  # side-loads beside the ticket (Zendesk's "Side-loading related records")
    assert shown["users"] == [user] and shown["organizations"] == [org]

    newer = sandbox.create_ticket(customer["id"], "Again", "Still charged twice")
    requested = api.get(f"/users/{customer['id']}/tickets/requested").json()
    assert [t["id"] for t in requested["tickets"]] == [newer["id"], tid] and requested["count"] == 2

    for path in ("/tickets/999999", f"/users/{tid}", "/organizations/1"):  # a ticket id is not a user id
        missing = api.get(path)
        assert missing.status_code == 404
        assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_create_ticket_through_the_api(sandbox: ZendeskSandbox, api: Api, world: dict[str, Any]) -> None:
    created = api.post("/tickets", json={"ticket": {"subject": "Refund", "comment": {"body": "Please refund"},
                                                    "requester_id": world["customer"]["id"], "priority": "high",
                                                    "tags": ["refund"]}})
    assert created.status_code == 201
    ticket = created.json()["ticket"]
    assert set(ticket) == TICKET_KEYS
    assert (ticket["subject"], ticket["priority"], ticket["tags"], ticket["status"]) == ("Refund", "high",
                                                                                         ["refund"], "new")
    assert ticket["submitter_id"] == sandbox.api_user_id
    assert api.get(f"/tickets/{ticket['id']}").json()["ticket"] == ticket


def test_put_applies_note_priority_group_assignee_and_tags(sandbox: ZendeskSandbox, api: Api,
                                                          world: dict[str, Any]) -> None:
    tid, before = world["ticket"]["id"], world["ticket"]
    note = "<h3>Handoff</h3><p>Customer says &lt;b&gt;charged&lt;/b&gt; twice</p>"
    response = api.put(f"/tickets/{tid}", json={"ticket": {
        "comment": {"html_body": note, "public": False}, "priority": "high", "group_id": world["group"]["id"],
        "assignee_id": world["agent"]["id"], "additional_tags": ["baton_escalated", "billing"]}})
    assert response.status_code == 200, response.text
    ticket, audit = response.json()["ticket"], response.json()["audit"]
    assert ticket["priority"] == "high" and ticket["group_id"] == world["group"]["id"]
    assert ticket["assignee_id"] == world["agent"]["id"]
    assert ticket["tags"] == ["billing", "baton_escalated"]  # merged, no duplicate
    assert ticket["updated_at"] > before["updated_at"]
    assert audit["ticket_id"] == tid and audit["author_id"] == sandbox.api_user_id
    assert audit["created_at"] == ticket["updated_at"]
    assert [e["type"] for e in audit["events"]] == ["Comment", "Change", "Change", "Change", "Change"]

    stored = api.get(f"/tickets/{tid}/comments").json()["comments"][-1]
    assert stored["public"] is False and stored["author_id"] == sandbox.api_user_id
    assert stored["html_body"] == note  # kept exactly as sent
    assert stored["body"] == "Handoff\nCustomer says <b>charged</b> twice"

    plain = api.put(f"/tickets/{tid}", json={"ticket": {"comment": {"body": "a < b"}}}).json()
    assert plain["audit"]["events"][0]["html_body"] == "<p>a &lt; b</p>"
    assert plain["audit"]["events"][0]["public"] is True

    replaced = api.put(f"/tickets/{tid}", json={"ticket": {"tags": ["only_this"]}}).json()["ticket"]
    assert replaced["tags"] == ["only_this"]
    removed = api.put(f"/tickets/{tid}", json={"ticket": {"remove_tags": ["only_this"],
                                                          "priority": None}}).json()["ticket"]
    assert removed["tags"] == [] and removed["priority"] is None


def test_each_update_gets_a_strictly_later_updated_at_even_within_one_second() -> None:
    frozen = datetime(2026, 11, 20, 10, 0, 0, 250000, tzinfo=timezone.utc)
    sb = ZendeskSandbox(clock=lambda: frozen)
    client = sb.app.test_client()  # the Flask app works without a server, too
    auth = {"Authorization": "Basic " + base64.b64encode(b"baton@example.com/token:sandbox-token").decode()}
    customer = sb.add_user("Ann", "ann@acme.test")
    ticket = sb.create_ticket(customer["id"], "Hi", "Hello")
    assert ticket["created_at"] == ticket["updated_at"] == "2026-11-20T10:00:00Z"
    stamps = [client.put(f"/api/v2/tickets/{ticket['id']}.json", headers=auth,
                         json={"ticket": {"additional_tags": [f"t{i}"]}}).get_json()["ticket"]["updated_at"]
              for i in range(3)]
    assert stamps == ["2026-11-20T10:00:01Z", "2026-11-20T10:00:02Z", "2026-11-20T10:00:03Z"]
    comment = sb.add_comment(ticket["id"], customer["id"], "Later", at=frozen + timedelta(hours=1))
    assert comment["created_at"] == sb.get_ticket(ticket["id"])["updated_at"] == "2026-11-20T11:00:00Z"


def test_invalid_updates_are_422_and_change_nothing(sandbox: ZendeskSandbox, api: Api, world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    before = api.get(f"/tickets/{tid}").json()["ticket"]
    bad_priority = api.put(f"/tickets/{tid}", json={"ticket": {"priority": "critical",
                                                               "comment": {"body": "should not be stored"}}})
    assert bad_priority.status_code == 422
    body = bad_priority.json()
    assert body["error"] == "RecordInvalid" and body["description"] == "Record validation errors"
    assert list(body["details"]) == ["priority"] and body["details"]["priority"][0]["description"]

    for field, value in (("group_id", 424242), ("assignee_id", world["customer"]["id"])):  # end-users can't be assignee
        response = api.put(f"/tickets/{tid}", json={"ticket": {field: value}})
        assert response.status_code == 422 and list(response.json()["details"]) == [field]
    assert api.get(f"/tickets/{tid}").json()["ticket"] == before
    assert len(api.get(f"/tickets/{tid}/comments").json()["comments"]) == 1


def test_safe_update_with_a_stale_stamp_is_a_409_and_changes_nothing(sandbox: ZendeskSandbox, api: Api,
                                                                    world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    stale = world["ticket"]["updated_at"]
    sandbox.add_comment(tid, world["customer"]["id"], "Hello? Anyone?")
    before = api.get(f"/tickets/{tid}").json()["ticket"]
    assert before["updated_at"] != stale

    conflict = api.put(f"/tickets/{tid}", json={"ticket": {"safe_update": True, "updated_stamp": stale,
                                                           "priority": "urgent", "comment": {"body": "note"}}})
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "UpdateConflict", "description": "Safe Update prevented the update due to "
                               "outdated ticket data. Please fetch the latest ticket data and try again."}
    assert api.get(f"/tickets/{tid}").json()["ticket"] == before
    assert len(api.get(f"/tickets/{tid}/comments").json()["comments"]) == 2

    fresh = api.put(f"/tickets/{tid}", json={"ticket": {"safe_update": True, "updated_stamp": before["updated_at"],
                                                        "priority": "urgent"}})
    assert fresh.status_code == 200 and fresh.json()["ticket"]["priority"] == "urgent"


def test_throttle_answers_429_with_retry_after_and_changes_nothing(sandbox: ZendeskSandbox, api: Api,
                                                                  world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    before = sandbox.get_ticket(tid)
    sandbox.throttle(2, retry_after=3)
    update = {"ticket": {"priority": "high", "comment": {"body": "note", "public": False}}}
    for _ in range(2):
        limited = api.put(f"/tickets/{tid}", json=update)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        assert limited.json()["error"] == "TooManyRequests"
        assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert sandbox.get_ticket(tid) == before and len(sandbox.get_comments(tid)) == 1

    assert api.put(f"/tickets/{tid}", json=update).status_code == 200
    puts = [e for e in sandbox.requests_log if e["method"] == "PUT" and e["path"] == f"/api/v2/tickets/{tid}"]
    assert [e["status"] for e in puts] == [429, 429, 200]
    assert all(e["json"] == update for e in puts)
    assert puts[0]["at"] <= puts[1]["at"] <= puts[2]["at"]
    sandbox.reset_log()
    assert sandbox.requests_log == []


def test_delay_holds_the_call_but_still_applies_it(sandbox: ZendeskSandbox, api: Api, world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    sandbox.delay(0.5)
    with pytest.raises(requests.Timeout):  # the caller gives up (or dies) mid-call...
        requests.put(f"{sandbox.url}/api/v2/tickets/{tid}", json={"ticket": {"priority": "urgent"}},
                     auth=(f"{EMAIL}/token", TOKEN), timeout=0.1)
    assert api.get(f"/tickets/{tid}").json()["ticket"]["priority"] == "normal"  # GETs are not delayed
    deadline = time.monotonic() + 5
    while sandbox.get_ticket(tid)["priority"] != "urgent" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.get_ticket(tid)["priority"] == "urgent"  # ...but Zendesk applied it anyway


def test_comment_added_event_is_signed_like_zendesk(sandbox: ZendeskSandbox, api: Api, receiver: Receiver,
                                                   world: dict[str, Any]) -> None:
    hook_id, secret = webhook(api, receiver.url, ["zen:event-type:ticket.comment_added"])
    customer, tid = world["customer"], world["ticket"]["id"]
    comment = sandbox.add_comment(tid, customer["id"], "I want a human <now>")
    assert sandbox.wait_for_deliveries(5)

    [(headers, body)] = receiver.requests
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "Zendesk Webhook" and headers["X-Zendesk-Webhook-Id"] == hook_id
    assert headers["X-Zendesk-Webhook-Invocation-Id"]
    assert re.match(ISO, headers["X-Zendesk-Webhook-Signature-Timestamp"])
    assert hmac.compare_digest(headers["X-Zendesk-Webhook-Signature"], signature(secret, headers, body))
    assert headers["X-Zendesk-Webhook-Signature"] != signature("wrong", headers, body)

    payload = json.loads(body)
    assert payload["type"] == "zen:event-type:ticket.comment_added"
    assert (payload["account_id"], payload["zendesk_event_version"]) == (12514403, "2022-11-06")
    assert payload["subject"] == f"zen:ticket:{tid}" and len(payload["id"]) == 36
    detail = payload["detail"]
    assert detail["id"] == str(tid) and detail["requester_id"] == str(customer["id"])
    assert detail["actor_id"] == str(customer["id"]) and detail["assignee_id"] is None
    assert (detail["status"], detail["priority"], detail["tags"]) == ("NEW", "NORMAL", ["billing"])
    assert detail["updated_at"] == sandbox.get_ticket(tid)["updated_at"]
    assert payload["event"] == {"comment": {"id": str(comment["id"]), "body": "I want a human <now>", "is_public": True,
                                            "author": {"id": str(customer["id"]), "is_staff": False,
                                                       "name": "Ann Customer"}}}
    assert sandbox.deliveries[0]["event_id"] == payload["id"] and sandbox.deliveries[0]["status"] == 200

    # A comment through the API: the API user is the actor and the author is staff.
    api.put(f"/tickets/{tid}", json={"ticket": {"comment": {"body": "Looking", "public": False}, "priority": "high"}})
    assert sandbox.wait_for_deliveries(5)
    assert len(receiver.requests) == 2  # priority_changed is not subscribed
    event = receiver.bodies()[1]
    assert event["detail"]["actor_id"] == str(sandbox.api_user_id) and event["detail"]["priority"] == "HIGH"
    assert event["event"]["comment"]["author"]["is_staff"] is True and event["event"]["comment"]["is_public"] is False


def test_priority_tags_and_assignment_events(sandbox: ZendeskSandbox, api: Api, receiver: Receiver,
                                             world: dict[str, Any]) -> None:
    webhook(api, receiver.url, [f"zen:event-type:ticket.{kind}" for kind in
                                ("priority_changed", "tags_changed", "group_assignment_changed", "created")])
    tid = world["ticket"]["id"]
    api.put(f"/tickets/{tid}", json={"ticket": {"priority": "high", "additional_tags": ["vip_escalation"],
                                                "remove_tags": ["billing"], "group_id": world["group"]["id"]}})
    sandbox.create_ticket(world["customer"]["id"], "New one", "Hello")
    assert sandbox.wait_for_deliveries(5)
    events = {body["type"].rsplit(".", 1)[1]: body for body in receiver.bodies()}
    assert set(events) == {"priority_changed", "tags_changed", "group_assignment_changed", "created"}
    assert events["priority_changed"]["event"] == {"current": "HIGH", "previous": "NORMAL"}
    assert events["tags_changed"]["event"] == {"tags_added": ["vip_escalation"], "tags_removed": ["billing"]}
    assert events["group_assignment_changed"]["event"]["current"] == {"id": str(world["group"]["id"])}
    assert events["created"]["event"] == {} and events["created"]["detail"]["subject"] == "New one"
    assert len({body["id"] for body in receiver.bodies()}) == 4  # one event id per change


def test_webhook_validation_listing_and_deletion(sandbox: ZendeskSandbox, api: Api, receiver: Receiver) -> None:
    mixed = api.post("/webhooks", json={"webhook": {
        "name": "Mixed", "status": "active", "endpoint": receiver.url, "http_method": "POST", "request_format": "json",
        "subscriptions": ["conditional_ticket_events", "zen:event-type:ticket.comment_added"]}})
    assert mixed.status_code == 422 and "errors" in mixed.json()
    hook_id, _ = webhook(api, receiver.url, ["conditional_ticket_events"])
    assert hook_id.startswith("01H") and len(hook_id) == 26
    listed = api.get("/webhooks").json()["webhooks"]
    assert [(w["id"], w["subscriptions"], w["endpoint"]) for w in listed] == [
        (hook_id, ["conditional_ticket_events"], receiver.url)]
    assert "secret" not in json.dumps(listed)
    assert api.delete(f"/webhooks/{hook_id}").status_code == 204
    assert api.get("/webhooks").json()["webhooks"] == []
    assert api.get(f"/webhooks/{hook_id}/signing_secret").status_code == 404


def test_trigger_webhook_renders_its_template_and_skips_the_api_users_own_comments(
        sandbox: ZendeskSandbox, api: Api, receiver: Receiver, world: dict[str, Any]) -> None:
    hook_id, secret = webhook(api, receiver.url, ["conditional_ticket_events"])
    template = json.dumps({"ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}",
                           "status": "{{ticket.status}}", "priority": "{{ticket.priority}}",
                           "requester_id": "{{ticket.requester.id}}", "actor": "{{ current_user.id }}",
                           "comment_id": "{{ticket.latest_comment.id}}", "tags": "{{ticket.tags}}",
                           "unknown": "{{ticket.nope}}"})
    trigger = api.post("/triggers", json={"trigger": {
        "title": "Baton: notify on customer comment", "active": True,
        "conditions": {"all": [{"field": "update_type", "operator": "is", "value": "Change"},
                               {"field": "comment_is_public", "operator": "is", "value": True},
                               {"field": "current_user", "operator": "is_not", "value": str(sandbox.api_user_id)},
                               {"field": "status", "operator": "less_than", "value": "solved"},
                               {"field": "current_tags", "operator": "not_includes", "value": "baton_off spam"}],
                       "any": []},
        "actions": [{"field": "notification_webhook", "value": [hook_id, template]}]}})
    assert trigger.status_code == 201 and isinstance(trigger.json()["trigger"]["id"], int)
    assert [t["title"] for t in api.get("/triggers").json()["triggers"]] == ["Baton: notify on customer comment"]

    tid, customer = world["ticket"]["id"], world["customer"]
    comment = sandbox.add_comment(tid, customer["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    [(headers, body)] = receiver.requests
    assert headers["X-Zendesk-Webhook-Signature"] == signature(secret, headers, body)
    ticket = sandbox.get_ticket(tid)
    assert json.loads(body) == {"ticket_id": str(tid), "updated_at": ticket["updated_at"], "status": "New",
                                "priority": "Normal", "requester_id": str(customer["id"]),
                                "actor": str(customer["id"]), "comment_id": str(comment["id"]), "tags": "billing",
                                "unknown": ""}
    assert sandbox.deliveries[-1]["event_id"] is None

    api.put(f"/tickets/{tid}", json={"ticket": {"comment": {"body": "Bot reply"}}})  # the API user: no delivery
    sandbox.add_comment(tid, customer["id"], "private?", public=False)  # not public: no delivery
    api.put(f"/tickets/{tid}", json={"ticket": {"additional_tags": ["baton_off"]}})
    sandbox.add_comment(tid, customer["id"], "Tagged off")  # excluded tag: no delivery
    api.put(f"/tickets/{tid}", json={"ticket": {"remove_tags": ["baton_off"], "status": "solved"}})
    sandbox.add_comment(tid, world["agent"]["id"], "Solved")  # not less than solved: no delivery
    assert sandbox.wait_for_deliveries(5)
    assert len(receiver.requests) == 1
    sandbox.add_comment(tid, customer["id"], "Not solved for me")  # the requester's reply reopens it: delivered
    assert sandbox.wait_for_deliveries(5)
    assert len(receiver.requests) == 2 and sandbox.get_ticket(tid)["status"] == "open"

    unsupported = api.post("/triggers", json={"trigger": {"title": "x", "conditions": {"all": [
        {"field": "via_id", "operator": "is", "value": 4}]}, "actions": [
        {"field": "notification_webhook", "value": [hook_id, "{}"]}]}})
    assert unsupported.status_code == 422


def test_deliveries_are_retried_on_503_with_the_same_invocation_id(sandbox: ZendeskSandbox, api: Api,
                                                                   receiver: Receiver, world: dict[str, Any]) -> None:
    webhook(api, receiver.url, ["zen:event-type:ticket.comment_added"])
    receiver.statuses = [503, 503]
    sandbox.add_comment(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, 503), (2, 503), (3, 200)]
    assert len({headers["X-Zendesk-Webhook-Invocation-Id"] for headers, _ in receiver.requests}) == 1
    assert len({body for _, body in receiver.requests}) == 1
    assert sandbox.deliveries[2]["at"] - sandbox.deliveries[0]["at"] >= 0.09

    receiver.statuses = [400]  # a client error is not retried
    sandbox.add_comment(world["ticket"]["id"], world["customer"]["id"], "Again")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries[3:]] == [(1, 400)]


def test_unreachable_endpoint_is_tried_four_times(sandbox: ZendeskSandbox, api: Api, world: dict[str, Any]) -> None:
    closed = Receiver()
    closed.close()  # nothing listens there any more
    webhook(api, closed.url, ["zen:event-type:ticket.comment_added"])
    sandbox.add_comment(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, None), (2, None), (3, None), (4, None)]


def test_redeliver_and_signed_request_produce_verifiable_duplicates(sandbox: ZendeskSandbox, api: Api,
                                                                    receiver: Receiver,
                                                                    world: dict[str, Any]) -> None:
    hook_id, secret = webhook(api, receiver.url, ["zen:event-type:ticket.comment_added"])
    sandbox.add_comment(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert sandbox.redeliver(0) == 200
    (first, body1), (again, body2) = receiver.requests
    assert body1 == body2
    assert again["X-Zendesk-Webhook-Invocation-Id"] != first["X-Zendesk-Webhook-Invocation-Id"]
    assert again["X-Zendesk-Webhook-Signature"] == signature(secret, again, body2)

    forged = sandbox.signed_request(hook_id, b'{"a": 1}', timestamp="2026-11-20T10:00:00Z")
    assert forged["X-Zendesk-Webhook-Signature-Timestamp"] == "2026-11-20T10:00:00Z"
    expected = hmac.new(secret.encode(), b'2026-11-20T10:00:00Z{"a": 1}', hashlib.sha256).digest()
    assert forged["X-Zendesk-Webhook-Signature"] == base64.b64encode(expected).decode()


def test_agent_view_escapes_public_comments_and_renders_internal_notes(sandbox: ZendeskSandbox, api: Api,
                                                                      world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    sandbox.add_comment(tid, world["customer"]["id"], "<script>alert('pwned')</script> help")
    note = "<h3>Baton handoff</h3><p>Reason: <b>billing</b></p><img src=x onerror=alert(1)><script>evil()</script>"
    api.put(f"/tickets/{tid}", json={"ticket": {"comment": {"html_body": note, "public": False},
                                                "group_id": world["group"]["id"]}})

    page = requests.get(f"{sandbox.url}/agent/tickets/{tid}", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    text = page.text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; help" in text
    assert "<script" not in text and "onerror" not in text and "evil()" not in text
    assert "<h3>Baton handoff</h3><p>Reason: <b>billing</b></p><img src=x" in text
    assert "#fff8c4" in text and "internal note" in text

    listing = requests.get(f"{sandbox.url}/agent/tickets", timeout=5).text
    assert f"/agent/tickets/{tid}" in listing and "Charged twice" in listing and "Billing" in listing
    assert requests.get(f"{sandbox.url}/agent/tickets/1", timeout=5).status_code == 404


def test_brands_tags_and_skills_are_listed_in_their_documented_shapes(sandbox: ZendeskSandbox, api: Api,
                                                                       world: dict[str, Any]) -> None:
    """What the console's pickers read (connectors/zendesk/fixtures/README.md): brands, the most used
    tags first a page at a time, skill types and their skills, with the keys of the fixtures."""
    fixtures = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures" / "api"

    def shape(name: str, key: str) -> set[str]:
        return set(json.loads((fixtures / name).read_text())[key][0])

    sandbox.add_brand("Acme Shoes")
    sandbox.add_brand("Acme Hats")
    body = api.get("/brands.json").json()
    assert [b["name"] for b in body["brands"]] == ["Acme Shoes", "Acme Hats"] and body["next_page"] is None
    assert shape("brands.json", "brands") - {"logo", "host_mapping", "signature_template", "ticket_form_ids", "url",
                                             "help_center_state"} <= set(body["brands"][0])
    assert [b["default"] for b in body["brands"]] == [True, False]

    sandbox.use_tag("vip_gold", times=3)  # the world's ticket is tagged billing, its customer vip, its org enterprise
    first = api.get("/tags.json", params={"page[size]": 2}).json()
    assert [t["name"] for t in first["tags"]] == ["vip_gold", "billing"] and first["tags"][0] == {"name": "vip_gold", "count": 3}
    assert first["meta"]["has_more"] is True
    rest = requests.get(first["links"]["next"], auth=api.session.auth, timeout=5).json()
    assert [t["name"] for t in rest["tags"]] == ["enterprise", "vip"] and rest["meta"]["has_more"] is False

    skill = sandbox.add_skill("French", "Language", agent_ids=[world["agent"]["id"]])
    (kind,) = api.get("/routing/attributes.json").json()["attributes"]
    assert kind["name"] == "Language" and set(kind) >= shape("routing_attributes.json", "attributes") - {"url"}
    (value,) = api.get(f"/routing/attributes/{kind['id']}/values.json").json()["attribute_values"]
    assert value == {**value, "id": skill, "name": "French", "attribute_id": kind["id"]}
    (availability,) = api.get("/agent_availabilities").json()["data"]
    assert availability["attributes"]["skills"] == [{"id": skill}]  # the id an agent's availability lists
    assert api.get("/routing/attributes/nope/values.json").status_code == 404
