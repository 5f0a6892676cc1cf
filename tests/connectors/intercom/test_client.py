import json
from pathlib import Path

import responses

from connectors.intercom import client as intercom
from connectors.intercom.client import IntercomClient, install
from integration.core.model import AddNote, AddTags, Assign, Installation, Plan, Priority, Role, SetPriority

BASE = "https://api.intercom.io"
INST = Installation("i1", "intercom", BASE, {"access_token": "tok", "client_secret": "cs"}, "cs",
                    settings={"api_user_id": "814000", "app_id": "app1"})
CONV = {"type": "conversation", "id": "147", "created_at": 1763648411, "updated_at": 1763648730, "priority": "not_priority",
        "team_assignee_id": None, "admin_assignee_id": None, "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "9", "name": "mobile"}]},
        "source": {"delivered_as": "customer_initiated", "body": "I was charged twice", "author": {"type": "user", "id": "c1"}},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "c1"}]},
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": [
            {"part_type": "comment", "body": "Charges settle in 3 days.", "author": {"type": "bot", "id": "b1"}, "created_at": 1763648420},
            {"part_type": "assignment", "body": None, "author": {"type": "admin", "id": "5"}, "created_at": 1763648421},
            {"part_type": "note", "body": "internal", "author": {"type": "admin", "id": "5"}, "created_at": 1763648422},
            {"part_type": "comment", "body": "<p>I want a human</p>", "author": {"type": "user", "id": "c1"}, "created_at": 1763648730},
        ]}}


@responses.activate
def test_load_reads_conversation_contact_company_and_recent_conversations():
    responses.get(f"{BASE}/conversations/147?display_as=plaintext", json=CONV)
    responses.get(f"{BASE}/contacts/c1", json={"id": "c1", "name": "Jane", "email": "j@example.com",
                                               "language_override": "fr", "custom_attributes": {"tier": "vip"},
                                               "signed_up_at": 1732112411})
    responses.get(f"{BASE}/contacts/c1/companies", json={"type": "list", "data": [
        {"id": "co1", "name": "Acme", "plan": {"name": "Enterprise"}, "custom_attributes": {}}]})
    responses.post(f"{BASE}/conversations/search", json={"conversations": [CONV, {"id": "100", "title": "Old", "state": "closed",
                                                                                   "created_at": 1763000000, "tags": {"tags": []}}]})
    loaded = IntercomClient(INST).load("147")
    assert [(m.role, m.text, m.public) for m in loaded.conversation.messages] == [
        (Role.CUSTOMER, "I was charged twice", True), (Role.BOT, "Charges settle in 3 days.", True),
        (Role.AGENT, "internal", False), (Role.CUSTOMER, "I want a human", True)]
    c = loaded.conversation.customer
    assert (c.tier, c.plan, c.organization, c.language, c.tenure_days) == ("vip", "Enterprise", "Acme", "fr", 365)
    assert [k.id for k in c.recent_contacts] == ["100"]
    assert not loaded.conversation.human_replied  # an internal note is not a reply to the customer
    assert json.loads(responses.calls[3].request.body) == {"query": {"field": "contact_ids", "operator": "=", "value": "c1"}}
    assert responses.calls[0].request.headers["Intercom-Version"] == "2.14"
    assert responses.calls[0].request.headers["Authorization"] == "Bearer tok"


PLAN = Plan("baton-i1-147-1", "147", (AddNote("<p>note</p>", "note"), AddTags(("baton_escalated", "mobile")),
                                      SetPriority(Priority.HIGH), Assign(group_id="77")),
            {"tags": ["mobile"], "team_assignee_id": None})


@responses.activate
def test_apply_assigns_tags_then_writes_the_note_last():
    intercom._TAG_IDS.clear()
    responses.post(f"{BASE}/conversations/147/parts", json=CONV)
    responses.post(f"{BASE}/tags", json={"type": "tag", "id": "31", "name": "baton_escalated"})
    responses.post(f"{BASE}/conversations/147/tags", json={"type": "tag", "id": "31"})
    responses.post(f"{BASE}/conversations/147/reply", json=CONV)
    IntercomClient(INST).apply(PLAN)
    bodies = [(c.request.url.removeprefix(BASE), json.loads(c.request.body)) for c in responses.calls]
    assert bodies == [
        ("/conversations/147/parts", {"message_type": "assignment", "type": "team", "admin_id": "814000", "assignee_id": "77"}),
        ("/tags", {"name": "baton_escalated"}),
        ("/conversations/147/tags", {"id": "31", "admin_id": "814000"}),  # "mobile" is already there
        ("/conversations/147/reply", {"message_type": "note", "type": "admin", "admin_id": "814000", "body": "<p>note</p>"}),
    ]
    responses.calls.reset()
    IntercomClient(INST).apply(PLAN)  # the tag id is remembered
    assert "/tags" not in [c.request.url.removeprefix(BASE) for c in responses.calls]


