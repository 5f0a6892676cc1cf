"""The Freshchat client's calls, pinned at the transport: what it reads, the exact bodies it writes,
in which order, and what it makes of the answers."""
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses

from connectors.freshchat.client import FreshchatClient, install
from connectors.freshchat.sandbox import key_pair, public_pem
from integration.core.model import (AddNote, AddTags, Assign, Installation, Plan, Priority, ReplyToCustomer, Role,
                                    SetPriority)

BASE = "https://acme.freshchat.com"
CID = "7e673110-64fc-461f-bcec-cc8e9a47a568"
USER = "d108c12a-7e7d-474c-94d2-be08551c8400"
BATON, BOT, SAM = "0e3c5ba7-9d43-4f6b-8f8c-6a3c7e1f0b11", "5b0c9a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21", "1b8d2418-89a3-4de6-b93c-9f6557f13d04"
INST = Installation("i1", "freshchat", BASE, {"token": "TOKEN", "public_key": public_pem(key_pair("tests-freshchat"))},
                    public_pem(key_pair("tests-freshchat")), settings={"api_user_id": BATON, "bot_user_ids": [BOT]})
CONVERSATION = json.loads((Path(__file__).parents[3] / "connectors/freshchat/fixtures/api/conversation.json").read_text())
MESSAGES = f"{BASE}/v2/conversations/{CID}/messages"


def message(mid: str, actor_type: str, actor: str, text: str, at: str, kind: str = "normal") -> dict:
    return {"message_parts": [{"text": {"content": text}}], "id": mid, "conversation_id": CID, "actor_type": actor_type,
            "actor_id": actor, "message_type": kind, "created_time": at, "user_id": USER}


NEWEST_FIRST = [
    message("m4", "agent", BATON, "[Baton handoff] … Baton ref k-0", "2025-07-10T19:48:01.000Z", "private"),
    message("m3", "user", USER, "I want to talk to a human", "2025-07-10T19:47:55.442Z"),
    message("m2", "bot", BOT, "Refunds take 5 days.", "2025-07-10T19:47:30.000Z"),
]
OLDER = [message("m1", "user", USER, "I was charged twice", "2025-07-10T19:47:00.000Z"),
         {**message("m0", "system", "", "Conversation assigned to Billing", "2025-07-03T21:31:59.088Z")}]
USER_RECORD = {"id": USER, "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "locale": "de",
               "properties": [{"name": "plan", "value": "Pro"}, {"name": "tags", "value": "VIP"}],
               "created_time": "2025-01-01T00:00:00.000Z"}


def paged_messages() -> None:
    """Two pages, newest first; the next one named by ``link`` with ``rel: next_page``."""
    responses.get(MESSAGES, match=[responses.matchers.query_param_matcher({"items_per_page": "50"})],
                  json={"messages": NEWEST_FIRST,
                        "link": {"rel": "next_page", "href": f"/v2/conversations/{CID}/messages?page=2&items_per_page=50"}})
    responses.get(MESSAGES, match=[responses.matchers.query_param_matcher({"page": "2", "items_per_page": "50"})],
                  json={"messages": OLDER})


@responses.activate
def test_load_reads_the_conversation_every_page_of_messages_the_user_and_their_conversations():
    responses.get(f"{BASE}/v2/conversations/{CID}", json={**CONVERSATION, "properties": {
        "priority": "Medium", "cf_baton_tags": "web,vip", "cf_order": "4411"}, "assigned_group_id": "g-1"})
    paged_messages()
    responses.get(f"{BASE}/v2/users/{USER}", json=USER_RECORD)
    responses.get(f"{BASE}/v2/users/{USER}/conversations", json={"conversations": [
        {"id": CID, "status": "new"}, {"id": "11111111-2222-4333-8444-555555555555", "status": "resolved",
                                       "created_time": "2025-07-01T10:00:00.000Z"}]})
    loaded = FreshchatClient(INST).load(CID)
    conv = loaded.conversation
    assert [(m.role, m.text, m.public) for m in conv.messages] == [
        (Role.CUSTOMER, "I was charged twice", True), (Role.BOT, "Refunds take 5 days.", True),
        (Role.CUSTOMER, "I want to talk to a human", True)]  # oldest first; Freshchat's and Baton's own left out
    assert (conv.id, conv.channel, conv.group_id, conv.tags, conv.url) == (
        CID, "messaging", "g-1", ("web", "vip"), CONVERSATION["url"])
    assert conv.fields == {"priority": "Medium", "cf_order": "4411"}
    c = conv.customer
    assert (c.id, c.name, c.email, c.plan, c.tier, c.language) == (USER, "Ann Lee", "ann@example.com", "Pro", "VIP", "de")
    assert [k.id for k in c.recent_contacts] == ["11111111-2222-4333-8444-555555555555"]
    assert loaded.ticket_fields == {"tags": ["web", "vip"], "priority": "normal", "updated_at": CONVERSATION["updated_time"],
                                    "status": "new", "group_id": "g-1", "assignee_id": None}
    assert {c.request.headers["Authorization"] for c in responses.calls} == {"Bearer TOKEN"}


