"""The Freshdesk sandbox behaves like the documented Freshdesk API v2, over real HTTP."""
from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.freshdesk.sandbox import FreshdeskSandbox
from tests.receiver import Receiver

KEY, DOMAIN, SECRET = "fd-api-key", "acme.freshdesk.com", "s" * 43
TICKET_KEYS = {"id", "subject", "description", "description_text", "status", "priority", "source", "requester_id",
               "responder_id", "group_id", "company_id", "tags", "type", "custom_fields", "created_at", "updated_at"}
CONVERSATION_KEYS = {"id", "body", "body_text", "incoming", "private", "user_id", "ticket_id", "source", "created_at",
                     "updated_at"}
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class Api:
    def __init__(self, base: str, auth: tuple[str, str] | None = (KEY, "X")) -> None:
        self.base, self.session = base, requests.Session()
        self.session.auth = auth

    def __getattr__(self, method: str) -> Any:
        return lambda path, **kw: self.session.request(method.upper(), self.base + "/api/v2" + path, timeout=5, **kw)


@pytest.fixture
def sandbox() -> Iterator[FreshdeskSandbox]:
    sb = FreshdeskSandbox(api_key=KEY, domain=DOMAIN, retry_delays=(0.05, 0.05, 0.05))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def api(sandbox: FreshdeskSandbox) -> Api:
    return Api(sandbox.url)


@pytest.fixture
def world(sandbox: FreshdeskSandbox) -> dict[str, Any]:
    company = sandbox.add_company("Acme", custom_fields={"plan": "Business"})
    customer = sandbox.add_contact("Ann Customer", "ann@acme.test", company_id=company["id"], language="fr",
                                   time_zone="Paris", tags=["vip"], custom_fields={"tier": "gold"})
    group = sandbox.add_group("Billing")
    agent = sandbox.add_agent("Bob Agent", "bob@support.test", group_ids=[group["id"]])
    ticket = sandbox.create_ticket(customer["id"], "Charged twice", "I was charged <twice>", priority=2,
                                   tags=["billing"])
    return {"company": company, "customer": customer, "agent": agent, "group": group, "ticket": ticket}


def test_every_api_call_needs_the_api_key_as_basic_username(sandbox: FreshdeskSandbox, api: Api) -> None:
    for auth in (None, ("wrong-key", "X"), ("ann@acme.test", KEY)):
        response = Api(sandbox.url, auth=auth).get("/agents/me")
        assert response.status_code == 401
        assert response.json() == {"code": "invalid_credentials",
                                   "message": "You have to be logged in to perform this action."}

    me = api.get("/agents/me")
    assert me.status_code == 200
    assert me.json()["id"] == sandbox.api_agent_id and me.json()["contact"]["email"] == f"baton@{DOMAIN}"
    assert me.headers["X-RateLimit-Total"] == "400" and me.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    assert int(me.headers["X-RateLimit-Remaining"]) < 400
    raw = base64.b64encode(f"{KEY}:anything".encode()).decode()  # the password is ignored
    assert requests.get(f"{sandbox.url}/api/v2/agents/me", headers={"Authorization": f"Basic {raw}"},
                        timeout=5).status_code == 200
    assert [entry["status"] for entry in sandbox.requests_log] == [401, 401, 401, 200, 200]
    assert sandbox.requests_log[3]["path"] == "/api/v2/agents/me" and sandbox.requests_log[3]["query"] == {}


