"""The Zendesk client on a messaging conversation (Conversations API): the exact requests it sends
to read a conversation, hand it over (message, passControl with captured fields, then the note on
the ticket) and install Baton's integration; and that nothing is written to the ticket while the
bot holds the conversation."""
import json

import pytest
import responses

from connectors.zendesk import conversations as sunco
from connectors.zendesk.messaging import ZendeskMessagingClient, install
from integration.core.contract import ApiInvalid, ApiUnauthorized
from integration.core.model import (AddNote, AddTags, Assign, Installation, Plan, Priority, ReplyToCustomer, Role,
                                    SetPriority)

BASE = "https://acme.zendesk.com"
APP = "5ebee0975ac5304b664a12fa"
SC = f"{BASE}/sc/v2/apps/{APP}"
CID = "f52b01137aa6c250bc7251fa"
INST = Installation("i1", "zendesk", BASE, {"email": "baton@acme.com", "token": "tok", sunco.KEY_ID: "app_5e4af71a",
                                             sunco.SECRET: "keysecret"}, "secret",
                    settings={"api_user_id": "900", sunco.APP_ID: APP})
BOT = {"id": "5eecde2dcdbffb08f5c3ed37", "name": "zd-answerBot", "integrationId": "5f11a650e4e987667c2051d1",
       "integrationType": "zd:answerBot"}
AGENTS = {"id": "5ef21b86e933b7355c11c604", "name": "zd-agentWorkspace", "integrationId": "5ef21b86e933b7355c11c605",
          "integrationType": "zd:agentWorkspace"}


def conversation(active=BOT):
    return {"conversation": {"id": CID, "type": "personal", "activeSwitchboardIntegration": active,
                             "createdAt": "2026-11-20T10:00:00.000Z"}}


def msg(n, text, kind="user", subtypes=None, **extra):
    author = {"type": kind, **({"userId": "26508c10541a4b0ff472e5e2"} if kind == "user" else {}),
              **({"subtypes": subtypes} if subtypes else {})}
    return {"id": f"5f74c7d84a146f3abd72a{n:03d}", "received": f"2026-11-20T10:00:{n:02d}.000Z", "author": author,
            "content": {"type": "text", "text": text}, "source": {"type": "web"}, **extra}


EARLY = [msg(1, "I was charged twice"), msg(2, "Charges settle in 3 days.", "business", ["AI"])]
LATE = [msg(3, "I want to talk to a human"), msg(4, "Hi, Alex here", "business", ["agent"]),
        msg(5, "A person will take over", "business", metadata={sunco.BATON_MARK: "baton-i1-x-1"})]
AI_TICKET = {"id": 77, "subject": "Conversation with Ann", "status": "open", "priority": "normal", "requester_id": 100,
             "tags": ["zd_ai_agent"], "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:05:00Z",
             "group_id": None, "assignee_id": None, "via": {"channel": "native_messaging"}}
EMAIL_TICKET = {**AI_TICKET, "id": 70, "via": {"channel": "email"}, "updated_at": "2026-11-20T11:00:00Z"}
USER = {"id": 100, "name": "Ann Lee", "email": "ann@example.com", "tags": ["vip"], "organization_id": None,
        "time_zone": "Europe/Paris", "locale": "fr-FR", "user_fields": {"plan": "Business"},
        "created_at": "2025-11-20T10:00:00Z"}
NOTE = AddNote("<p>handoff</p><p><i>Baton ref baton-i1-c-1</i></p>", "handoff\n\nBaton ref baton-i1-c-1")


def handoff(*extra, fields=None):
    return Plan("baton-i1-c-1", CID, (NOTE, AddTags(("baton_escalated", "baton_billing_dispute")),
                                      SetPriority(Priority.HIGH), Assign("360", None, "billing"), *extra),
                fields if fields is not None else {"tags": ["zd_ai_agent"], "priority": "normal", "status": "open",
                                                   "updated_at": "2026-11-20T10:05:00Z", "ticket_id": "77",
                                                   "requester_id": "100", "first_message_id": EARLY[0]["id"]},
                handoff=True)


def bodies(method, fragment):
    return [json.loads(c.request.body) for c in responses.calls
            if c.request.method == method and fragment in c.request.url]


