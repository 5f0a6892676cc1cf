"""Whatever a console URL carries (a number in its query string, an id in its path, any text), the
console answers 2xx, 3xx or 4xx, never 5xx, on SQLite and on PostgreSQL (issue 18). A version
number that cannot exist is a 404 "No such version", never an OverflowError or a DataError from the
database (PostgreSQL's INTEGER ends at 2**31 - 1, SQLite's at 2**63 - 1, Python's int nowhere)."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.service.console import ID_MAX, whole_number
from integration.service.settings import Settings
from integration.service.web import create_app
from tests.test_console import KEY, NoQueue, decided, session

# the numbers that once broke a page, and their neighbours
EDGE_NUMBERS = ["-1", "0", "1", "2", "3", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
                "1" * 20, "9" * 5000, "-" + "9" * 30, "²", "١٢", "٣", " 2", "2 ", "1_000", "+1", "1e3", "0x10", "nan",
                "inf", "", "02", "1.0"]
NUMBERS = st.integers(-10**30, 10**30).map(str) | st.sampled_from(EDGE_NUMBERS)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # what a URL can carry (no lone surrogates)
VALUES = NUMBERS | TEXT
# every query argument a console page reads, and some it does not
QUERY_NAMES = st.sampled_from(["a", "b", "n", "since", "table", "action", "category", "ticket", "published", "saved",
                               "retried", "fmt", "page", "limit"]) | st.text("abcnt", min_size=1, max_size=6)
SLOW = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def console(store):
    """An installation with three published versions (1: as installed, 2 and 3), a draft and a
    decided conversation, and an admin's session."""
    app = create_app(Settings(database_url=store.url, secret_key=KEY, public_url="https://baton.example",
                              intercom_client_id="ic", intercom_client_secret="is", zendesk_app_id="1",
                              zendesk_client_id="zc", zendesk_client_secret="zs"), store=store, queue=NoQueue())
    inst = store.installations.add("zendesk", "https://a.zendesk.com", {"token": "x"})
    store.rules.publish(inst.id, {"sentiment": {"threshold": 0.5}}, "Ada", "first")
    store.rules.publish(inst.id, {"sentiment": {"threshold": 0.6}}, "Ada", "second")
    store.rules.save_draft(inst.id, {"sentiment": {"threshold": 0.7}}, "Ada")
    decided(store, inst, "101", "I want a human now, this is the third time", ("bot", "Let me help"))
    token, csrf = session(app, inst)
    return app, inst, token, csrf


def pages(app) -> list:
    """Every page of the console and the panel a GET reaches (their blueprint's rules)."""
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint.startswith("console.") and r.endpoint != "console.static" and "GET" in r.methods),
                  key=lambda r: r.rule)


def path_of(rule, values) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: quote(values[m.group(1)], safe=""), rule.rule)


def version_of(raw: str, store, inst) -> bool:
    """Whether ``raw`` names a version the installation has (the oracle: digits, then the store)."""
    return raw.isascii() and raw.isdigit() and raw.lstrip("0") in {str(v["number"]) for v in store.rules.versions(inst.id)}


def test_the_pages_under_test_are_every_console_page(console):
    app = console[0]
    assert {r.endpoint for r in pages(app)} >= {
        "console.overview", "console.roster", "console.activity", "console.panel", "console.rules", "console.preview",
        "console.preview_one", "console.versions", "console.calibration", "console.analytics_page",
        "console.analytics_csv", "console.knowledge_export"}


@settings(max_examples=150, **SLOW)
@given(data=st.data())
def test_any_query_string_and_path_on_any_console_page_is_never_a_5xx(console, data):
    app, _, token, _ = console
    rule = data.draw(st.sampled_from(pages(app)), label="page")
    path = path_of(rule, {name: data.draw(VALUES, label=name) for name in rule.arguments})
    query = data.draw(st.dictionaries(QUERY_NAMES, VALUES, max_size=4), label="query")
    r = app.test_client().get(path, query_string={**query, "s": token})
    assert 200 <= r.status_code < 500, (path, query, r.status_code, r.get_data(as_text=True)[-400:])


@settings(max_examples=80, **SLOW)
@given(a=VALUES, b=VALUES)
def test_comparing_any_two_versions_shows_the_diff_or_says_no_such_version(console, store, a, b):
    app, inst, token, _ = console
    r = app.test_client().get("/console/versions", query_string={"s": token, "a": a, "b": b})
    if version_of(a, store, inst) and version_of(b, store, inst):
        assert r.status_code == 200 and "Version" in r.get_data(as_text=True)
    elif (a and not version_of(a, store, inst)) or (b and not version_of(b, store, inst)):
        assert r.status_code in (400, 404), r.status_code  # 400: a NUL character, refused before any page
    else:
        assert r.status_code == 200