@responses.activate
def test_the_handoff_assigns_the_conversation_then_writes_the_private_note_as_batons_agent():
    responses.put(f"{BASE}/v2/conversations/{CID}", json=CONVERSATION)
    responses.post(MESSAGES, json={"id": "m9"}, status=201)
    plan = Plan("baton-i1-1", CID, (AddNote("<p>note</p>", "note text\n\nBaton ref baton-i1-1\n"),
                                    AddTags(("baton_escalated", "web")), SetPriority(Priority.HIGH),
                                    Assign(group_id="g-1", agent_id=SAM)),
                {"tags": ["web"], "priority": "normal"}, handoff=True)
    FreshchatClient(INST).apply(plan)
    assert [(c.request.method, c.request.url.removeprefix(BASE)) for c in responses.calls] == [
        ("PUT", f"/v2/conversations/{CID}"), ("POST", f"/v2/conversations/{CID}/messages")]
    assert json.loads(responses.calls[0].request.body) == {
        "assigned_group_id": "g-1", "assigned_agent_id": SAM, "status": "assigned",
        "properties": {"cf_baton_tags": "web,baton_escalated", "priority": "High"}}
    assert json.loads(responses.calls[1].request.body) == {
        "message_parts": [{"text": {"content": "note text\n\nBaton ref baton-i1-1\n"}}], "message_type": "private",
        "actor_type": "agent", "actor_id": BATON}


@responses.activate
def test_a_group_alone_is_assigned_and_a_priority_is_never_lowered():
    responses.put(f"{BASE}/v2/conversations/{CID}", json=CONVERSATION)
    responses.post(MESSAGES, json={"id": "m9"}, status=201)
    FreshchatClient(INST).apply(Plan("k", CID, (AddNote("", "n k"), SetPriority(Priority.HIGH), Assign(group_id="g-2")),
                                     {"tags": [], "priority": "urgent"}))
    assert json.loads(responses.calls[0].request.body) == {"assigned_group_id": "g-2", "status": "assigned"}


@responses.activate
def test_nothing_to_update_means_only_the_note():
    responses.post(MESSAGES, json={"id": "m9"}, status=201)
    FreshchatClient(INST).apply(Plan("k", CID, (AddNote("", "n k"), AddTags(("web",))), {"tags": ["web"]}))
    assert [c.request.method for c in responses.calls] == ["POST"]


@responses.activate
def test_a_customer_message_is_a_normal_message_after_the_note():
    responses.post(MESSAGES, json={"id": "m9"}, status=201)
    FreshchatClient(INST).apply(Plan("k", CID, (ReplyToCustomer("Connecting you <now>"), AddNote("", "n k")), {}))
    kinds = [json.loads(c.request.body)["message_type"] for c in responses.calls]
    assert kinds == ["private", "normal"]
    assert json.loads(responses.calls[1].request.body)["message_parts"] == [{"text": {"content": "Connecting you <now>"}}]


@responses.activate
def test_applied_finds_our_key_among_the_private_messages_only():
    paged_messages()
    assert FreshchatClient(INST).applied(Plan("k-0", CID, ()))
    responses.reset()
    public = [{**NEWEST_FIRST[0], "message_type": "normal"}]
    responses.get(MESSAGES, json={"messages": public})
    assert not FreshchatClient(INST).applied(Plan("k-0", CID, ()))  # the key said in public is not our note