def test_ticket_conversation_contact_company_agent_and_group_shapes(sandbox: FreshdeskSandbox, api: Api,
                                                                     world: dict[str, Any]) -> None:
    tid, customer, agent, group = world["ticket"]["id"], world["customer"], world["agent"], world["group"]
    ticket = api.get(f"/tickets/{tid}").json()
    assert set(ticket) == TICKET_KEYS and ticket == world["ticket"]
    assert (ticket["status"], ticket["priority"], ticket["source"], ticket["tags"]) == (2, 2, 2, ["billing"])
    assert ticket["description"] == "<div>I was charged &lt;twice&gt;</div>"
    assert ticket["description_text"] == "I was charged <twice>"
    assert (ticket["requester_id"], ticket["company_id"]) == (customer["id"], world["company"]["id"])
    assert [ticket[k] for k in ("responder_id", "group_id", "type", "custom_fields")] == [None, None, None, {}]
    assert ticket["created_at"] == ticket["updated_at"] and re.match(ISO, ticket["created_at"])
    assert api.get(f"/tickets/{tid}/conversations").json() == []  # the description is not a conversation

    reply = sandbox.customer_reply(tid, customer["id"], "Any news?")
    note = sandbox.agent_reply(tid, agent["id"], "Checking with billing", private=True)
    conversations = api.get(f"/tickets/{tid}/conversations").json()
    assert [c["id"] for c in conversations] == [reply["id"], note["id"]]  # oldest first
    assert all(set(c) == CONVERSATION_KEYS for c in conversations)
    assert (reply["incoming"], reply["private"], reply["source"], reply["user_id"]) == (True, False, 0, customer["id"])
    assert (reply["body"], reply["body_text"]) == ("<div>Any news?</div>", "Any news?")
    assert (note["incoming"], note["private"], note["source"], note["user_id"]) == (False, True, 2, agent["id"])
    assert note["ticket_id"] == tid and sandbox.get_conversations(tid) == conversations

    contact = api.get(f"/contacts/{customer['id']}").json()
    assert contact == customer and contact["custom_fields"] == {"tier": "gold"} and contact["language"] == "fr"
    assert api.get(f"/companies/{world['company']['id']}").json() == {
        "id": world["company"]["id"], "name": "Acme", "custom_fields": {"plan": "Business"},
        "created_at": world["company"]["created_at"]}
    bob = api.get(f"/agents/{agent['id']}").json()
    assert bob == {"id": agent["id"], "available": True, "occasional": False, "group_ids": [group["id"]],
                   "contact": {"name": "Bob Agent", "email": "bob@support.test", "language": "en", "time_zone": "UTC"},
                   "created_at": agent["created_at"]}
    assert [a["id"] for a in api.get("/agents").json()] == [sandbox.api_agent_id, agent["id"]]
    assert api.get("/groups").json() == [{"id": group["id"], "name": "Billing", "agent_ids": [agent["id"]]}]

    newer = sandbox.create_ticket(customer["id"], "Again", "Still charged twice")
    sandbox.create_ticket(sandbox.add_contact("Other", "o@x.test")["id"], "Not Ann's", "Hi")
    by_id = api.get("/tickets", params={"requester_id": customer["id"]})
    assert [t["id"] for t in by_id.json()] == [newer["id"], tid]  # newest first
    assert sandbox.requests_log[-1]["query"] == {"requester_id": str(customer["id"])}
    assert [t["id"] for t in api.get("/tickets", params={"email": "ann@acme.test"}).json()] == [newer["id"], tid]

    for path in ("/tickets/999999", f"/contacts/{tid}", f"/contacts/{agent['id']}", "/companies/1", "/widgets"):
        missing = api.get(path)  # a ticket id is not a contact id, nor is an agent a contact
        assert missing.status_code == 404, path
        assert missing.json() == {"description": "Not found"}