@responses.activate
def test_load_reads_every_page_backwards_and_the_customer_through_their_zendesk_id():
    responses.get(f"{SC}/conversations/{CID}", json=conversation())
    # the first answer is the latest page; links.prev reads the earlier one
    prev = f"{SC}/conversations/{CID}/messages?page[before]={LATE[0]['id']}"
    responses.get(f"{SC}/conversations/{CID}/messages", json={
        "messages": LATE, "meta": {"hasMore": True, "beforeCursor": LATE[0]["id"]}, "links": {"prev": prev}},
        match=[responses.matchers.query_param_matcher({})])
    responses.get(f"{SC}/conversations/{CID}/messages", json={"messages": EARLY, "meta": {"hasMore": False}},
                  match=[responses.matchers.query_param_matcher({"page[before]": LATE[0]["id"]})])
    responses.get(f"{SC}/users/26508c10541a4b0ff472e5e2", json={"user": {"id": "26508c10541a4b0ff472e5e2", "zendeskId": "100"}})
    responses.get(f"{BASE}/api/v2/users/100.json", json={"user": USER})
    responses.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": [AI_TICKET, EMAIL_TICKET]})
    loaded = ZendeskMessagingClient(INST).load(CID)
    conv = loaded.conversation
    assert [(m.role, m.text) for m in conv.messages] == [
        (Role.CUSTOMER, "I was charged twice"), (Role.BOT, "Charges settle in 3 days."),
        (Role.CUSTOMER, "I want to talk to a human"), (Role.AGENT, "Hi, Alex here")]  # Baton's own message left out
    assert (conv.id, conv.channel, conv.customer.name, conv.customer.plan, conv.customer.tier) == (
        CID, "messaging", "Ann Lee", "Business", "vip")
    assert conv.human_replied
    assert loaded.ticket_fields == {"tags": ["zd_ai_agent"], "priority": "normal", "updated_at": "2026-11-20T10:05:00Z",
                                    "status": "open", "group_id": None, "assignee_id": None, "control": "zd:answerBot",
                                    "ticket_id": "77", "requester_id": "100", "first_message_id": EARLY[0]["id"]}
    sc_calls = [c for c in responses.calls if "/sc/" in c.request.url]
    assert all(c.request.headers["Authorization"].startswith("Basic ") for c in sc_calls)


def mock_handoff(rsps, active=BOT, said=()):
    rsps.get(f"{SC}/conversations/{CID}", json=conversation(active))
    rsps.get(f"{SC}/conversations/{CID}/messages", json={"messages": [*EARLY, *said], "meta": {"hasMore": False}})
    rsps.post(f"{SC}/conversations/{CID}/messages", json={"messages": []}, status=201)
    rsps.post(f"{SC}/conversations/{CID}/passControl", json={})
    rsps.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": [AI_TICKET]})
    rsps.put(f"{BASE}/api/v2/tickets/77.json", json={"ticket": AI_TICKET})
    rsps.get(f"{BASE}/api/v2/tickets/77/comments.json", json={"comments": [
        {"id": 9, "public": False, "html_body": NOTE.html, "author_id": 900}]})


@responses.activate
def test_a_handoff_tells_the_customer_passes_control_with_captured_fields_then_notes_the_ticket():
    mock_handoff(responses)
    ZendeskMessagingClient(INST).apply(handoff(ReplyToCustomer("A person will take over shortly.")))
    assert bodies("POST", "/messages") == [{"author": {"type": "business"},
                                            "content": {"type": "text", "text": "A person will take over shortly."},
                                            "metadata": {"baton_key": "baton-i1-c-1"}}]
    assert bodies("POST", "/passControl") == [{"switchboardIntegration": "zd:agentWorkspace", "metadata": {
        "baton_key": "baton-i1-c-1", "first_message_id": EARLY[0]["id"], "dataCapture.systemField.group_id": 360,
        "dataCapture.systemField.priority": "high",
        "dataCapture.systemField.tags": "zd_ai_agent,baton_escalated,baton_billing_dispute"}}]
    assert bodies("PUT", "/tickets/77") == [{"ticket": {
        "safe_update": True, "updated_stamp": "2026-11-20T10:05:00Z",
        "comment": {"html_body": NOTE.html, "public": False},
        "tags": ["zd_ai_agent", "baton_escalated", "baton_billing_dispute"], "priority": "high", "group_id": 360}}]
    order = [(c.request.method, c.request.url.split("?")[0].rsplit("/", 1)[-1]) for c in responses.calls]
    assert order.index(("POST", "passControl")) < order.index(("PUT", "77.json"))  # never before control passed