@responses.activate
def test_roster_reads_every_page_of_groups_and_agents_and_leaves_out_baton_bots_and_deactivated():
    responses.get(f"{BASE}/v2/groups", json={"groups": [{"id": "g-1", "name": "Billing"}],
                                             "pagination": {"total_items": 1, "total_pages": 1, "current_page": 1}})
    responses.get(f"{BASE}/v2/agents", match=[responses.matchers.query_param_matcher({"items_per_page": "50"})], json={
        "agents": [{"id": SAM, "first_name": "Sam", "last_name": "Stone", "groups": ["g-1"], "locale": "de",
                    "availability_status": "UNAVAILABLE"}, {"id": BATON, "first_name": "Baton"}],
        "links": {"next_page": {"href": "/agents?page=2&items_per_page=50", "rel": "agents", "type": "GET"}}})
    responses.get(f"{BASE}/v2/agents", match=[responses.matchers.query_param_matcher({"page": "2", "items_per_page": "50"})],
                  json={"agents": [{"id": "a-2", "first_name": "Kim", "groups": [], "is_deactivated": True},
                                   {"id": "a-3", "first_name": "Lou", "groups": ["g-1"], "availability_status": "AVAILABLE"}]})
    assert FreshchatClient(INST).roster() == {"groups": [{"id": "g-1", "name": "Billing"}], "agents": [
        {"id": SAM, "name": "Sam Stone", "groups": ["g-1"], "skills": [], "languages": ["de"], "online": False,
         "capacity": 5, "load": 0},
        {"id": "a-3", "name": "Lou", "groups": ["g-1"], "skills": [], "languages": ["en"], "online": True,
         "capacity": 5, "load": 0}]}


@responses.activate
def test_outcome_reads_assignee_status_and_the_first_reply_of_a_person():
    responses.get(f"{BASE}/v2/conversations/{CID}", json={**CONVERSATION, "status": "resolved", "assigned_agent_id": SAM,
                                                          "properties": {"cf_baton_tags": "baton_escalated"}})
    responses.get(MESSAGES, json={"messages": [
        message("m6", "agent", SAM, "Refunded.", "2025-07-10T20:10:00.000Z"),
        message("m5", "agent", SAM, "Looking now (note)", "2025-07-10T20:01:00.000Z", "private"),
        *NEWEST_FIRST]})
    out = FreshchatClient(INST).outcome(CID)
    assert (out.assignee_id, out.status, out.tags, out.csat) == (SAM, "resolved", ("baton_escalated",), None)
    assert out.first_agent_reply_at == datetime(2025, 7, 10, 20, 10, tzinfo=timezone.utc)
    assert out.solved_at == datetime(2025, 7, 10, 19, 47, 55, 536000, tzinfo=timezone.utc)  # its updated_time


@responses.activate
def test_changed_since_asks_nothing_there_is_no_list_to_ask():
    assert FreshchatClient(INST).changed_since(datetime(2026, 1, 1, tzinfo=timezone.utc)) == []
    assert len(responses.calls) == 0


@responses.activate
def test_install_checks_batons_agent_and_keeps_the_public_key_as_the_webhook_secret():
    responses.get(f"{BASE}/v2/agents/{BATON}", json={"id": BATON, "first_name": "Baton"})
    pasted = "".join(public_pem(key_pair("tests-freshchat")).splitlines()[1:-1])  # line breaks lost in copying
    inst = Installation("i1", "freshchat", BASE, {"token": "TOKEN", "public_key": pasted}, "",
                        settings={"api_user_id": BATON})
    assert install(FreshchatClient(inst), "https://baton/webhooks/freshchat/i1") == {
        "settings": {"api_user_id": BATON, "mode": "webhook"}, "webhook_secret": public_pem(key_pair("tests-freshchat"))}


@pytest.mark.parametrize("credentials, settings, why", [
    ({"token": "T", "public_key": "not a key"}, {"api_user_id": BATON}, "public_key"),
    ({"token": "T", "public_key": public_pem(key_pair("tests-freshchat"))}, {}, "api_user_id"),
])
def test_install_refuses_what_cannot_work_before_calling(credentials, settings, why):
    with responses.RequestsMock():  # no call may be made
        with pytest.raises(ValueError, match=why):
            install(FreshchatClient(Installation("i1", "freshchat", BASE, credentials, "", settings=settings)), "e")
