import json
from pathlib import Path

import responses

from connectors.freshdesk.client import FreshdeskClient, install
from integration.core.model import AddNote, AddTags, Assign, Installation, Plan, Priority, Role, SetPriority

BASE = "https://acme.freshdesk.com"
INST = Installation("i1", "freshdesk", BASE, {"api_key": "KEY"}, "s" * 43,
                    settings={"api_user_id": "900", "bot_user_ids": ["800"]})
TICKET = {"id": 165, "subject": "Charged twice", "description_text": "I was charged twice", "status": 2, "priority": 2,
          "requester_id": 100, "company_id": 7, "tags": ["web"], "created_at": "2026-11-20T10:00:00Z",
          "updated_at": "2026-11-20T10:05:00Z", "group_id": None, "responder_id": None, "source": 2}
CONVS = [
    {"id": 1, "body_text": "Sorry, refunds take 5 days.", "incoming": False, "private": False, "user_id": 800,
     "created_at": "2026-11-20T10:01:00Z"},
    {"id": 2, "body_text": "I want to talk to a human", "incoming": True, "private": False, "user_id": 100,
     "created_at": "2026-11-20T10:05:00Z"},
]
CONTACT = {"id": 100, "name": "Ann", "email": "ann@example.com", "company_id": 7, "language": "de",
           "time_zone": "Berlin", "tags": ["VIP"], "custom_fields": {"plan": "Pro"}, "created_at": "2026-01-01T00:00:00Z"}


@responses.activate
def test_load_reads_ticket_conversations_contact_company_and_recent_tickets():
    responses.get(f"{BASE}/api/v2/tickets/165", json=TICKET)
    responses.get(f"{BASE}/api/v2/tickets/165/conversations", json=CONVS)
    responses.get(f"{BASE}/api/v2/contacts/100", json=CONTACT)
    responses.get(f"{BASE}/api/v2/companies/7", json={"id": 7, "name": "Acme", "custom_fields": {"churn_risk": 0.9}})
    responses.get(f"{BASE}/api/v2/tickets?requester_id=100", json=[TICKET, {"id": 150, "subject": "Old", "status": 5,
                                                                             "tags": [], "created_at": "2026-11-10T00:00:00Z"}])
    loaded = FreshdeskClient(INST).load("165")
    assert [(m.role, m.text) for m in loaded.conversation.messages] == [
        (Role.CUSTOMER, "I was charged twice"), (Role.BOT, "Sorry, refunds take 5 days."),
        (Role.CUSTOMER, "I want to talk to a human")]
    c = loaded.conversation.customer
    assert (c.plan, c.tier, c.organization, c.language, c.churn_risk) == ("Pro", "VIP", "Acme", "de", 0.9)
    assert [k.id for k in c.recent_contacts] == ["150"]
    assert loaded.ticket_fields["priority"] == "normal" and loaded.ticket_fields["tags"] == ["web"]
    assert responses.calls[0].request.headers["Authorization"] == "Basic S0VZOlg="  # base64("KEY:X")


@responses.activate
def test_apply_updates_the_ticket_then_adds_the_private_note():
    responses.put(f"{BASE}/api/v2/tickets/165", json=TICKET)
    responses.post(f"{BASE}/api/v2/tickets/165/notes", json={"id": 3}, status=201)
    plan = Plan("baton-i1-165-1", "165", (AddNote("<p>note baton-i1-165-1</p>", "note"), AddTags(("baton_escalated",)),
                                          SetPriority(Priority.HIGH), Assign(group_id="12")),
                {"tags": ["web"], "priority": "normal"})
    FreshdeskClient(INST).apply(plan)
    assert [c.request.method for c in responses.calls] == ["PUT", "POST"]
    assert json.loads(responses.calls[0].request.body) == {"tags": ["web", "baton_escalated"], "priority": 3, "group_id": 12}
    assert json.loads(responses.calls[1].request.body) == {"body": "<p>note baton-i1-165-1</p>", "private": True}


