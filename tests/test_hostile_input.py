"""Hostile and odd input answers 4xx, never 5xx, and loses nothing: the webhook tier and every
connector's parser, with the inputs that once answered 500 and with Hypothesis-made ones
(arbitrary bytes, deep nesting, wrong types at every path of the vendors' own payloads)."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from integration.core.contract import Ignored, NotOurs
from integration.core.model import Event, Installation
from integration.service.settings import Settings
from integration.service.store import events
from integration.service.web import create_app

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s" * 48
SETTINGS = {"api_user_id": "900", "app_id": "sbx12345"}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


def fixtures(key: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((ROOT / "connectors" / key / "fixtures").glob("*.json"))]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, prefix + (i,))
    return out


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def installation(key: str) -> Installation:
    return Installation("inst1", key, "https://acme.example", {}, SECRET, SETTINGS)


@pytest.mark.parametrize("key", connectors.KEYS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_vendor_payload_with_any_field_changed_parses_or_is_refused(key, data):
    """Every path of every published fixture, replaced by any JSON value: an Event, Ignored or
    NotOurs, never another exception."""
    doc = data.draw(st.sampled_from(fixtures(key)))
    path = data.draw(st.sampled_from(paths(doc)))
    body = json.dumps(replaced(doc, path, data.draw(JSON))).encode()
    try:
        ev = connectors.get(key).parse(body, installation(key))
    except (Ignored, NotOurs):
        return
    assert isinstance(ev, Event) and canonical_id(key, ev.ticket_id)


def canonical_id(key: str, ticket: str) -> bool:
    """Ticket numbers without leading zeros; Freshchat's conversation ids are UUIDs (or 32 hex
    digits), lower-case."""
    if key == "freshchat":
        return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", ticket) is not None
    return ticket.isdigit() and not ticket.startswith("0")


@pytest.mark.parametrize("key", connectors.KEYS)
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_as_not_the_helpdesks(key, body):
    with pytest.raises((Ignored, NotOurs)):
        connectors.get(key).parse(body, installation(key))


@pytest.fixture
def web(store):
    # a helpdesk that signs with a private key (Freshchat) has Baton keep the public half
    insts = {key: store.installations.add(key, "https://acme.example", {}, settings=SETTINGS,
                                          webhook_secret=connectors.driver(key).stored_secret(SECRET))
             for key in connectors.KEYS}
    queued: list[int] = []

    class Queue:
        def enqueue_event(self, event_id: int, installation: str | None = None) -> None:
            queued.append(event_id)

        def ping(self) -> None:
            pass

    app = create_app(Settings(database_url=store.url), store=store, queue=Queue())
    return store, insts, app.test_client(), queued


def post(web, key: str, body: bytes):  # type: ignore[no-untyped-def]
    store, insts, client, _ = web
    headers = connectors.driver(key)().auth(insts[key], body)
    return client.post(f"/webhooks/{key}/{insts[key].id}", data=body,
                       headers={"Content-Type": "application/json", **headers})


def fixture(key: str, name: str) -> dict[str, Any]:
    return json.loads((ROOT / "connectors" / key / "fixtures" / f"{name}.json").read_text())


DEEP = b"[" * 5000 + b"]" * 5000
ZENDESK = fixture("zendesk", "ticket_comment_added")
FRESHDESK_UPDATE = fixture("freshdesk", "on_ticket_update")
FRESHDESK_NOTE = fixture("freshdesk", "on_conversation_create")
INTERCOM = fixture("intercom", "conversation_user_replied")
FRESHCHAT = fixture("freshchat", "message_create_user")

HOSTILE = [
    ("zendesk", DEEP, 400),  # nested deeper than 64 levels (S6)
    ("zendesk", b"not json at all", 415),
    ("zendesk", json.dumps({**ZENDESK, "detail": "5158"}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": "1001.0"}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": -1}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": 10**30}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": [1001]}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": "1001/../../users/me"}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "detail": {"id": "10\u000001"}}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "id": "x" * 300}).encode(), 400),
    ("zendesk", json.dumps({**ZENDESK, "id": "evt\u0000-1"}).encode(), 400),
    ("freshdesk", DEEP, 400),
    ("freshdesk", json.dumps({**FRESHDESK_UPDATE, "timestamp": 1e20}).encode(), 200),
    ("freshdesk", json.dumps({**FRESHDESK_UPDATE, "timestamp": float("nan")}).encode(), 200),
    ("freshdesk", json.dumps({**FRESHDESK_UPDATE, "data": {**FRESHDESK_UPDATE["data"], "actor": [1, 2]}}).encode(), 200),
    ("freshdesk", json.dumps({**FRESHDESK_UPDATE, "data": {**FRESHDESK_UPDATE["data"], "ticket": {
        **FRESHDESK_UPDATE["data"]["ticket"], "changes": {"status": 5}}}}).encode(), 200),
    ("freshdesk", json.dumps({**FRESHDESK_UPDATE, "data": {**FRESHDESK_UPDATE["data"], "ticket": {
        **FRESHDESK_UPDATE["data"]["ticket"], "changes": ["status"]}}}).encode(), 200),
    ("freshdesk", json.dumps({**FRESHDESK_NOTE, "data": {"conversation": "x"}}).encode(), 400),
    ("intercom", json.dumps({**INTERCOM, "created_at": 1e20}).encode(), 200),
    ("intercom", json.dumps({**INTERCOM, "data": {"item": [1, 2]}}).encode(), 400),
    ("intercom", json.dumps({**INTERCOM, "data": {"item": {"id": {"nested": 1}}}}).encode(), 400),
    ("freshchat", DEEP, 400),
    ("freshchat", json.dumps({**FRESHCHAT, "data": {"message": {**FRESHCHAT["data"]["message"],
                                                                  "conversation_id": "../../agents"}}}).encode(), 400),
    ("freshchat", json.dumps({**FRESHCHAT, "data": {"message": {**FRESHCHAT["data"]["message"],
                                                                  "conversation_id": 7}}}).encode(), 400),
    ("freshchat", json.dumps({**FRESHCHAT, "data": {"message": {**FRESHCHAT["data"]["message"], "id": "m\u0000"}}}).encode(), 400),
    ("freshchat", json.dumps({**FRESHCHAT, "action_time": 1e20, "data": {"message": {
        **FRESHCHAT["data"]["message"], "created_time": 1e20}}}).encode(), 200),
    ("freshchat", json.dumps({**FRESHCHAT, "actor": [1, 2]}).encode(), 200),
]


@pytest.mark.parametrize("key, body, status", HOSTILE, ids=range(len(HOSTILE)))
def test_inputs_that_once_answered_5xx_get_a_4xx_or_are_handled(web, key, body, status):
    r = post(web, key, body)
    assert r.status_code == status, r.json
    if status >= 400:
        assert web[0].rows(events) == []


def test_an_id_with_leading_zeros_is_the_same_conversation(web):
    store, insts, client, queued = web
    for n, ticket in enumerate(("1004", "01004", 1004)):
        body = json.dumps({**ZENDESK, "id": f"evt-{n}", "detail": {**ZENDESK["detail"], "id": ticket}}).encode()
        assert post(web, "zendesk", body).status_code == 200
    assert {e["ticket_id"] for e in store.rows(events)} == {"1004"}


@pytest.mark.parametrize("key", connectors.KEYS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_web_tier_never_answers_5xx_to_a_signed_mutated_payload(web, key, data):
    doc = data.draw(st.sampled_from(fixtures(key)))
    path = data.draw(st.sampled_from(paths(doc)))
    mutated = replaced(doc, path, data.draw(JSON))
    if key == "intercom" and isinstance(mutated, dict):
        mutated["app_id"] = SETTINGS["app_id"]  # the workspace check comes before parsing; reach the parser
    r = post(web, key, json.dumps(mutated).encode())
    assert r.status_code < 500, r.json


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(installation_id=st.text(max_size=80), body=st.binary(max_size=100))
def test_the_web_tier_never_answers_5xx_to_anything_unauthenticated(web, installation_id, body):
    from urllib.parse import quote

    r = web[2].post(f"/webhooks/zendesk/{quote(installation_id, safe='')}", data=body)
    assert r.status_code < 500


def test_timestamps_far_in_the_future_are_kept_out_not_fatal():
    ev = connectors.get("freshdesk").parse(json.dumps({**FRESHDESK_UPDATE, "timestamp": 1e20}).encode(),
                                           installation("freshdesk"))
    assert ev.occurred_at is None


def test_freshworks_product_events_carry_milliseconds():
    """FDK product events put ``timestamp`` in milliseconds (Freshworks' sample apps' test data)."""
    body = json.dumps({**FRESHDESK_UPDATE, "timestamp": 1763652011500}).encode()
    assert FRESHDESK_UPDATE["timestamp"] == 1763652011500  # the fixture is in the published shape
    ev = connectors.get("freshdesk").parse(body, installation("freshdesk"))
    assert ev.occurred_at == datetime(2025, 11, 20, 15, 20, 11, 500000, tzinfo=timezone.utc)


# Nesting: every parse of an untrusted body refuses JSON nested deeper than 64 levels with a 400
# (connectors.base.json_value), decided by a scan before parsing; JSON within the limit parses as
# json.loads would, and text that is not JSON is a 415.

from connectors.base import MAX_JSON_DEPTH, json_value  # noqa: E402
from integration.core.contract import NotJson  # noqa: E402

TRICKY = st.text(alphabet='[]{}"\\/ab,:é\n\u2028', max_size=10)  # brackets, quotes and escapes in strings
FLAT = st.none() | st.booleans() | st.integers() | TRICKY
SHALLOW = st.recursive(FLAT, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
                       max_leaves=6)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def nested(levels: int, inner: Any = 0, kinds: str = "[") -> Any:
    """``inner`` inside ``levels`` arrays and objects (``kinds`` cycled: ``[`` an array, ``{`` an object)."""
    for i in range(levels):
        inner = [inner] if kinds[i % len(kinds)] == "[" else {"k": inner}
    return inner


@settings(max_examples=300, deadline=None)
@given(levels=st.integers(0, 80), inner=SHALLOW, siblings=st.lists(SHALLOW, max_size=3), keys=st.lists(TRICKY, max_size=80),
       kinds=st.text(alphabet="[{", min_size=1, max_size=5), ascii_only=st.booleans())
def test_json_deeper_than_64_levels_is_refused_and_any_other_parses_as_json_would(levels, inner, siblings, keys, kinds,
                                                                                    ascii_only):
    value = inner
    for i in range(levels):  # each level an array or an object, with siblings full of brackets and quotes
        value = [*siblings, value] if kinds[i % len(kinds)] == "[" else {**{k: s for k, s in zip(keys, siblings)},
                                                                          (keys[i] if i < len(keys) else "") + "#": value}
    text = json.dumps(value, ensure_ascii=ascii_only)
    body = text.encode() if levels % 2 else text
    if depth(value) > MAX_JSON_DEPTH:
        with pytest.raises(NotOurs) as refused:
            json_value(body)
        assert not isinstance(refused.value, NotJson) and "deeper than 64" in str(refused.value)
    else:
        assert json_value(body) == value


def reachable_depth(text: str) -> int:
    """How deep a JSON parser can get in ``text`` before its brackets stop making sense: arrays and
    objects opened and not yet closed, strings and escapes as JSON reads them, up to the first
    bracket that closes nothing or closes the wrong kind, or a backslash outside a string. Bytes
    that are not UTF-8 (``\udcff`` here) are refused before any parsing."""
    if "\udcff" in text:
        return 0
    deepest, opened, in_string, escaped = 0, [], False, False
    for ch in text:
        if in_string:
            in_string, escaped = (True, False) if escaped else (ch != '"', ch == "\\")
        elif ch == '"':
            in_string = True
        elif ch == "\\":
            break
        elif ch in "[{":
            opened.append(ch)
            deepest = max(deepest, len(opened))
        elif ch in "]}":
            if not opened or opened.pop() != "[{"["]}".index(ch)]:
                break
    return deepest


PIECES = st.sampled_from(['[', ']', '{', '}', '"', '\\', '\\"', '\\\\', ',', '0', ':', ' ', '[' * 30, ']' * 30,
                          '{"a":' * 20, '}' * 20, '"[[[["', '"\\"[["', '\udcff'])


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(PIECES, max_size=40))
def test_no_text_gets_a_parser_deeper_than_64_levels_and_nothing_else_escapes(pieces):
    """Any text: a value, NotJson or NotOurs, nothing else; and whatever nests deeper than 64
    levels before it stops making sense is refused before a parser ever sees it."""
    text = "".join(pieces)
    try:
        value = json_value(text.encode("utf-8", "surrogateescape"))
    except NotOurs as e:
        refused = not isinstance(e, NotJson)
    else:
        refused = False
        assert value == json.loads(text)
    if reachable_depth(text) > MAX_JSON_DEPTH:
        assert refused


def test_nesting_of_exactly_64_levels_is_json_and_65_is_refused():
    for kinds in ("[", "{", "[{", "{["):
        assert json_value(json.dumps(nested(64, "x", kinds))) == nested(64, "x", kinds)
        with pytest.raises(NotOurs, match="deeper than 64"):
            json_value(json.dumps(nested(65, "x", kinds)))
    assert json_value(b'{"a": "' + b"[" * 10_000 + b'"}') == {"a": "[" * 10_000}  # inside a string: text
    assert json_value(b'["\\\\", [["\\"[[["]]]') == ["\\", [['"[[[']]]


# Every public webhook route answers a hostile body with a 4xx: 400 for nesting past 64 levels and
# for a JSON value that is not an object, 415 for bytes that are not JSON (not UTF-8); 401 when the
# signature is missing on a route that checks it before reading the body. Never a 5xx.

MIB = 1024 * 1024
HOSTILE_BODIES = [
    ("brackets", b"[" * 100_000, 400),
    ("closed brackets", b"[" * 300_000 + b"]" * 300_000, 400),
    ("objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400),
    ("65 levels", json.dumps(nested(65, 1, "{[")).encode(), 400),
    ("huge array", b"[" + b"0," * (MIB // 2 - 8) + b"0]", 400),
    ("huge array of arrays", b"[" + b"[]," * (MIB // 3 - 4) + b"[]]", 400),
    ("invalid UTF-8", b'{"id": "\xff\xfe", "app_id": "sbx12345"}', 415),
    ("UTF-8 cut short", b'{"id": "\xe2\x82"}', 415),
]


def _routes(web) -> list[tuple[str, str]]:
    return [(key, f"/webhooks/{key}/{web[1][key].id}") for key in connectors.KEYS] + [("intercom", "/webhooks/intercom")]


def _signed_answer(key: str, url: str, status: int) -> int:
    """What a signed delivery of a body that parse answers ``status`` to gets: an Intercom
    installation's own URL checks the body's workspace with the signature, so an unreadable body
    there is a 401."""
    return 401 if status >= 400 and key == "intercom" and url != "/webhooks/intercom" else status


def _deep_in(key: str, levels: int) -> bytes:
    """A published fixture of ``key`` with one more field nested ``levels`` deep."""
    doc = json.dumps({**fixtures(key)[0], "app_id": SETTINGS["app_id"], "baton_extra": 0})
    inner = "".join("[" if i % 2 else '{"k":' for i in range(levels - 1))  # as text: json.dumps stops at ~1000
    closing = "".join("]" if i % 2 else "}" for i in reversed(range(levels - 1)))
    return doc.replace('"baton_extra": 0', f'"baton_extra": {inner}1{closing}').encode()


@pytest.mark.parametrize("name, body, status", HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES])
def test_every_webhook_route_refuses_a_hostile_body_with_a_4xx(web, name, body, status):
    store, insts, client, queued = web
    for key, url in _routes(web):
        signed = connectors.driver(key)().auth(insts[key], body)
        r = client.post(url, data=body, headers={"Content-Type": "application/json", **signed})
        assert r.status_code == _signed_answer(key, url, status), (url, r.status_code, r.get_json())
        unsigned = client.post(url, data=body, headers={"Content-Type": "application/json"})
        # /webhooks/intercom reads the workspace from the body before any signature can be checked
        assert unsigned.status_code == (status if url == "/webhooks/intercom" else 401), (url, unsigned.get_json())
    assert store.rows(events) == [] and queued == []


@pytest.mark.parametrize("levels, status", [(64, 200), (65, 400), (2000, 400)])
def test_a_vendor_payload_nested_past_64_levels_is_refused_and_one_within_is_read(web, levels, status):
    store, insts, client, _ = web
    for key, url in _routes(web):
        body = _deep_in(key, levels)
        r = client.post(url, data=body, headers={"Content-Type": "application/json",
                                                 **connectors.driver(key)().auth(insts[key], body)})
        assert r.status_code == _signed_answer(key, url, status), (url, r.get_json())
        assert r.status_code != 400 or "deeper than 64" in r.get_json()["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_nesting_and_junk_on_any_webhook_route_is_never_a_5xx(web, data):
    store, insts, client, _ = web
    key, url = data.draw(st.sampled_from(_routes(web)))
    body = "".join(data.draw(st.lists(PIECES, max_size=60))).encode("utf-8", "surrogateescape")
    if data.draw(st.booleans()):
        body = _deep_in(key, data.draw(st.integers(1, 3000)))
    signed = connectors.driver(key)().auth(insts[key], body) if data.draw(st.booleans()) else {}
    r = client.post(url, data=body, headers={"Content-Type": "application/json", **signed})
    assert r.status_code < 500, r.get_json()


# The apps' endpoints parse their bodies (and Zendesk's sign-in token) by the same rule.

APP_SECRET = "intercom-client-secret"


@pytest.fixture
def apps_web(store):
    from cryptography.fernet import Fernet

    from integration.service.apps.freshdesk import issue_key

    settings_ = Settings(database_url=store.url, secret_key=Fernet.generate_key().decode(), intercom_client_id="ic", intercom_client_secret=APP_SECRET,
                         public_url="https://baton.example", zendesk_app_id="123", zendesk_client_id="zc",
                         zendesk_client_secret="zs")
    fresh = store.installations.add("freshdesk", "https://acme.freshdesk.com", {"api_key": "k"})
    key, change = issue_key(fresh.id)
    store.installations.change_settings(fresh.id, change, "test")

    class Queue:
        def enqueue_event(self, event_id: int, installation: str | None = None) -> None:
            pass

        def ping(self) -> None:
            pass

    return create_app(settings_, store=store, queue=Queue()).test_client(), key


DEEP_BODIES = [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
               json.dumps({"workspace_id": "w", "admin": {"id": "1"}, "app_id": "w", "domain": "acme.freshdesk.com",
                           "path": "/console/", "user": {"id": 1}, "x": nested(65)}).encode()]


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["brackets", "objects", "65 levels in a real request"])
def test_the_apps_endpoints_refuse_a_deeply_nested_body_with_a_400(apps_web, body):
    from connectors.freshdesk.app import API_KEY_HEADER, KEY_HEADER
    from connectors.intercom import app as intercom

    client, key = apps_web
    signed = {intercom.SIGNATURE: intercom.sign(APP_SECRET, body), "Content-Type": "application/json"}
    for path in ("/apps/intercom/canvas/initialize", "/apps/intercom/canvas/submit", "/apps/intercom/uninstall"):
        assert client.post(path, data=body, headers=signed).status_code == 400, path
        assert client.post(path, data=body, headers={"Content-Type": "application/json"}).status_code == 401, path
    r = client.post("/apps/freshdesk/install", data=body, headers={"Content-Type": "application/json", API_KEY_HEADER: "k"})
    assert r.status_code == 400 and "deeper than 64" in r.get_json()["error"]
    r = client.post("/apps/freshdesk/page", data=body, headers={"Content-Type": "application/json", KEY_HEADER: key})
    assert r.status_code == 400 and "deeper than 64" in r.get_json()["error"]


@pytest.mark.parametrize("segment", [0, 1])
def test_a_zendesk_sign_in_token_nested_too_deep_is_refused_as_a_sign_in(apps_web, segment):
    """Zendesk's signed load carries a JWT whose header and claims PyJWT parses before any key is
    fetched: nested 2,000 deep, it once answered 500 to anyone."""
    import base64

    client, _ = apps_web

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    parts = [b64(b'{"alg": "RS256", "typ": "JWT"}'), b64(b'{"iss": "acme.zendesk.com"}'), "c2ln"]
    parts[segment] = b64(b"[" * 2000 + b"]" * 2000)
    for location in ("nav_bar", "ticket_sidebar"):
        r = client.post(f"/apps/zendesk/{location}", data={"token": ".".join(parts)})
        assert r.status_code == 401, r.get_data(as_text=True)[-300:]


def test_freshdesk_app_user_ids_and_zendesk_timestamps_in_other_digits_are_refused_not_fatal():
    """``"²".isdigit()`` is true and ``int("²")`` raises: such ids and timestamps are simply not numbers."""
    from connectors.freshdesk.app import user_id
    from connectors.zendesk.webhook import _parse_timestamp

    assert user_id({"id": "²"}) is None and user_id({"id": "١٢"}) is None and user_id({"id": "12"}) == "12"
    assert _parse_timestamp("²") is None and _parse_timestamp("9" * 5000) is None
    assert _parse_timestamp("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_a_zendesk_signature_timestamp_in_other_digits_is_a_401(web):
    store, insts, client, _ = web
    body = json.dumps(ZENDESK).encode()
    for stamp in ("²", "9" * 5000):
        r = client.post(f"/webhooks/zendesk/{insts['zendesk'].id}", data=body,
                        headers={"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": "x",
                                 "X-Zendesk-Webhook-Signature-Timestamp": stamp})
        assert r.status_code == 401, r.get_json()