def test_create_ticket_through_the_api(sandbox: FreshdeskSandbox, api: Api, world: dict[str, Any]) -> None:
    created = api.post("/tickets", json={"subject": "Refund", "description": "<p>Please <b>refund</b></p>",
                                         "requester_id": world["customer"]["id"], "priority": 3, "status": 2,
                                         "tags": ["refund"]})
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert set(ticket) == TICKET_KEYS
    assert (ticket["subject"], ticket["priority"], ticket["status"], ticket["tags"]) == ("Refund", 3, 2, ["refund"])
    assert ticket["description"] == "<p>Please <b>refund</b></p>" and ticket["description_text"] == "Please refund"
    assert api.get(f"/tickets/{ticket['id']}").json() == ticket

    by_email = api.post("/tickets", json={"subject": "Hi", "description": "Hello", "email": "new@corp.test"})
    assert by_email.status_code == 201
    contact = api.get(f"/contacts/{by_email.json()['requester_id']}").json()
    assert (contact["email"], contact["name"]) == ("new@corp.test", "new")  # Freshdesk creates the contact
    assert (by_email.json()["priority"], by_email.json()["status"]) == (1, 2)

    nobody = api.post("/tickets", json={"subject": "Hi", "description": "Hello"})
    assert nobody.status_code == 400 and nobody.json()["errors"][0]["field"] == "requester_id"
    assert nobody.json()["errors"][0]["code"] == "missing_field"


def test_put_sets_priority_group_responder_and_replaces_tags(sandbox: FreshdeskSandbox, api: Api,
                                                              world: dict[str, Any]) -> None:
    tid, before = world["ticket"]["id"], world["ticket"]
    response = api.put(f"/tickets/{tid}", json={"priority": 3, "group_id": world["group"]["id"],
                                                "responder_id": world["agent"]["id"],
                                                "tags": ["baton_escalated", "vip", "vip"]})
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert (ticket["priority"], ticket["group_id"], ticket["responder_id"]) == (3, world["group"]["id"],
                                                                                world["agent"]["id"])
    assert ticket["tags"] == ["baton_escalated", "vip"]  # replaced, not merged with "billing"
    assert ticket["updated_at"] > before["updated_at"] and ticket["created_at"] == before["created_at"]
    assert sandbox.get_ticket(tid) == ticket

    unassigned = api.put(f"/tickets/{tid}", json={"group_id": None, "status": 4, "tags": []}).json()
    assert (unassigned["group_id"], unassigned["status"], unassigned["tags"]) == (None, 4, [])


def test_each_update_gets_a_strictly_later_updated_at_even_within_one_second() -> None:
    frozen = datetime(2026, 11, 20, 10, 0, 0, 250000, tzinfo=timezone.utc)
    sb = FreshdeskSandbox(clock=lambda: frozen)
    client = sb.app.test_client()  # the Flask app works without a server, too
    auth = {"Authorization": "Basic " + base64.b64encode(b"sandbox-key:X").decode()}
    customer = sb.add_contact("Ann", "ann@acme.test")
    ticket = sb.create_ticket(customer["id"], "Hi", "Hello")
    assert ticket["created_at"] == ticket["updated_at"] == "2026-11-20T10:00:00Z"
    stamps = [client.put(f"/api/v2/tickets/{ticket['id']}", headers=auth, json={"priority": p}).get_json()["updated_at"]
              for p in (2, 3)]
    note = client.post(f"/api/v2/tickets/{ticket['id']}/notes", headers=auth, json={"body": "x"}).get_json()
    assert stamps + [note["created_at"]] == ["2026-11-20T10:00:01Z", "2026-11-20T10:00:02Z", "2026-11-20T10:00:03Z"]
    assert sb.get_ticket(ticket["id"])["updated_at"] == note["created_at"]


