import json
from pathlib import Path

import pytest
import responses

from integration.core.contract import ApiHostError, ApiInvalid, ApiNotFound, ApiRateLimited, ApiUnauthorized
from connectors.zendesk.client import TRIGGER_BODY, ZendeskClient, install
from integration.core.model import AddNote, AddTags, Assign, Installation, Plan, Priority, Role, SetPriority

BASE = "https://acme.zendesk.com"
INST = Installation("i1", "zendesk", BASE, {"email": "baton@acme.com", "token": "tok"}, "secret",
                    settings={"api_user_id": "900", "bot_user_ids": ["800"]})

TICKET = {"id": 42, "subject": "Double charge", "status": "open", "priority": "normal", "requester_id": 100,
          "organization_id": 7, "tags": ["mobile", "eu"], "created_at": "2026-11-20T10:00:00Z",
          "updated_at": "2026-11-20T10:05:00Z", "group_id": None, "assignee_id": None, "via": {"channel": "web"}}
COMMENTS = [
    {"id": 1, "author_id": 100, "body": "I was charged twice", "public": True, "created_at": "2026-11-20T10:00:00Z"},
    {"id": 2, "author_id": 800, "body": "Sorry, charges settle in 3 days.", "public": True, "created_at": "2026-11-20T10:00:05Z"},
    {"id": 3, "author_id": 100, "body": "I want to talk to a human", "public": True, "created_at": "2026-11-20T10:05:00Z"},
]
USER = {"id": 100, "name": "Ann Lee", "email": "ann@example.com", "tags": ["vip"], "organization_id": 7,
        "time_zone": "Europe/Paris", "locale": "fr-FR", "user_fields": {"plan": "Business"},
        "created_at": "2025-11-20T10:00:00Z"}
ORG = {"id": 7, "name": "Acme Corp", "tags": [], "organization_fields": {"churn_risk": 0.8}}
RECENT = [dict(TICKET), {"id": 40, "subject": "Invoice", "status": "solved", "tags": ["baton_escalated"],
                         "created_at": "2026-11-15T10:00:00Z"},
          {"id": 30, "subject": "Old", "status": "closed", "tags": [], "created_at": "2026-01-01T10:00:00Z"}]


def mock_reads(rsps, ticket=TICKET):
    rsps.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": ticket})
    rsps.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": COMMENTS})
    rsps.get(f"{BASE}/api/v2/users/100.json", json={"user": USER})
    rsps.get(f"{BASE}/api/v2/organizations/7.json", json={"organization": ORG})
    rsps.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": RECENT})


@responses.activate
def test_load_builds_the_conversation_and_customer_context():
    mock_reads(responses)
    loaded = ZendeskClient(INST).load("42")
    conv = loaded.conversation
    assert [(m.role, m.text) for m in conv.messages] == [
        (Role.CUSTOMER, "I was charged twice"), (Role.BOT, "Sorry, charges settle in 3 days."),
        (Role.CUSTOMER, "I want to talk to a human")]
    c = conv.customer
    assert (c.name, c.email, c.plan, c.tier, c.organization, c.timezone, c.language) == (
        "Ann Lee", "ann@example.com", "Business", "vip", "Acme Corp", "Europe/Paris", "fr")
    assert c.churn_risk == 0.8 and c.tenure_days == 365
    assert [(k.id, k.escalated) for k in c.recent_contacts] == [("40", True)]  # not this ticket, not older than 30 days
    assert loaded.ticket_fields == {"tags": ["mobile", "eu"], "priority": "normal", "updated_at": "2026-11-20T10:05:00Z",
                             "status": "open", "group_id": None, "assignee_id": None}
    assert not loaded.conversation.human_replied
    assert all(call.request.headers["Authorization"].startswith("Basic ") for call in responses.calls)