@responses.activate
def test_nothing_to_update_means_only_the_note_and_priority_never_drops():
    responses.post(f"{BASE}/api/v2/tickets/165/notes", json={"id": 3}, status=201)
    plan = Plan("k", "165", (AddNote("<p>n</p>", "n"), SetPriority(Priority.HIGH)), {"tags": [], "priority": "urgent"})
    FreshdeskClient(INST).apply(plan)
    assert [c.request.method for c in responses.calls] == ["POST"]


@responses.activate
def test_applied_finds_our_private_note():
    responses.get(f"{BASE}/api/v2/tickets/165/conversations",
                  json=CONVS + [{"id": 4, "body": "<p>… Baton ref k-1</p>", "private": True, "user_id": 900}])
    assert FreshdeskClient(INST).applied(Plan("k-1", "165", ()))
    assert not FreshdeskClient(INST).applied(Plan("k-2", "165", ()))


@responses.activate
def test_install_learns_our_agent_id():
    responses.get(f"{BASE}/api/v2/agents/me", json={"id": 900, "contact": {"name": "Baton"}})
    assert install(FreshdeskClient(INST), "https://baton/webhooks/freshdesk/i1") == {
        "settings": {"api_user_id": "900", "mode": "automation"}, "webhook_secret": None}


@responses.activate
def test_a_customer_message_is_a_public_reply_after_the_note():
    from integration.core.model import ReplyToCustomer

    responses.post(f"{BASE}/api/v2/tickets/165/notes", json={"id": 3}, status=201)
    responses.post(f"{BASE}/api/v2/tickets/165/reply", json={"id": 4}, status=201)
    FreshdeskClient(INST).apply(Plan("k", "165", (ReplyToCustomer("Connecting you <now>"), AddNote("<p>n</p>", "n")), {}))
    assert [c.request.url.removeprefix(BASE) for c in responses.calls] == ["/api/v2/tickets/165/notes", "/api/v2/tickets/165/reply"]
    assert json.loads(responses.calls[1].request.body) == {"body": "<p>Connecting you &lt;now&gt;</p>"}


@responses.activate
def test_roster_reads_agents_and_groups():
    responses.get(f"{BASE}/api/v2/groups", json=[{"id": 12, "name": "Billing", "agent_ids": [5]}])
    responses.get(f"{BASE}/api/v2/agents", json=[
        {"id": 5, "available": False, "group_ids": [12], "contact": {"name": "Sam", "language": "de"}},
        {"id": 900, "available": True, "group_ids": [], "contact": {"name": "Baton"}}])
    responses.get(f"{BASE}/api/v2/products", json=[])
    responses.get(f"{BASE}/api/v2/admin/skills", status=404, json={"code": "not_found"})  # no Omniroute
    assert FreshdeskClient(INST).roster() == {"groups": [{"id": "12", "name": "Billing"}], "agents": [
        {"id": "5", "name": "Sam", "groups": ["12"], "skills": [], "languages": ["de"], "online": False,
         "capacity": 5, "load": 0}], "brands": [], "skills": []}


@responses.activate
def test_roster_names_the_products_and_skills_an_admin_picks_from():
    """Products are Freshdesk's brands; skills are Omniroute's (fixtures/README.md); a plan or role
    without them (403) lists none, and Freshdesk lists no tags."""
    api = Path(__file__).parents[3] / "connectors" / "freshdesk" / "fixtures" / "api"
    responses.get(f"{BASE}/api/v2/groups", json=[])
    responses.get(f"{BASE}/api/v2/agents", json=[{"id": 1, "available": True, "skill_ids": [1, 2], "contact": {"name": "Sam"}}])
    responses.get(f"{BASE}/api/v2/products", json=json.loads((api / "products.json").read_text()))
    responses.get(f"{BASE}/api/v2/admin/skills", json=json.loads((api / "admin_skills.json").read_text()))
    roster = FreshdeskClient(INST).roster()
    assert roster["brands"] == [{"id": "3", "name": "Acme Shoes"}, {"id": "4", "name": "Acme Hats"}]
    assert roster["skills"] == [{"id": "1", "name": "German Travel Experts"}, {"id": "2", "name": "US Travel Experts"}]
    assert roster["agents"][0]["skills"] == ["1", "2"] and "tags" not in roster
    assert responses.calls[-1].request.url == f"{BASE}/api/v2/admin/skills?per_page=100"
    responses.replace(responses.GET, f"{BASE}/api/v2/products", status=403, json={"code": "access_denied"})
    responses.replace(responses.GET, f"{BASE}/api/v2/admin/skills", status=403, json={"code": "access_denied"})
    roster = FreshdeskClient(INST).roster()
    assert (roster["brands"], roster["skills"]) == ([], [])


