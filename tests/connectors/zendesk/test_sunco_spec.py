"""The Conversations API as its published OpenAPI spec describes it: every request Baton's client
sends, every answer the sandbox gives and every webhook it delivers is checked against the spec's
schemas (vendored in ``connectors/zendesk/fixtures/api/sunco_openapi.json``, source named there).

OpenAPI 3.0 schemas are not quite JSON Schema: ``nullable`` becomes a null type, ``$ref``s point
into ``$defs``, and a ``oneOf`` with a ``discriminator`` picks its branch by the discriminating
property (text content would otherwise match several branches)."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from connectors.zendesk import conversations as sunco
from integration.core.model import Event
from integration.service.pipeline import Pipeline
from integration.tools.local import install_into
from connectors.zendesk.sandbox import ZendeskDriver
from tests.test_pipeline import HUMAN, Clock

FIXTURES = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures"
SPEC = json.loads((FIXTURES / "api" / "sunco_openapi.json").read_text())


def json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: json_schema(v) for k, v in node.items() if not k.startswith("x-") and k != "example"}
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
    discriminator = node.pop("discriminator", None)
    if discriminator and "oneOf" in node and discriminator.get("mapping"):
        prop, mapping = discriminator["propertyName"], discriminator["mapping"]
        node.pop("oneOf")
        node["allOf"] = [*node.get("allOf", []), *({"if": {"properties": {prop: {"const": value}}, "required": [prop]},
                                                    "then": {"$ref": ref.replace("#/components/schemas/", "#/$defs/")}}
                                                   for value, ref in mapping.items())]
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"] if isinstance(node["type"], str) else [*node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [{"type": "null"}, node]}
    return node


DEFS = json_schema(SPEC["components"]["schemas"])


def validator(name: str | None = None, schema: Any = None) -> Draft202012Validator:
    root = {"$ref": f"#/$defs/{name}"} if name else json_schema(schema)
    return Draft202012Validator({**root, "$defs": DEFS})


def problems(v: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


WEBHOOK = validator(schema=SPEC["webhook"])
# (method, last path segments) → the operation's request body schema and its success answer's
OPERATIONS = {
    ("POST", "passControl"): ("passControlBody", None),
    ("POST", "offerControl"): ("offerControlBody", None),
    ("POST", "acceptControl"): ("acceptControlBody", None),
    ("POST", "releaseControl"): ("releaseControlBody", None),
    ("POST", "messages"): ("messagePost", "messagePostResponse"),
    ("GET", "messages"): (None, "messageListResponse"),
    ("GET", "conversation"): (None, "conversationResponse"),
    ("GET", "user"): (None, "userResponse"),
    ("POST", "integrations"): ("custom", "integrationResponse"),
    ("GET", "switchboards"): (None, "switchboardListResponse"),
    ("POST", "switchboardIntegrations"): ("switchboardIntegrationCreateBody", "switchboardIntegrationResponse"),
    ("GET", "switchboardIntegrations"): (None, "switchboardIntegrationListResponse"),
    ("GET", "webhook"): (None, "webhookResponse"),
}


def operation(method: str, path: str) -> tuple[str | None, str | None]:
    parts = path.split("/")
    last = parts[-1]
    if method == "GET" and parts[-2] == "conversations":
        last = "conversation"
    elif method == "GET" and parts[-2] == "users":
        last = "user"
    elif method == "GET" and parts[-2] == "webhooks":
        last = "webhook"
    return OPERATIONS[(method, last)]


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "sunco").glob("*.json")))
def test_every_webhook_fixture_is_a_webhook_body_of_the_spec(name):
    assert problems(WEBHOOK, json.loads((FIXTURES / "sunco" / f"{name}.json").read_text())) == []


def test_the_schemas_catch_a_wrong_body():
    """The converted schemas are not vacuous."""
    assert problems(validator("passControlBody"), {"metadata": {}})  # switchboardIntegration is required
    assert problems(validator("messagePost"), {"author": {"type": "bot"}, "content": {"type": "text", "text": "x"}})
    assert problems(WEBHOOK, {"app": {"id": 5}, "events": []})


@pytest.fixture
def handed_over(store, receiver):
    """A Baton install with a Conversations API key, and one conversation handed over."""
    driver = ZendeskDriver()
    driver.enable_messaging()
    driver.start()
    billing = driver.add_group("Billing")
    inst = install_into(driver, store, receiver.url.removesuffix("/hook"),
                        rules={"routing": {"categories": {"billing_dispute": {"group": billing}}}})
    cid = driver.new_messaging_conversation("I was charged twice")
    driver.say(cid, "Charges settle within 3 days.", role="bot")
    driver.say(cid, HUMAN)
    pipe = Pipeline(store, clock=Clock(), rng=random.Random(1))
    (held,) = pipe.process_event(store.events.receive(Event("zendesk", inst.id, "e1", "comment_added", cid))[0])
    assert pipe.send(held) == "sent"
    driver.say(cid, "Thanks, waiting for the person now")
    assert driver.wait_for_deliveries()
    yield driver, inst, cid
    driver.stop()


def test_every_conversations_request_baton_sent_is_a_body_the_spec_accepts(handed_over):
    driver, _, _ = handed_over
    sent = [r for r in driver.sandbox.requests_log if r["path"].startswith("/sc/") and r["method"] == "POST"]
    assert {r["path"].rsplit("/", 1)[-1] for r in sent} >= {"integrations", "switchboardIntegrations", "passControl"}
    for r in sent:
        body, _ = operation(r["method"], r["path"])
        assert body and problems(validator(body), r["json"]) == [], r["path"]


def test_every_webhook_the_sandbox_delivered_is_a_webhook_body_of_the_spec(handed_over, receiver):
    driver, _, _ = handed_over
    bodies = [b for b in receiver.bodies() if "events" in b]
    kinds = {e["type"] for b in bodies for e in b["events"]}
    assert {"conversation:create", "conversation:message", "switchboard:passControl"} <= kinds
    for body in bodies:
        assert problems(WEBHOOK, body) == []


def test_every_answer_of_the_sandbox_is_the_spec_s_shape(handed_over):
    driver, inst, cid = handed_over
    sandbox = driver.sandbox
    key = (inst.credentials[sunco.KEY_ID], inst.credentials[sunco.SECRET])
    app = f"{driver.url}/sc/v2/apps/{sandbox.sc_app_id}"
    user = sandbox.conversation(cid)["messages"][0]["author"]["userId"]
    board = sandbox._sc_board["id"]
    integration, hook = inst.settings["sunco_integration_id"], inst.settings["sunco_webhook_id"]
    calls = [("GET", f"{app}/conversations/{cid}", None), ("GET", f"{app}/conversations/{cid}/messages", None),
             ("GET", f"{app}/users/{user}", None), ("GET", f"{app}/switchboards", None),
             ("GET", f"{app}/switchboards/{board}/switchboardIntegrations", None),
             ("GET", f"{app}/integrations/{integration}/webhooks/{hook}", None),
             ("POST", f"{app}/conversations/{cid}/messages",
              {"author": {"type": "business"}, "content": {"type": "text", "text": "Still there?"}})]
    for method, url, body in calls:
        r = requests.request(method, url, json=body, auth=key, timeout=5)
        assert r.status_code in (200, 201), url
        _, answer = operation(method, url.removeprefix(driver.url))
        assert problems(validator(answer), r.json()) == [], url
    refused = requests.post(f"{app}/conversations/{cid}/passControl", json={"switchboardIntegration": "nobody"},
                            auth=key, timeout=5)
    assert refused.status_code == 400 and problems(validator("errorResponse"), refused.json()) == []


def test_the_messages_api_pages_backwards_100_at_a_time(store, receiver):
    driver = ZendeskDriver()
    driver.enable_messaging()
    driver.start()
    try:
        key = driver.sandbox.create_key()
        cid = driver.new_messaging_conversation("message 0")
        for n in range(1, 250):
            driver.sandbox.say_in_conversation(cid, "customer" if n % 2 else "bot", f"message {n}")
        url = f"{driver.url}/sc/v2/apps/{key['app_id']}/conversations/{cid}/messages"
        pages, params = [], None
        while True:
            body = requests.get(url, params=params, auth=(key["id"], key["secret"]), timeout=5).json()
            assert problems(validator("messageListResponse"), body) == []
            pages.append([m["content"]["text"] for m in body["messages"]])
            if not body["meta"]["hasMore"]:
                break
            params = {"page[before]": body["meta"]["beforeCursor"]}
            assert body["links"]["prev"].endswith(f"page[before]={body['meta']['beforeCursor']}")
        assert [len(p) for p in pages] == [100, 100, 50]
        assert [t for p in reversed(pages) for t in p] == [f"message {n}" for n in range(250)]
        too_big = requests.post(f"{url.removesuffix('/messages')}/passControl", auth=(key["id"], key["secret"]),
                                json={"switchboardIntegration": "zd:agentWorkspace", "metadata": {"x": "y" * 5000}},
                                timeout=5)
        nested = requests.post(f"{url.removesuffix('/messages')}/passControl", auth=(key["id"], key["secret"]),
                               json={"switchboardIntegration": "zd:agentWorkspace", "metadata": {"x": {"y": 1}}},
                               timeout=5)
        assert (too_big.status_code, nested.status_code) == (400, 400)
        assert driver.control(cid) == "zd:answerBot"  # a refused pass moves nothing
        unauthorized = requests.get(url, auth=(key["id"], "wrong"), timeout=5)
        assert unauthorized.status_code == 401 and problems(validator("errorResponse"), unauthorized.json()) == []
    finally:
        driver.stop()