@settings(max_examples=80, **SLOW)
@given(number=VALUES)
def test_rolling_back_to_any_path_id_rolls_back_or_says_no_such_version(console, store, number):
    app, inst, token, csrf = console
    exists = version_of(number, store, inst)  # each rollback publishes one more version
    r = app.test_client().post(f"/console/versions/{quote(number, safe='')}/rollback", data={"s": token, "csrf": csrf})
    if exists:
        assert r.status_code == 303
    elif "\x00" in number and "/" not in number:
        assert r.status_code == 400  # refused before any page, as in a query string
    elif number and "/" not in number and number not in (".", ".."):
        assert r.status_code == 404, (number, r.status_code)
    else:  # not one path segment: no such page, or the router's own redirect
        assert 300 <= r.status_code < 500, (number, r.status_code)


@pytest.mark.parametrize("a, b", [("-1", "9" * 20), ("1", "9" * 20), ("2147483648", "1"), ("9223372036854775808", "2"),
                                  ("1", "abc"), ("²", "1"), ("-0", "1"), ("4", "1")])
def test_versions_that_cannot_exist_are_404_not_500(console, a, b):
    """``/console/versions?a=-1&b=<20 digits>`` was an OverflowError from SQLite, and any number
    past 2**31 - 1 a DataError from PostgreSQL."""
    app, _, token, _ = console
    r = app.test_client().get("/console/versions", query_string={"s": token, "a": a, "b": b})
    assert r.status_code == 404 and "No such version" in r.get_data(as_text=True)


@pytest.mark.parametrize("number", ["9" * 20, "2147483648", "9223372036854775808", "0", "4", "٣", "1e3"])
def test_rolling_back_to_a_version_that_cannot_exist_is_404_not_500(console, store, number):
    app, inst, token, csrf = console
    r = app.test_client().post(f"/console/versions/{quote(number)}/rollback", data={"s": token, "csrf": csrf})
    assert r.status_code == 404 and "No such version" in r.get_data(as_text=True)
    assert len(store.rules.versions(inst.id)) == 3  # nothing published


def test_an_existing_version_still_compares_and_rolls_back(console, store):
    app, inst, token, csrf = console
    client = app.test_client()
    page = client.get("/console/versions", query_string={"s": token, "a": "2", "b": "3", "published": "9" * 30})
    assert page.status_code == 200 and "0.6" in page.get_data(as_text=True)
    assert "is live" not in page.get_data(as_text=True)  # a ?published= that is no version is not announced
    r = client.post("/console/versions/2/rollback", data={"s": token, "csrf": csrf})
    assert r.status_code == 303 and store.rules.versions(inst.id)[0]["comment"] == "rollback to version 2"


@pytest.mark.parametrize("path", ["/console/preview/a%00b", "/console/preview/%00", "/console/knowledge.%00"])
def test_a_nul_character_in_a_path_id_is_refused_like_one_in_a_query(console, path):
    """PostgreSQL cannot compare text holding NUL: a ticket id with one in the path was a 500 there."""
    app, _, token, _ = console
    assert app.test_client().get(path, query_string={"s": token}).status_code == 400


@pytest.mark.parametrize("n", ["9" * 5000, "-5", "²", "1e3", "", "0", "10000000000"])
def test_the_preview_takes_any_count_and_replays_a_sensible_number(console, n):
    app, _, token, _ = console
    assert app.test_client().get("/console/preview", query_string={"s": token, "n": n}).status_code == 200


@pytest.mark.parametrize("raw, number", [("1", 1), ("2147483647", ID_MAX), ("2147483648", None), ("0", None),
                                         ("-1", None), ("²", None), (" 1", None), ("1_0", None), ("9" * 5000, None),
                                         ("", None), (None, None), ("007", 7)])
def test_whole_number_takes_ascii_digits_within_the_columns_range_only(raw, number):
    assert whole_number(raw) == number


APP_PAGES = ["/apps/zendesk/connect", "/apps/zendesk/oauth/callback", "/apps/intercom/install",
             "/apps/intercom/oauth/callback", "/apps/zendesk/launch.js"]


@settings(max_examples=60, **SLOW)
@given(path=st.sampled_from(APP_PAGES), query=st.dictionaries(
    st.sampled_from(["state", "code", "error", "region", "host"]) | TEXT, VALUES, max_size=4))
def test_any_query_string_on_the_apps_pages_is_never_a_5xx(console, path, query):
    """The apps' GET pages (OAuth starts and callbacks) read only strings, checked before use: none
    of it reaches a helpdesk, since no state Baton did not sign gets that far."""
    r = console[0].test_client().get(path, query_string=query)
    assert r.status_code < 500, (path, query, r.status_code)