@responses.activate
def test_load_takes_the_requester_and_organization_side_loaded_with_the_ticket():
    """Three calls, not five: the ticket's side-loads (``include=users,organizations``) carry the
    requester and the organization whole, so neither is read again."""
    responses.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET, "users": [USER], "organizations": [ORG]})
    responses.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": COMMENTS})
    responses.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": RECENT})
    c = ZendeskClient(INST).load("42").conversation.customer
    assert (c.name, c.plan, c.tier, c.organization, c.language, c.churn_risk) == (
        "Ann Lee", "Business", "vip", "Acme Corp", "fr", 0.8)
    assert len(responses.calls) == 3
    assert "include=users%2Corganizations" in responses.calls[0].request.url


@responses.activate
def test_a_partial_side_loaded_requester_is_read_whole():
    """Zendesk documents side-loaded users as partial: one without the fields the profile reads
    (here ``user_fields`` and ``tags``) is fetched with Show User, and its plan and tier still count."""
    partial = {k: v for k, v in USER.items() if k not in ("user_fields", "tags")}
    responses.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET, "users": [partial], "organizations": [ORG]})
    responses.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": COMMENTS})
    responses.get(f"{BASE}/api/v2/users/100.json", json={"user": USER})
    responses.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": RECENT})
    c = ZendeskClient(INST).load("42").conversation.customer
    assert (c.plan, c.tier, c.organization) == ("Business", "vip", "Acme Corp")
    assert [call.request.url.split("?")[0] for call in responses.calls].count(f"{BASE}/api/v2/users/100.json") == 1


@responses.activate
def test_a_public_reply_by_a_human_agent_is_noticed():
    mock_reads(responses)
    responses.replace(responses.GET, f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": COMMENTS + [
        {"id": 4, "author_id": 555, "body": "Hi Ann, I'm on it", "public": True, "created_at": "2026-11-20T10:06:00Z"}]})
    assert ZendeskClient(INST).load("42").conversation.human_replied


PLAN = Plan("baton-i1-42-1", "42", (
    AddNote("<p>note</p>", "note"), AddTags(("baton_escalated", "mobile")), SetPriority(Priority.HIGH),
    Assign(group_id="360")), {"tags": ["mobile", "eu"], "priority": "normal", "updated_at": "2026-11-20T10:05:00Z"})


@responses.activate
def test_apply_is_one_put_with_note_priority_group_and_merged_tags():
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    ZendeskClient(INST).apply(PLAN)
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body) == {"ticket": {
        "safe_update": True, "updated_stamp": "2026-11-20T10:05:00Z",
        "comment": {"html_body": "<p>note</p>", "public": False},
        "tags": ["mobile", "eu", "baton_escalated"],  # theirs kept, ours added once
        "priority": "high", "group_id": 360}}


@responses.activate
def test_priority_is_never_lowered():
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    plan = Plan(PLAN.key, "42", (SetPriority(Priority.HIGH),), {"tags": [], "priority": "urgent", "updated_at": "t"})
    ZendeskClient(INST).apply(plan)
    assert "priority" not in json.loads(responses.calls[0].request.body)["ticket"]


@responses.activate
def test_conflict_rereads_the_ticket_and_merges_with_the_new_tags():
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=409, json={"error": "UpdateConflict"})
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    changed = {**TICKET, "tags": ["mobile", "eu", "added_by_agent"], "updated_at": "2026-11-20T10:07:00Z"}
    responses.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": changed})
    ZendeskClient(INST).apply(PLAN)
    second = json.loads(responses.calls[2].request.body)["ticket"]
    assert second["updated_stamp"] == "2026-11-20T10:07:00Z"
    assert second["tags"] == ["mobile", "eu", "added_by_agent", "baton_escalated"]


@responses.activate
def test_applied_finds_our_note_by_its_key():
    responses.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": COMMENTS + [
        {"id": 5, "author_id": 900, "html_body": "<p>… Baton ref baton-i1-42-1</p>", "public": False}]})
    assert ZendeskClient(INST).applied(PLAN)
    assert not ZendeskClient(INST).applied(Plan("baton-i1-42-2", "42", ()))