# Freshdesk Omni: a chat ticket starts assigned to the AI agent (settings["ai_agent_ids"])

OMNI = Installation("i1", "freshdesk", BASE, {"api_key": "KEY"}, "s" * 43,
                    settings={"api_user_id": "900", "bot_user_ids": ["800"], "ai_agent_ids": ["700"]})


@responses.activate
def test_an_omni_chat_ticket_is_taken_from_the_ai_agent_to_the_group_when_no_person_is_free():
    responses.put(f"{BASE}/api/v2/tickets/165", json=TICKET)
    responses.post(f"{BASE}/api/v2/tickets/165/notes", json={"id": 3}, status=201)
    plan = Plan("k", "165", (AddNote("<p>n</p>", "n"), Assign(group_id="12")), {"tags": [], "assignee_id": 700},
                handoff=True)
    FreshdeskClient(OMNI).apply(plan)
    assert json.loads(responses.calls[0].request.body) == {"group_id": 12, "responder_id": None}


@responses.activate
def test_an_omni_chat_ticket_goes_to_the_chosen_agent_and_other_tickets_keep_their_responder():
    responses.put(f"{BASE}/api/v2/tickets/165", json=TICKET)
    responses.post(f"{BASE}/api/v2/tickets/165/notes", json={"id": 3}, status=201)
    FreshdeskClient(OMNI).apply(Plan("k", "165", (AddNote("", "n"), Assign("12", "5")), {"assignee_id": 700}, handoff=True))
    assert json.loads(responses.calls[0].request.body) == {"group_id": 12, "responder_id": 5}
    FreshdeskClient(OMNI).apply(Plan("k", "165", (AddNote("", "n"), Assign("12")), {"assignee_id": 5}, handoff=True))
    assert json.loads(responses.calls[2].request.body) == {"group_id": 12}  # a person's ticket: left with them
    FreshdeskClient(OMNI).apply(Plan("k", "165", (AddNote("", "n"), Assign("12")), {"assignee_id": 700}))
    assert json.loads(responses.calls[4].request.body) == {"group_id": 12}  # not a handoff (an SLA re-route)


@responses.activate
def test_the_ai_agent_writes_as_the_bot_and_takes_no_handoffs():
    responses.get(f"{BASE}/api/v2/tickets/165", json={**TICKET, "responder_id": 700})
    responses.get(f"{BASE}/api/v2/tickets/165/conversations", json=[{**CONVS[0], "user_id": 700}, CONVS[1]])
    responses.get(f"{BASE}/api/v2/contacts/100", json=CONTACT)
    responses.get(f"{BASE}/api/v2/companies/7", json={"id": 7, "name": "Acme"})
    responses.get(f"{BASE}/api/v2/tickets?requester_id=100", json=[TICKET])
    loaded = FreshdeskClient(OMNI).load("165")
    assert [m.role for m in loaded.conversation.messages] == [Role.CUSTOMER, Role.BOT, Role.CUSTOMER]
    assert not loaded.conversation.human_replied
    responses.get(f"{BASE}/api/v2/groups", json=[])
    responses.get(f"{BASE}/api/v2/agents", json=[{"id": 700, "available": True, "contact": {"name": "Freddy AI Agent"}},
                                                 {"id": 5, "available": True, "contact": {"name": "Sam"}}])
    responses.get(f"{BASE}/api/v2/products", json=[])
    responses.get(f"{BASE}/api/v2/admin/skills", json=[])
    assert [a["id"] for a in FreshdeskClient(OMNI).roster()["agents"]] == ["5"]


def test_a_ticket_still_with_the_ai_agent_has_no_person_assigned():
    from connectors.freshdesk.client import outcome_from

    assert outcome_from({**TICKET, "responder_id": 700}, [], {"700"}).assignee_id is None
    assert outcome_from({**TICKET, "responder_id": 5}, [], {"700"}).assignee_id == "5"
