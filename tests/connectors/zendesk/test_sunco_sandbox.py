"""The sandbox's Conversations API plays the switchboard, its webhooks and AI agent tickets the way
the spec and Zendesk's help describe them: what Baton's messaging tests rely on."""
import pytest
import requests

from connectors.zendesk.sandbox import ZendeskDriver
from connectors.zendesk.sandbox.conversations import SUNCO_TRIES

TRIGGERS = ["conversation:message", "switchboard:passControl", "switchboard:offerControl",
            "switchboard:acceptControl", "switchboard:releaseControl"]


@pytest.fixture
def sc(receiver):
    driver = ZendeskDriver()
    driver.start()
    key = driver.sandbox.create_key()
    auth = (key["id"], key["secret"])
    app = f"{driver.url}/sc/v2/apps/{key['app_id']}"
    hook = requests.post(f"{app}/integrations", auth=auth, timeout=5, json={
        "type": "custom", "displayName": "Listener", "webhooks": [{"target": receiver.url, "triggers": TRIGGERS}]}).json()
    board = requests.get(f"{app}/switchboards", auth=auth, timeout=5).json()["switchboards"][0]["id"]
    requests.post(f"{app}/switchboards/{board}/switchboardIntegrations", auth=auth, timeout=5, json={
        "name": "listener", "integrationId": hook["integration"]["id"], "deliverStandbyEvents": True})
    customer = driver.sandbox.add_user("Ann", "ann@example.com")["id"]
    yield driver, app, auth, hook["integration"]["webhooks"][0], customer
    driver.stop()


def post(app, auth, cid, action, body=None):
    return requests.post(f"{app}/conversations/{cid}/{action}", auth=auth, json=body, timeout=5)


def test_webhooks_carry_the_secret_and_are_retried_five_times_on_errors_that_can_recover(sc, receiver):
    driver, app, auth, hook, customer = sc
    receiver.statuses = [500] * 10
    cid = driver.sandbox.start_conversation(customer, "hello", "Chat")
    assert driver.wait_for_deliveries(timeout=20)
    attempts = [d["attempt"] for d in driver.sandbox.deliveries if d["sunco"]]
    assert attempts == list(range(1, SUNCO_TRIES + 1))
    assert all(h["X-API-Key"] == hook["secret"] for h, _ in receiver.requests)
    assert cid in driver.sandbox.deliveries[-1]["body"].decode()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406])
def test_a_non_recoverable_answer_is_not_retried(sc, receiver, status):
    driver, app, auth, hook, customer = sc
    receiver.statuses = [status]
    driver.sandbox.start_conversation(customer, "hello", "Chat")
    assert driver.wait_for_deliveries(timeout=20)
    assert [d["attempt"] for d in driver.sandbox.deliveries if d["sunco"]] == [1]


def test_the_switchboard_moves_control_by_offer_accept_pass_and_release(sc):
    driver, app, auth, hook, customer = sc
    cid = driver.sandbox.start_conversation(customer, "hello", "Chat")
    assert driver.control(cid) == "zd:answerBot"  # the default responder
    assert post(app, auth, cid, "offerControl", {"switchboardIntegration": "zd:answerBot"}).status_code == 400  # the active one
    assert post(app, auth, cid, "offerControl", {"switchboardIntegration": "zd-agentWorkspace"}).status_code == 200
    conv = requests.get(f"{app}/conversations/{cid}", auth=auth, timeout=5).json()["conversation"]
    assert conv["pendingSwitchboardIntegration"]["integrationType"] == "zd:agentWorkspace"
    assert post(app, auth, cid, "acceptControl", {}).status_code == 200
    assert driver.control(cid) == "zd:agentWorkspace"
    assert post(app, auth, cid, "releaseControl").status_code == 200  # the body is optional
    assert driver.control(cid) is None
    assert "activeSwitchboardIntegration" not in requests.get(f"{app}/conversations/{cid}", auth=auth,
                                                             timeout=5).json()["conversation"]
    assert post(app, auth, cid, "passControl", {"switchboardIntegration": "listener"}).status_code == 200  # by name
    assert driver.control(cid) == "custom"
    assert post(app, auth, cid, "passControl", {"switchboardIntegration": "nobody"}).status_code == 400
    assert post(app, auth, "5f74a0d52b5315fcffffffff", "passControl", {"switchboardIntegration": "next"}).status_code == 404