@responses.activate
def test_priority_goes_through_the_preview_api_only_when_the_installation_opts_in():
    intercom._TAG_IDS.clear()
    responses.put(f"{BASE}/conversations/147", json=CONV)
    responses.post(f"{BASE}/conversations/147/reply", json=CONV)
    inst = Installation("i2", "intercom", BASE, {"access_token": "t"}, "cs",
                        settings={"api_user_id": "814000", "preview_priority": True})
    IntercomClient(inst).apply(Plan("k", "147", (SetPriority(Priority.URGENT), AddNote("<p>n</p>", "n")), {}))
    assert json.loads(responses.calls[0].request.body) == {"priority": "urgent", "admin_id": "814000"}
    assert responses.calls[0].request.headers["Intercom-Version"] == "Preview"
    responses.calls.reset()
    IntercomClient(INST).apply(Plan("k", "147", (SetPriority(Priority.URGENT), AddNote("<p>n</p>", "n")), {}))
    assert [c.request.method for c in responses.calls] == ["POST"]  # without opt-in: the note only


@responses.activate
def test_applied_finds_our_note():
    responses.get(f"{BASE}/conversations/147", json={**CONV, "conversation_parts": {"conversation_parts": [
        {"part_type": "note", "body": "<p>… Baton ref baton-i1-147-1</p>"}]}})
    assert IntercomClient(INST).applied(PLAN)
    assert not IntercomClient(INST).applied(Plan("baton-i1-147-2", "147", ()))


@responses.activate
def test_install_learns_admin_and_workspace():
    responses.get(f"{BASE}/me", json={"type": "admin", "id": "814000", "app": {"id_code": "app1"}})
    assert install(IntercomClient(INST), "https://baton/webhooks/intercom/i1") == {
        "settings": {"api_user_id": "814000", "app_id": "app1", "mode": "webhooks"}, "webhook_secret": "cs"}


@responses.activate
def test_a_customer_message_is_an_admin_comment_after_the_note():
    from integration.core.model import ReplyToCustomer

    responses.post(f"{BASE}/conversations/147/reply", json=CONV)
    IntercomClient(INST).apply(Plan("k", "147", (ReplyToCustomer("On it <3"), AddNote("<p>n</p>", "n")), {}))
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert [b["message_type"] for b in bodies] == ["note", "comment"]
    assert bodies[1] == {"message_type": "comment", "type": "admin", "admin_id": "814000", "body": "<p>On it &lt;3</p>"}


@responses.activate
def test_roster_reads_admins_and_teams():
    responses.get(f"{BASE}/teams", json={"type": "team.list", "teams": [{"id": "77", "name": "Billing"}]})
    responses.get(f"{BASE}/admins", json={"type": "admin.list", "admins": [
        {"id": "1", "name": "Sam", "team_ids": [77], "away_mode_enabled": True, "has_inbox_seat": True},
        {"id": "814000", "name": "Baton", "team_ids": []}]})
    responses.get(f"{BASE}/tags", json=json.loads(
        (Path(__file__).parents[3] / "connectors" / "intercom" / "fixtures" / "api" / "tags.json").read_text()))
    assert IntercomClient(INST).roster() == {"groups": [{"id": "77", "name": "Billing"}], "agents": [
        {"id": "1", "name": "Sam", "groups": ["77"], "skills": [], "languages": [], "online": False,
         "capacity": 5, "load": 0}], "tags": ["Beta User", "Amazing User", "Epic User"]}  # no skills, no brands


def test_a_remembered_tag_id_that_no_longer_works_is_looked_up_again():
    """A tag deleted in Intercom (or another workspace at the same address) must not break every
    later escalation until the process restarts."""
    import responses as rsps

    from connectors.intercom import client as intercom_client
    from integration.core.model import AddTags, Plan

    inst = INST
    c = intercom_client.IntercomClient(inst)
    intercom_client._TAG_IDS[(c._scope, "baton_escalated")] = "999"  # remembered from before
    with rsps.RequestsMock() as mock:
        mock.post(f"{inst.base_url}/conversations/77/tags", status=404, json={"type": "error.list"},
                  match=[rsps.matchers.json_params_matcher({"id": "999", "admin_id": c.admin_id})])
        mock.post(f"{inst.base_url}/tags", json={"type": "tag", "id": "1234", "name": "baton_escalated"})
        mock.post(f"{inst.base_url}/conversations/77/tags", json={"type": "tag", "id": "1234"},
                  match=[rsps.matchers.json_params_matcher({"id": "1234", "admin_id": c.admin_id})])
        c.apply(Plan("k", "77", (AddTags(("baton_escalated",)),), {"tags": []}))
    assert intercom_client._TAG_IDS[(c._scope, "baton_escalated")] == "1234"


def test_bots_replies_are_never_a_teammates_reply():
    """Baton steps aside once a person answered the customer: a bot's reply, however Intercom marks
    it (author.type "bot"; Fin's from_ai_agent / is_ai_answer; the Operator's address, as bots post on
    behalf of admins), must not pass for one. A teammate's public reply still does."""
    client = IntercomClient(INST)
    fin = {"type": "admin", "id": "7", "from_ai_agent": True}
    answer = {"type": "admin", "id": "7", "is_ai_answer": True}
    operator = {"type": "admin", "id": "8", "name": "Operator", "email": "operator+app1@intercom.io"}
    workflow_bot = {"type": "bot", "id": "6827949", "email": "operator+app1@intercom.io",
                    "from_ai_agent": False, "is_ai_answer": False}  # the community forum's payload
    assert {client._role(a) for a in (fin, answer, operator, workflow_bot)} == {Role.BOT}
    assert client._role({"type": "admin", "id": "5", "email": "sam@example.com", "from_ai_agent": False}) is Role.AGENT
    assert client._role({"type": "admin", "id": "5", "email": "operator@intercom.io.evil.example"}) is Role.AGENT