@responses.activate
def test_a_retry_after_the_pass_neither_passes_again_nor_repeats_the_message():
    mock_handoff(responses, active=AGENTS)
    ZendeskMessagingClient(INST).apply(handoff(ReplyToCustomer("A person will take over shortly.")))
    assert bodies("POST", "/passControl") == [] and bodies("POST", "/messages") == []
    assert len(bodies("PUT", "/tickets/77")) == 1


@responses.activate
def test_a_message_already_sent_before_a_crash_is_not_sent_again():
    said = [msg(9, "A person will take over shortly.", "business", metadata={sunco.BATON_MARK: "baton-i1-c-1"})]
    mock_handoff(responses, said=said)
    ZendeskMessagingClient(INST).apply(handoff(ReplyToCustomer("A person will take over shortly.")))
    assert bodies("POST", "/messages") == [] and len(bodies("POST", "/passControl")) == 1


@pytest.mark.parametrize("status", [403, 422])
@responses.activate
def test_a_ticket_still_refusing_the_note_after_the_pass_is_retried_later_not_flagged(status):
    mock_handoff(responses)
    responses.replace(responses.PUT, f"{BASE}/api/v2/tickets/77.json", json={"error": "Forbidden"}, status=status)
    responses.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 900}})
    with pytest.raises(sunco.NotYetEditable) as e:
        ZendeskMessagingClient(INST).apply(handoff())
    assert e.value.transient


@responses.activate
def test_a_refusal_because_the_credentials_are_gone_still_flags_the_installation():
    mock_handoff(responses)
    responses.replace(responses.PUT, f"{BASE}/api/v2/tickets/77.json", json={"error": "Forbidden"}, status=403)
    responses.get(f"{BASE}/api/v2/users/me.json", json={"error": "Couldn't authenticate you"}, status=401)
    with pytest.raises(ApiUnauthorized):
        ZendeskMessagingClient(INST).apply(handoff())


@responses.activate
def test_a_write_accepted_without_the_note_showing_is_no_write():
    mock_handoff(responses)
    responses.replace(responses.GET, f"{BASE}/api/v2/tickets/77/comments.json", json={"comments": []})
    with pytest.raises(sunco.NotYetEditable):
        ZendeskMessagingClient(INST).apply(handoff())


@responses.activate
def test_no_note_goes_to_the_ticket_of_a_conversation_the_bot_holds_unless_it_is_the_handoff():
    mock_handoff(responses)
    waiting = Plan("baton-i1-c-while-waiting-3", CID, (NOTE, SetPriority(Priority.HIGH)), handoff().ticket_fields)
    with pytest.raises(ApiInvalid):
        ZendeskMessagingClient(INST).apply(waiting)
    assert bodies("PUT", "/tickets/") == [] and bodies("POST", "/passControl") == []


@responses.activate
def test_applied_is_the_note_with_the_key_on_the_conversation_s_ticket():
    mock_handoff(responses)
    client = ZendeskMessagingClient(INST)
    assert client.applied(handoff())
    assert not client.applied(Plan("baton-i1-c-2", CID, (NOTE,), handoff().ticket_fields, handoff=True))


def test_passcontrol_metadata_stays_under_4_kb():
    many = [f"customer_tag_{i:04d}" for i in range(400)]
    meta = sunco.captured("baton-i1-c-1", {"tags": many}, "360", None, "high", [*many, "baton_escalated"])
    assert len(json.dumps(meta).encode()) <= sunco.METADATA_LIMIT
    assert meta["dataCapture.systemField.tags"] == "baton_escalated"