def test_invalid_requests_are_400_and_change_nothing(sandbox: FreshdeskSandbox, api: Api,
                                                     world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    before = sandbox.get_ticket(tid)
    bad = api.put(f"/tickets/{tid}", json={"priority": 5, "tags": ["ok"]})
    assert bad.status_code == 400
    assert bad.json() == {"description": "Validation failed", "errors": [
        {"field": "priority", "message": "It should be one of these values: '1,2,3,4'", "code": "invalid_value"}]}
    assert api.put(f"/tickets/{tid}", json={"priority": "3"}).status_code == 400  # a string is not a priority

    for field, value, message in (("group_id", 424242, "There is no group matching the given group_id"),
                                  ("responder_id", world["customer"]["id"],
                                   "There is no agent matching the given responder_id")):
        response = api.put(f"/tickets/{tid}", json={field: value})
        assert response.status_code == 400
        assert response.json()["errors"] == [{"field": field, "message": message, "code": "invalid_value"}]
    unexpected = api.put(f"/tickets/{tid}", json={"ticket": {"priority": 3}})  # a Zendesk-style envelope
    assert unexpected.status_code == 400 and unexpected.json()["errors"][0]["code"] == "invalid_field"
    for body in ("[1, 2]", "not json"):
        response = api.put(f"/tickets/{tid}", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["code"] == "invalid_json"
    assert api.post(f"/tickets/{tid}/notes", json={"private": True}).status_code == 400  # no body
    form = api.put(f"/tickets/{tid}", data={"priority": 3})  # not JSON at all
    assert form.status_code == 415 and form.json()["code"] == "invalid_content_type"
    assert sandbox.get_ticket(tid) == before and sandbox.get_conversations(tid) == []


def test_notes_are_private_by_default_and_replies_public_both_by_the_api_agent(
        sandbox: FreshdeskSandbox, api: Api, world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    html_note = "<h3>Handoff</h3><p>Customer says &lt;b&gt;charged&lt;/b&gt; twice</p>"
    note = api.post(f"/tickets/{tid}/notes", json={"body": html_note})
    assert note.status_code == 201
    assert set(note.json()) == CONVERSATION_KEYS
    assert (note.json()["private"], note.json()["incoming"], note.json()["source"]) == (True, False, 2)
    assert note.json()["user_id"] == sandbox.api_agent_id and note.json()["ticket_id"] == tid
    assert note.json()["body"] == html_note  # kept exactly as sent
    assert note.json()["body_text"] == "Handoff\nCustomer says <b>charged</b> twice"

    public_note = api.post(f"/tickets/{tid}/notes", json={"body": "FYI", "private": False}).json()
    assert (public_note["private"], public_note["source"]) == (False, 2)
    reply = api.post(f"/tickets/{tid}/reply", json={"body": "<p>We are on it</p>"})
    assert reply.status_code == 201
    assert (reply.json()["private"], reply.json()["incoming"], reply.json()["source"]) == (False, False, 0)
    assert reply.json()["user_id"] == sandbox.api_agent_id
    assert [c["id"] for c in sandbox.get_conversations(tid)] == [note.json()["id"], public_note["id"],
                                                                 reply.json()["id"]]
    assert sandbox.get_ticket(tid)["updated_at"] == reply.json()["created_at"]


def test_the_agent_ui_shows_a_notes_html_as_freshdesk_does_and_a_message_as_text(
        sandbox: FreshdeskSandbox, api: Api, world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    api.post(f"/tickets/{tid}/notes", json={"body": "<h3>Why escalated</h3><ul><li>charged twice</li></ul>"
                                                    "<script>alert(1)</script><p onclick='x()'>Route</p>"})
    page = requests.get(f"{sandbox.url}/a/tickets/{tid}", params={"as": world["agent"]["id"]}, timeout=5).text
    note = page[page.index("class='private-note'"):]
    assert "<h3>Why escalated</h3><ul><li>charged twice</li></ul>" in note  # headings and lists, not a flat line
    assert "<script" not in note and "onclick" not in note
    assert "I was charged &lt;twice&gt;" in page  # the customer's text stays text


def test_customer_reply_reopens_a_resolved_ticket(sandbox: FreshdeskSandbox, api: Api, world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    assert api.put(f"/tickets/{tid}", json={"status": 4}).json()["status"] == 4
    sandbox.customer_reply(tid, world["customer"]["id"], "Still broken")
    assert sandbox.get_ticket(tid)["status"] == 2


def test_throttle_answers_429_with_retry_after_and_changes_nothing(sandbox: FreshdeskSandbox, api: Api,
                                                                  world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    before = sandbox.get_ticket(tid)
    sandbox.throttle(2, retry_after=3)
    for _ in range(2):
        limited = api.put(f"/tickets/{tid}", json={"priority": 4})
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        assert limited.json() == {"message": "You have exceeded the limit of requests per minute"}
        assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert sandbox.get_ticket(tid) == before

    assert api.put(f"/tickets/{tid}", json={"priority": 4}).status_code == 200
    puts = [e for e in sandbox.requests_log if e["method"] == "PUT" and e["path"] == f"/api/v2/tickets/{tid}"]
    assert [e["status"] for e in puts] == [429, 429, 200]
    assert all(e["json"] == {"priority": 4} for e in puts)
    assert puts[0]["at"] <= puts[1]["at"] <= puts[2]["at"] and isinstance(puts[0]["time"], datetime)
    sandbox.reset_log()
    assert sandbox.requests_log == []


def test_delay_holds_the_call_but_still_applies_it(sandbox: FreshdeskSandbox, api: Api,
                                                   world: dict[str, Any]) -> None:
    tid = world["ticket"]["id"]
    sandbox.delay(0.5)  # POST by default
    with pytest.raises(requests.Timeout):  # the caller gives up (or dies) mid-call...
        requests.post(f"{sandbox.url}/api/v2/tickets/{tid}/notes", json={"body": "note"}, auth=(KEY, "X"),
                      timeout=0.1)
    assert api.get(f"/tickets/{tid}/conversations").json() == []  # GETs are not delayed
    deadline = time.monotonic() + 5
    while not sandbox.get_conversations(tid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [c["body"] for c in sandbox.get_conversations(tid)] == ["note"]  # ...but Freshdesk stored it anyway


def test_automation_renders_its_template_and_sends_the_secret_header(sandbox: FreshdeskSandbox, api: Api,
                                                                     receiver: Receiver,
                                                                     world: dict[str, Any]) -> None:
    template = ('{"ticket_id": "{{ticket.id}}", "subject": "{{ticket.subject}}", "status": "{{ticket.status}}", '
                '"priority": "{{ ticket.priority }}", "updated_at": "{{ticket.updated_at}}", '
                '"requester_id": "{{ticket.requester.id}}", "email": "{{ticket.requester.email}}", '
                '"tags": "{{ticket.tags}}", "event": "{{triggered_event}}", "unknown": "{{ticket.nope}}"}')
    sandbox.add_automation(receiver.url, template, {"X-Baton-Secret": SECRET})
    tid, customer = world["ticket"]["id"], world["customer"]
    api.put(f"/tickets/{tid}", json={"status": 3, "tags": ["billing", "vip"]})  # API update: no automation
    api.post(f"/tickets/{tid}/notes", json={"body": "internal"})  # API note: no automation
    sandbox.agent_reply(tid, world["agent"]["id"], "On it")  # agent reply: no automation
    sandbox.customer_reply(tid, customer["id"], "Hello?")
    created = sandbox.create_ticket(customer["id"], "Quote \"me\"", "New one", priority=4)
    assert sandbox.wait_for_deliveries(5)

    (headers, body), (_, second) = receiver.requests
    assert headers["X-Baton-Secret"] == SECRET and headers["Content-Type"] == "application/json"
    ticket = sandbox.get_ticket(tid)
    assert json.loads(body) == {"ticket_id": str(tid), "subject": "Charged twice", "status": "Open",
                                "priority": "Medium", "updated_at": ticket["updated_at"],
                                "requester_id": str(customer["id"]), "email": "ann@acme.test",
                                "tags": "billing,vip", "event": "customer_replied", "unknown": ""}
    # Values are inserted verbatim, as Freshdesk does: a quote in the subject breaks the JSON.
    assert f'"ticket_id": "{created["id"]}", "subject": "Quote "me"", "status": "Open", "priority": "Urgent"'.encode() \
        in second and b'"event": "ticket_created"' in second
    assert [(d["kind"], d["status"], d["attempt"]) for d in sandbox.deliveries] == [("automation", 200, 1)] * 2
    assert sandbox.deliveries[0]["headers"]["X-Baton-Secret"] == SECRET and sandbox.deliveries[0]["body"] == body


def test_automation_listens_only_to_its_events(sandbox: FreshdeskSandbox, receiver: Receiver,
                                               world: dict[str, Any]) -> None:
    sandbox.add_automation(receiver.url, "{{triggered_event}} {{ticket.id}}", {"X-Baton-Secret": SECRET},
                           on=["customer_replied"])
    tid = world["ticket"]["id"]
    sandbox.create_ticket(world["customer"]["id"], "Other", "Not listened to")
    sandbox.customer_reply(tid, world["customer"]["id"], "Hi")
    assert sandbox.wait_for_deliveries(5)
    assert [body for _, body in receiver.requests] == [f"customer_replied {tid}".encode()]
    with pytest.raises(ValueError):
        sandbox.add_automation(receiver.url, "{}", {}, on=["ticket_updated"])


def test_app_forwarder_sends_fdk_event_envelopes(sandbox: FreshdeskSandbox, api: Api, receiver: Receiver,
                                                 world: dict[str, Any]) -> None:
    sandbox.add_app_forwarder(receiver.url, {"X-Baton-Secret": SECRET})
    customer, agent = world["customer"], world["agent"]
    ticket = sandbox.create_ticket(customer["id"], "Refund", "Please refund")
    reply = sandbox.customer_reply(ticket["id"], customer["id"], "Hello?")
    note = api.post(f"/tickets/{ticket['id']}/notes", json={"body": "<p>Escalated</p>"}).json()
    sandbox.agent_reply(ticket["id"], agent["id"], "Hi Ann")
    changed = api.put(f"/tickets/{ticket['id']}", json={"priority": 3, "group_id": world["group"]["id"],
                                                         "tags": ["refund"]}).json()
    api.put(f"/tickets/{ticket['id']}", json={"priority": 3})  # nothing changes: no event
    assert sandbox.wait_for_deliveries(5)

    assert all(headers["X-Baton-Secret"] == SECRET for headers, _ in receiver.requests)
    events = receiver.bodies()
    assert [e["event"] for e in events] == ["onTicketCreate", "onConversationCreate", "onConversationCreate",
                                            "onConversationCreate", "onTicketUpdate"]
    created, replied, noted, answered, updated = events
    assert set(created) == {"account_id", "domain", "event", "region", "timestamp", "currentHost", "data"}
    assert (created["account_id"], created["domain"], created["region"]) == ("11010177632", DOMAIN, "US")
    # milliseconds since the epoch, as Freshworks' product events carry it
    assert isinstance(created["timestamp"], int) and abs(created["timestamp"] / 1000 - time.time()) < 60
    assert created["currentHost"] == {"subscribed_modules": ["support_ticket"],
                                      "endpoint_urls": {"freshdesk": f"https://{DOMAIN}"}}
    assert created["data"]["ticket"] == ticket and "conversation" not in created["data"]
    assert created["data"]["requester"] == {"id": customer["id"], "name": "Ann Customer", "email": "ann@acme.test",
                                            "language": "fr"}
    assert created["data"]["actor"] == {"id": customer["id"], "name": "Ann Customer", "email": "ann@acme.test",
                                        "helpdesk_agent": False}

    assert replied["data"]["conversation"] == reply and replied["data"]["actor"]["id"] == customer["id"]
    assert noted["data"]["conversation"] == note and noted["data"]["conversation"]["private"] is True
    assert noted["data"]["actor"] == {"id": sandbox.api_agent_id, "name": "Baton API", "email": f"baton@{DOMAIN}",
                                      "helpdesk_agent": True}
    assert answered["data"]["actor"]["id"] == agent["id"] and answered["data"]["conversation"]["source"] == 0
    assert updated["data"]["ticket"]["changes"] == {"priority": [1, 3], "group_id": [None, world["group"]["id"]],
                                                    "tags": [[], ["refund"]]}
    assert {**updated["data"]["ticket"], "changes": None} == {**changed, "changes": None}
    assert updated["data"]["actor"]["id"] == sandbox.api_agent_id and "conversation" not in updated["data"]
    assert {d["kind"] for d in sandbox.deliveries} == {"app_event"}


def test_deliveries_are_retried_on_503_but_not_on_400(sandbox: FreshdeskSandbox, receiver: Receiver,
                                                      world: dict[str, Any]) -> None:
    sandbox.add_app_forwarder(receiver.url, {"X-Baton-Secret": SECRET})
    receiver.statuses = [503, 503]
    sandbox.customer_reply(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, 503), (2, 503), (3, 200)]
    assert len({body for _, body in receiver.requests}) == 1 and len(receiver.requests) == 3
    assert sandbox.deliveries[2]["at"] - sandbox.deliveries[0]["at"] >= 0.09

    receiver.statuses = [400]  # a client error is not retried
    sandbox.customer_reply(world["ticket"]["id"], world["customer"]["id"], "Again")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries[3:]] == [(1, 400)]


def test_unreachable_endpoint_is_tried_four_times(sandbox: FreshdeskSandbox, world: dict[str, Any]) -> None:
    closed = Receiver()
    closed.close()  # nothing listens there any more
    sandbox.add_automation(closed.url, "{}", {"X-Baton-Secret": SECRET})
    sandbox.customer_reply(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, None), (2, None), (3, None), (4, None)]


def test_redeliver_resends_the_same_body_and_headers(sandbox: FreshdeskSandbox, receiver: Receiver,
                                                     world: dict[str, Any]) -> None:
    sandbox.add_automation(receiver.url, '{"id": "{{ticket.id}}"}', {"X-Baton-Secret": SECRET})
    sandbox.customer_reply(world["ticket"]["id"], world["customer"]["id"], "Hello?")
    assert sandbox.wait_for_deliveries(5)
    receiver.statuses = [500]
    assert sandbox.redeliver(0) == 500
    assert sandbox.redeliver(0) == 200
    (first, body1), (again, body2), (_, body3) = receiver.requests
    assert body1 == body2 == body3 == f'{{"id": "{world["ticket"]["id"]}"}}'.encode()
    assert again["X-Baton-Secret"] == first["X-Baton-Secret"] == SECRET
    assert [(d["attempt"], d["status"]) for d in sandbox.deliveries] == [(1, 200), (1, 500), (1, 200)]


def test_products_and_skills_are_listed_in_their_documented_shapes(sandbox: FreshdeskSandbox, api: Api,
                                                                   world: dict[str, Any]) -> None:
    """What the console's pickers read (connectors/freshdesk/fixtures/README.md): products (Freshdesk's
    brands) and Omniroute's skills, which an agent's ``skill_ids`` then list."""
    fixtures = Path(__file__).parents[3] / "connectors" / "freshdesk" / "fixtures" / "api"
    sandbox.add_product("Acme Shoes")
    products = api.get("/products").json()
    assert [p["name"] for p in products] == ["Acme Shoes"]
    assert set(products[0]) == set(json.loads((fixtures / "products.json").read_text())[0])
    skill = sandbox.add_skill("German travel experts", [world["agent"]["id"]])
    (listed,) = api.get("/admin/skills").json()
    assert listed == skill and set(listed) == set(json.loads((fixtures / "admin_skills.json").read_text())[0])
    assert listed["agents"] == [{"id": world["agent"]["id"]}]
    assert api.get(f"/agents/{world['agent']['id']}").json()["skill_ids"] == [skill["id"]]