def test_an_ai_agent_ticket_refuses_writes_until_control_passes_then_carries_the_captured_fields(sc):
    driver, app, auth, hook, customer = sc
    sandbox = driver.sandbox
    group = sandbox.add_group("Billing")["id"]
    cid = sandbox.start_conversation(customer, "I was charged twice", "Chat")
    ticket = sandbox.conversation(cid)["ticket_id"]
    support = (f"{sandbox.api_email}/token", sandbox.api_token)
    put = requests.put(f"{driver.url}/api/v2/tickets/{ticket}.json", auth=support, timeout=5,
                       json={"ticket": {"comment": {"body": "note", "public": False}}})
    assert put.status_code == 403
    assert [w["control"] for w in sandbox.ai_ticket_writes] == ["zd:answerBot"]
    assert sandbox.get_comments(ticket)[-1]["body"] == "I was charged twice"  # nothing written
    meta = {"dataCapture.systemField.group_id": group, "dataCapture.systemField.priority": "urgent",
            "dataCapture.systemField.tags": "vip,refund"}
    assert post(app, auth, cid, "passControl", {"switchboardIntegration": "zd:agentWorkspace", "metadata": meta}).ok
    t = sandbox.get_ticket(ticket)
    assert (t["status"], t["group_id"], t["priority"], set(t["tags"])) == ("new", group, "urgent", {"vip", "refund"})
    assert requests.put(f"{driver.url}/api/v2/tickets/{ticket}.json", auth=support, timeout=5,
                        json={"ticket": {"comment": {"body": "note", "public": False}}}).status_code == 200


def test_standby_members_hear_a_conversation_only_when_they_asked_for_it(sc, receiver):
    driver, app, auth, hook, customer = sc
    sandbox = driver.sandbox
    deaf = requests.post(f"{app}/integrations", auth=auth, timeout=5, json={
        "type": "custom", "webhooks": [{"target": receiver.url + "/deaf", "triggers": ["conversation:message"]}]}).json()
    board = sandbox._sc_board["id"]
    requests.post(f"{app}/switchboards/{board}/switchboardIntegrations", auth=auth, timeout=5, json={
        "name": "deaf", "integrationId": deaf["integration"]["id"], "deliverStandbyEvents": False})
    sandbox.start_conversation(customer, "hello", "Chat")
    assert driver.wait_for_deliveries()
    targets = {d["webhook_id"] for d in sandbox.deliveries if d["sunco"]}
    assert targets == {hook["id"]}  # the listener on standby with deliverStandbyEvents; not the deaf one


def test_the_agent_view_shows_a_messaging_ticket_s_conversation_and_who_holds_it(sc):
    """What a person opening the demo's messaging ticket sees: the transcript (it lives in the
    conversation, not in the ticket's comments), escaped, and the switchboard's holder."""
    driver, app, auth, hook, customer = sc
    cid = driver.sandbox.start_conversation(customer, "<script>alert(1)</script> I was charged twice", "Chat")
    driver.sandbox.say_in_conversation(cid, "bot", "Refunds take 5 days.")
    ticket = driver.sandbox.conversation(cid)["ticket_id"]
    page = requests.get(f"{driver.url}/agent/tickets/{ticket}", timeout=5).text
    assert "held by <b>Zendesk&#x27;s AI agent</b>" in page and "AI agent ticket: read-only" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; I was charged twice" in page and "<script>alert" not in page
    assert "Answer Bot (AI agent)" in page and "Refunds take 5 days." in page
    assert "(AI agent ticket)" in requests.get(f"{driver.url}/agent/tickets", timeout=5).text
    assert post(app, auth, cid, "passControl", {"switchboardIntegration": "zd:agentWorkspace"}).ok
    page = requests.get(f"{driver.url}/agent/tickets/{ticket}", timeout=5).text
    assert "held by <b>the agents (Agent Workspace)</b>" in page and "a regular ticket" in page
    assert "(AI agent ticket)" not in requests.get(f"{driver.url}/agent/tickets", timeout=5).text