@pytest.mark.parametrize("status, headers, error", [
    (429, {"Retry-After": "17"}, ApiRateLimited), (401, {}, ApiUnauthorized), (403, {}, ApiUnauthorized),
    (404, {}, ApiNotFound), (422, {}, ApiInvalid), (500, {}, ApiHostError), (503, {}, ApiHostError)])
@responses.activate
def test_http_failures_map_to_errors_with_meaning(status, headers, error):
    responses.get(f"{BASE}/api/v2/tickets/42.json", status=status, headers=headers, json={})
    with pytest.raises(error) as e:
        ZendeskClient(INST).ticket("42")
    if error is ApiRateLimited:
        assert e.value.retry_after == 17


@responses.activate
def test_oauth_installations_use_a_bearer_token():
    responses.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    inst = Installation("i2", "zendesk", BASE, {"oauth_token": "abc"}, "s")
    ZendeskClient(inst).ticket("42")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer abc"


@responses.activate
def test_install_in_trigger_mode_creates_webhook_and_trigger():
    responses.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 900}})
    responses.post(f"{BASE}/api/v2/webhooks", json={"webhook": {"id": "01HWH"}}, status=201)
    responses.post(f"{BASE}/api/v2/triggers.json", json={"trigger": {"id": 77}}, status=201)
    responses.get(f"{BASE}/api/v2/webhooks/01HWH/signing_secret", json={"signing_secret": {"secret": "zz"}})
    result = install(ZendeskClient(INST), "https://baton.example/webhooks/zendesk/i1", mode="trigger")
    assert result == {"webhook_secret": "zz", "settings": {"api_user_id": "900", "webhook_id": "01HWH",
                                                           "mode": "trigger", "trigger_id": "77"}}
    assert json.loads(responses.calls[1].request.body) == {"webhook": {
        "name": "Baton handoff", "status": "active", "endpoint": "https://baton.example/webhooks/zendesk/i1",
        "http_method": "POST", "request_format": "json", "subscriptions": ["conditional_ticket_events"]}}
    trigger = json.loads(responses.calls[2].request.body)["trigger"]
    assert {"field": "current_user", "operator": "is_not", "value": "900"} in trigger["conditions"]["all"]
    assert trigger["actions"] == [{"field": "notification_webhook", "value": ["01HWH", TRIGGER_BODY]}]
    json.loads(TRIGGER_BODY)  # the template an admin pastes is valid JSON


@responses.activate
def test_roster_reads_groups_memberships_agents_and_availability():
    responses.get(f"{BASE}/api/v2/groups.json", json={"groups": [{"id": 360, "name": "Billing"}]})
    responses.get(f"{BASE}/api/v2/group_memberships.json", json={"group_memberships": [{"user_id": 1, "group_id": 360}]})
    responses.get(f"{BASE}/api/v2/users.json", json={"users": [
        {"id": 1, "name": "Sam", "locale": "fr-FR"}, {"id": 900, "name": "Baton"}, {"id": 800, "name": "Bot"}]})
    responses.get(f"{BASE}/api/v2/agent_availabilities", json={"data": [{"type": "agent_availabilities", "attributes": {
        "agent_id": 1, "agent_status": {"name": "away"}, "skills": [{"id": "billing"}],
        "channels": [{"name": "messaging", "max_capacity": 3, "work_item_count": 2}]}}]})
    no_pickers(responses)
    roster = ZendeskClient(INST).roster()
    assert roster == {"groups": [{"id": "360", "name": "Billing"}], "agents": [
        {"id": "1", "name": "Sam", "groups": ["360"], "skills": ["billing"], "languages": ["fr"], "online": False,
         "capacity": 3, "load": 2}], "brands": [], "skills": [], "tags": []}  # Baton's API user and the bot never take handoffs
    assert "role%5B%5D=agent&role%5B%5D=admin" in responses.calls[2].request.url


