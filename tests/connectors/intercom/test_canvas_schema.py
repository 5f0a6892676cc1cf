"""Every canvas Baton answers Intercom with has the shapes Intercom publishes for Canvas Kit
(Intercom-OpenAPI ``descriptions/2.11``, vendored in ``fixtures/canvas/canvas_kit.schema.json``),
and so do the requests the sandbox sends in Intercom's place; the documented request samples
are valid too, so the schema and the samples agree with each other."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.intercom import app as intercom
from connectors.intercom.sandbox import AppRegistration
from tests.connectors.intercom.test_app import (  # noqa: F401  (fixtures)
    client, decide, initialize, inst, post, sample, sandbox, store, submit)

FIXTURES = Path(__file__).parent / "fixtures" / "canvas"
SCHEMA = json.loads((FIXTURES / "canvas_kit.schema.json").read_text())
# the component schema of each component type, to hold Baton to the properties it declares (the
# published schemas allow unknown keys, which Intercom would ignore: a misspelt key goes unseen)
COMPONENTS = {"text": "text_component", "data-table": "data_table_component", "button": "button_component",
              "single-select": "single_select_component", "dropdown": "dropdown_component",
              "textarea": "text_area_component", "input": "input_component", "list": "list_component",
              "divider": "divider_component", "spacer": "spacer_component", "image": "image_component",
              "checkbox": "checkbox_component"}


def validate(instance: Any, name: str) -> None:
    jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]}).validate(instance)


def declared(name: str) -> set[str]:
    return set(SCHEMA["$defs"][name]["properties"])


def strictly(canvas: dict[str, Any]) -> None:
    """No key the published shapes do not declare, on the canvas, its components and their parts."""
    assert set(canvas) <= {"canvas", "card_creation_options", "event"}
    assert set(canvas["canvas"]) <= declared("canvas_object")
    for c in canvas["canvas"]["content"]["components"]:
        assert set(c) <= declared(COMPONENTS[c["type"]]), c
        for option in c.get("options", ()):
            assert set(option) <= declared("dropdown_option"), option
        for item in c.get("items", ()) if c["type"] == "data-table" else ():
            assert set(item) <= declared("data_table_item"), item
        if "action" in c:
            assert set(c["action"]) <= declared(f"{c['action']['type']}_action_component"), c


@pytest.mark.parametrize("name", ["initialize_request", "submit_request"])
def test_the_documented_request_samples_match_the_published_schema(name):
    validate(json.loads((FIXTURES / f"{name}.json").read_text()), name)


def canvases(client, store, sandbox, inst) -> dict[str, tuple[str, dict[str, Any]]]:  # noqa: F811
    """Each card Baton answers with, named, with the response schema it answers."""
    out = {"undecided": ("initialize_response", initialize(client, sandbox, ticket="4242").get_json())}
    decide(store, inst)
    out["decided"] = ("initialize_response", initialize(client, sandbox).get_json())
    out["nothing chosen"] = ("submit_response", submit(client, sandbox, {}).get_json())
    out["unknown verdict"] = ("submit_response", submit(client, sandbox, {"verdict": "meh"}).get_json())
    out["unknown resolution"] = ("submit_response", submit(client, sandbox, {"resolution": "meh"}).get_json())
    out["saved"] = ("submit_response", submit(client, sandbox, {"verdict": "right", "resolution": intercom.UNSET,
                                                                 "missing_knowledge": "x"}).get_json())
    out["not installed"] = ("initialize_response", post(client, "/apps/intercom/canvas/initialize",
                                                        sample("initialize_request", workspace_id="nope")).get_json())
    decide(store, inst, ticket="777", quote="Q" * 70_000, reasons=50)
    out["shrunk"] = ("initialize_response", initialize(client, sandbox, ticket="777").get_json())
    return out


def test_every_canvas_baton_answers_matches_the_published_schema(client, store, sandbox, inst):  # noqa: F811
    for label, (schema, canvas) in canvases(client, store, sandbox, inst).items():
        validate(canvas, schema)
        strictly(canvas)
        assert intercom.canvas_size(canvas) <= intercom.MAX_CANVAS_BYTES, label
        ids = [c["id"] for c in canvas["canvas"]["content"]["components"] if "id" in c]
        assert len(ids) == len(set(ids)), f"{label}: component ids repeat"


def test_the_sandbox_sends_the_documented_canvas_kit_requests(sandbox):  # noqa: F811
    """The sandbox's requests, as Intercom's schema has them; the conversation and the contact are
    the sandbox API's own records (tested in test_sandbox.py), so the documented ones stand in."""
    sandbox.register_app(AppRegistration("id", "secret", "Baton", "https://b/i", ("https://b/cb",), "https://b/ini",
                                         "https://b/sub"))
    contact = sandbox.add_contact("Ann", "ann@acme.test")
    cid = sandbox.start_conversation(contact["id"], "hello")["id"]
    agent = sandbox.add_admin("Sam", "sam@yourco.example", team_ids=[sandbox.add_team("Billing")["id"]])["id"]
    canvas = {"content": {"components": [{"type": "text", "text": "hi"}]}, "stored_data": {"k": "v"}}
    documented = {k: sample("submit_request")[k] for k in ("conversation", "contact", "user")}
    initialize_request = sandbox.initialize_request(cid, agent)
    validate({**initialize_request, **{k: documented[k] for k in ("conversation", "contact")}}, "initialize_request")
    submit_request = sandbox.submit_request(cid, agent, "save", {"x": "y"}, canvas)
    validate({**submit_request, **documented}, "submit_request")
    assert submit_request["current_canvas"]["current_canvas"] == canvas
    body = json.dumps(initialize_request).encode()
    assert sandbox.canvas_headers(body)["X-Body-Signature"] == intercom.sign("secret", body)