@responses.activate
def test_install_creates_the_integration_its_webhook_and_a_standby_place_on_the_switchboard():
    responses.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 900}})
    responses.post(f"{BASE}/api/v2/webhooks", json={"webhook": {"id": "01HW"}})
    responses.get(f"{BASE}/api/v2/webhooks/01HW/signing_secret", json={"signing_secret": {"secret": "zdsecret"}})
    responses.post(f"{SC}/integrations", status=201, json={"integration": {
        "id": "5e4af71a81966cfff3ef6550", "type": "custom", "status": "active", "displayName": "Baton",
        "webhooks": [{"id": "5e554d2cac66fb73a3c01871", "version": "v2", "target": "https://baton.example/webhooks/zendesk/i1",
                      "triggers": list(sunco.TRIGGERS), "secret": "8564b3e6a8b20a4bdb68b05ce9bc5936",
                      "includeFullUser": False, "includeFullSource": False}]}})
    responses.get(f"{SC}/switchboards", json={"switchboards": [{"id": "5ef21b132f21af34f088530d", "enabled": True}]})
    responses.post(f"{SC}/switchboards/5ef21b132f21af34f088530d/switchboardIntegrations", status=201, json={
        "switchboardIntegration": {"id": "5ef21b86e933b7355c11c699", "name": "baton",
                                   "integrationId": "5e4af71a81966cfff3ef6550", "integrationType": "custom",
                                   "deliverStandbyEvents": True}})
    result = install(ZendeskMessagingClient(INST), "https://baton.example/webhooks/zendesk/i1")
    assert bodies("POST", "/integrations") == [{"type": "custom", "displayName": "Baton", "webhooks": [{
        "target": "https://baton.example/webhooks/zendesk/i1",
        "triggers": ["conversation:message", "conversation:create", "switchboard:passControl",
                     "switchboard:passControl:failure", "switchboard:offerControl", "switchboard:acceptControl",
                     "switchboard:releaseControl"], "includeFullUser": False, "includeFullSource": False}]}]
    assert bodies("POST", "/switchboardIntegrations") == [{"name": "baton", "integrationId": "5e4af71a81966cfff3ef6550",
                                                            "deliverStandbyEvents": True}]
    assert result["credentials"] == {sunco.WEBHOOK_SECRET: "8564b3e6a8b20a4bdb68b05ce9bc5936"}
    assert result["webhook_secret"] == "zdsecret"
    assert {k: result["settings"][k] for k in ("sunco_integration_id", "sunco_webhook_id", "sunco_switchboard_integration_id")} == {
        "sunco_integration_id": "5e4af71a81966cfff3ef6550", "sunco_webhook_id": "5e554d2cac66fb73a3c01871",
        "sunco_switchboard_integration_id": "5ef21b86e933b7355c11c699"}


@responses.activate
def test_without_a_conversations_api_key_install_is_tickets_only():
    responses.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 900}})
    responses.post(f"{BASE}/api/v2/webhooks", json={"webhook": {"id": "01HW"}})
    responses.get(f"{BASE}/api/v2/webhooks/01HW/signing_secret", json={"signing_secret": {"secret": "zdsecret"}})
    plain = Installation("i1", "zendesk", BASE, {"email": "baton@acme.com", "token": "tok"}, "secret")
    result = install(ZendeskMessagingClient(plain), "https://baton.example/webhooks/zendesk/i1")
    assert "credentials" not in result and all("/sc/" not in c.request.url for c in responses.calls)


@responses.activate
def test_an_earlier_ticket_s_part_of_the_conversation_is_not_this_session():
    closed = msg(6, "Ticket closed", "business", ["activity"], activity={"type": "ticket:closed", "data": {}})
    again = msg(7, "It happened again, I want a human")
    responses.get(f"{SC}/conversations/{CID}", json=conversation())
    responses.get(f"{SC}/conversations/{CID}/messages", json={"messages": [*EARLY, *LATE, closed, again],
                                                               "meta": {"hasMore": False}})
    responses.get(f"{SC}/users/26508c10541a4b0ff472e5e2", json={"user": {"id": "26508c10541a4b0ff472e5e2", "zendeskId": "100"}})
    responses.get(f"{BASE}/api/v2/users/100.json", json={"user": USER})
    responses.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": [AI_TICKET]})
    loaded = ZendeskMessagingClient(INST).load(CID)
    assert [(m.role, m.text) for m in loaded.conversation.messages] == [(Role.CUSTOMER, "It happened again, I want a human")]
    assert not loaded.conversation.human_replied  # the agent answered in the earlier ticket
    assert loaded.ticket_fields["first_message_id"] == again["id"]