def no_pickers(rsps, status=404):
    """A plan without brands, skills-based routing or the tags list (each answers ``status``)."""
    for path in ("brands.json", "routing/attributes.json", "tags.json"):
        rsps.get(f"{BASE}/api/v2/{path}", status=status, json={"error": "Forbidden" if status == 403 else "InvalidEndpoint"})


@responses.activate
def test_roster_without_omnichannel_counts_agents_online():
    responses.get(f"{BASE}/api/v2/groups.json", json={"groups": []})
    responses.get(f"{BASE}/api/v2/group_memberships.json", json={"group_memberships": []})
    responses.get(f"{BASE}/api/v2/users.json", json={"users": [{"id": 1, "name": "Sam"}]})
    responses.get(f"{BASE}/api/v2/agent_availabilities", status=404, json={})
    no_pickers(responses, 403)  # a plan or a role without them: no brands, skills or tags, and no error
    roster = ZendeskClient(INST).roster()
    (agent,) = roster["agents"]
    assert agent["online"] and agent["load"] == 0
    assert (roster["brands"], roster["skills"], roster["tags"]) == ([], [], [])


API = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures" / "api"


@responses.activate
def test_roster_names_the_brands_skills_and_tags_an_admin_picks_from():
    """The console's pickers: brands by name, skills (routing attribute values) named with their skill
    type, the most used tags; each read as its reference shows it (fixtures/README.md)."""
    for path in ("groups.json", "group_memberships.json", "users.json"):
        responses.get(f"{BASE}/api/v2/{path}", json={path.split(".")[0]: []})
    responses.get(f"{BASE}/api/v2/agent_availabilities", json={"data": [], "meta": {"has_more": False}})
    responses.get(f"{BASE}/api/v2/brands.json", json=json.loads((API / "brands.json").read_text()))
    responses.get(f"{BASE}/api/v2/routing/attributes.json", json=json.loads((API / "routing_attributes.json").read_text()))
    responses.get(f"{BASE}/api/v2/routing/attributes/15821cba-7326-11e8-b07e-950ba849aa27/values.json",
                  json=json.loads((API / "routing_attribute_values.json").read_text()))
    responses.get(f"{BASE}/api/v2/tags.json", json=json.loads((API / "tags.json").read_text()))
    roster = ZendeskClient(INST).roster()
    assert roster["brands"] == [{"id": "360002783572", "name": "Acme Shoes"}, {"id": "360002783573", "name": "Acme Hats"}]
    assert roster["skills"] == [{"id": "b376b35a-e38b-11e8-a292-e3b6377c5575", "name": "French", "kind": "Language"}]
    assert roster["tags"] == ["vip_gold", "billing"]
    assert responses.calls[-1].request.url == f"{BASE}/api/v2/tags.json?page%5Bsize%5D=100"


@responses.activate
def test_roster_reads_the_most_used_tags_only():
    """Tags are read a page at a time, the most used first, and no more than the pickers keep."""
    from connectors.base import PICKS_MAX

    for path in ("groups.json", "group_memberships.json", "users.json"):
        responses.get(f"{BASE}/api/v2/{path}", json={path.split(".")[0]: []})
    responses.get(f"{BASE}/api/v2/agent_availabilities", json={"data": []})
    no_pickers(responses)
    responses.replace(responses.GET, f"{BASE}/api/v2/tags.json", json={
        "tags": [{"name": f"t{i}", "count": 1} for i in range(100)], "meta": {"has_more": True},
        "links": {"next": f"{BASE}/api/v2/tags.json?page%5Bsize%5D=100&page%5Bafter%5D=x"}})
    assert len(ZendeskClient(INST).roster()["tags"]) == 100  # the same names page after page: kept once
    tag_calls = [c for c in responses.calls if "/tags.json" in c.request.url]
    assert len(tag_calls) == PICKS_MAX // 100
