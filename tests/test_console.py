"""The console and the agent panel through Flask's test client, on SQLite and PostgreSQL:
sessions and roles, CSRF, one tenant never reaching another, the rules form (every rule, errors
beside their field), drafts, preview, publish, versions, diff, rollback, feedback."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.fernet import Fernet
from sqlalchemy import insert

from integration.core.codec import conversation_to_json
from integration.core.engine import evaluate
from integration.core.model import Customer, Role
from integration.core.rules import load_rules
from integration.service.console.session import Identity, csrf_token, issue
from integration.service.settings import Settings
from integration.service.store import decisions, utcnow
from integration.service.web import create_app
from tests.builders import conv

KEY = Fernet.generate_key().decode()


class NoQueue:
    def enqueue_event(self, event_id, installation=None):
        pass

    def ping(self):
        pass


class Form(HTMLParser):
    """What a browser would submit for the first form with ``form_id`` on a page."""

    def __init__(self, html: str, form_id: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self._in, self._area, self._select, self._id = False, None, None, form_id
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in = a.get("id") == self._id
        if not self._in:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.values[a["name"]] = "on"
            else:
                self.values[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._area = a["name"]
            self.values[self._area] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a["value"]

    def handle_endtag(self, tag):
        if tag == "form":
            self._in = False
        elif tag == "textarea":
            self._area = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._area:
            self.values[self._area] += data


@pytest.fixture
def console(store):
    app = create_app(Settings(database_url=store.url, secret_key=KEY), store=store, queue=NoQueue())
    a = store.installations.add("zendesk", "https://a.zendesk.com", {"token": "x"})
    b = store.installations.add("zendesk", "https://b.zendesk.com", {"token": "y"})
    return app, a, b


def session(app, inst, role="admin", name="Ada"):
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "7", name, role, "zendesk"))
    return token, csrf_token(app.config["SECRET_KEY"], token)


def decided(store, inst, ticket, *turns, customer=None):
    """A conversation Baton decided on, kept as the pipeline keeps it."""
    c = conv(*turns, customer=customer or Customer())
    c = type(c)(ticket, c.messages, c.customer, subject=f"ticket {ticket}")
    d = evaluate(c)
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst.id, ticket_id=ticket, action=d.action.value, priority=d.priority.value,
            category=d.category, tier=d.tier, reasons=[{"code": r.code, "summary": r.summary, "evidence": []}
                                                        for r in d.reasons],
            explanation=d.explanation, created_at=utcnow(), conversation=conversation_to_json(c)))
    return d


def rules_form(client, token):
    r = client.get("/console/rules", query_string={"s": token})
    assert r.status_code == 200
    return Form(r.get_data(as_text=True), "rules-form").values


# sessions, roles, CSRF, tenants

def test_no_console_page_without_a_session_baton_issued(console):
    app, a, _ = console
    client = app.test_client()
    assert client.get("/console/").status_code == 401
    assert client.get("/console/", query_string={"s": "forged.token.value"}).status_code == 401
    other = issue("another-secret", Identity(a.id, "7", "Eve", "admin", "zendesk"))
    assert client.get("/console/", query_string={"s": other}).status_code == 401
    token, _ = session(app, a)
    assert client.get("/console/", query_string={"s": token}).status_code == 200


def test_an_expired_session_is_refused(console, monkeypatch):
    app, a, _ = console
    token, _ = session(app, a)
    from integration.service.console import session as sessions
    monkeypatch.setattr(sessions, "SESSION_SECONDS", -1)
    r = app.test_client().get("/console/", query_string={"s": token})
    assert r.status_code == 401 and "expired" in r.get_data(as_text=True)


def test_agents_get_the_panel_not_the_console(console):
    app, a, _ = console
    token, csrf = session(app, a, role="agent")
    client = app.test_client()
    assert client.get("/console/", query_string={"s": token}).status_code == 403
    assert client.post("/console/rules", data={"s": token, "csrf": csrf}).status_code == 403
    assert client.get("/panel", query_string={"s": token, "ticket": "1"}).status_code == 200


def test_every_form_needs_its_csrf_token(console):
    app, a, _ = console
    token, csrf = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    del form["csrf"]
    assert client.post("/console/rules", data=form).status_code == 403
    assert client.post("/console/rules", data={**form, "csrf": "0" * 40}).status_code == 403
    _, other_csrf = session(app, a, name="Bob")  # another session's token does not fit this one
    assert client.post("/console/rules", data={**form, "csrf": other_csrf}).status_code == 403
    assert client.post("/console/retry", data={"s": token}).status_code == 403
    assert client.post("/panel/feedback", data={"s": token, "ticket": "1", "verdict": "right"}).status_code == 403
    assert client.post("/console/rules", data={**form, "csrf": csrf}).status_code == 303


def test_an_admin_of_one_installation_never_sees_or_changes_another(console, store):
    app, a, b = console
    decided(store, b, "900", "I want to talk to a human right now")
    token, csrf = session(app, a)
    client = app.test_client()
    activity = client.get("/console/activity", query_string={"s": token}).get_data(as_text=True)
    assert "900" not in activity
    panel = client.get("/panel", query_string={"s": token, "ticket": "900"}).get_data(as_text=True)
    assert "Baton has not decided on this ticket yet" in panel  # B's decision on its ticket 900 stays B's
    form = rules_form(client, token)
    form["sentiment.threshold"] = "0.9"
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    assert store.rules.draft(a.id) is not None and store.rules.draft(b.id) is None
    client.post("/console/publish", data={"s": token, "csrf": csrf, "comment": "A only"})
    assert store.installations.get(b.id).rules == {} and store.rules.versions(b.id) == []


def test_an_uninstalled_account_has_no_console(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    store.lifecycle.uninstall(a.id, "Zendesk")
    assert app.test_client().get("/console/", query_string={"s": token}).status_code == 403


# the rules form

def test_the_form_shows_every_rule_and_saving_it_unchanged_keeps_the_rules(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    for name in ("sentiment.threshold", "sentiment.action", "loop.rephrases", "segment.tiers", "repeat_contact.days",
                 "bot_confidence.threshold", "language.bot_languages", "model.enabled", "routing.default_group",
                 "routing.min_samples", "scope.channels", "topics[0].phrases", "topics[0].__key__"):
        assert name in form or name == "model.enabled", name
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    assert load_rules(store.rules.draft(a.id)["rules"]) == load_rules(None)


def test_an_invalid_value_is_refused_with_the_error_beside_its_field(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form["sentiment.threshold"] = "1.7"
    form["loop.rephrases"] = "two"
    r = client.post("/console/rules", data={**form, "then": "stay"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and store.rules.draft(a.id) is None
    errors = dict(re.findall(r'id="([\w-]+)-error" role="alert">([^<]+)<', page))
    assert "between 0 and 1" in errors["sentiment-threshold"]
    assert "whole number" in errors["loop-rephrases"]
    assert Form(page, "rules-form").values["sentiment.threshold"] == "1.7"  # what was typed stays, to be fixed


def test_topics_are_added_edited_and_removed_and_a_bad_phrase_points_at_its_topic(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    rows = sorted({int(m) for k in form for m in re.findall(r"^topics\[(\d+)\]", k)})
    new = rows[-1]  # the empty row at the end adds a topic
    form.update({f"topics[{new}].__key__": "shipping_damage", f"topics[{new}].label": "damaged in shipping",
                 f"topics[{new}].phrases": "arrived broken\nre:((", f"topics[{new}].tier": "2"})
    legal = next(k.split(".")[0] for k, v in form.items() if k.endswith("__key__") and v == "legal")
    form[f"{legal}.__remove__"] = "on"
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert re.search(r'id="topics-\d+-phrases-error" role="alert">bad regular expression', page)
    form[f"topics[{new}].phrases"] = "arrived broken\nbroken on arrival"
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    rules = load_rules(store.rules.draft(a.id)["rules"])
    assert rules.topics["shipping_damage"].phrases == ("arrived broken", "broken on arrival")
    assert "legal" not in rules.topics


def test_business_hours_and_customer_messages_are_edited_as_fields(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form.update({"routing.sla[0].__key__": "billing_dispute", "routing.sla[0].__value__": "30",
                 "routing.hours[0].__key__": "g-billing", "routing.hours[0].timezone": "Europe/Paris",
                 "routing.hours[0].weekly.mon": "09:00-12:30, 13:30-17:00", "routing.hours[0].holidays": "FR",
                 "routing.hours[0].closed": "2026-12-24",
                 "routing.messages[0].__key__": "handoff", "routing.messages[0].__lang__": "en",
                 "routing.messages[0].__value__": "Passing you to {team}. {wait} {name}"})
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert r.status_code == 422
    assert re.search(r'id="routing-messages-0-__value__-error" role="alert">unknown placeholder \{name\}', r.get_data(as_text=True))
    form["routing.messages[0].__value__"] = "Passing you to {team}. {wait}"
    form["routing.hours[0].timezone"] = "Mars/Olympus"
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert re.search(r'id="routing-hours-0-timezone-error" role="alert">unknown time zone', r.get_data(as_text=True))
    form["routing.hours[0].timezone"] = "Europe/Paris"
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    routing = load_rules(store.rules.draft(a.id)["rules"]).routing
    assert routing.hours["g-billing"].weekly["mon"] == ("09:00-12:30", "13:30-17:00")
    assert routing.hours["g-billing"].closed == ("2026-12-24",)
    assert routing.messages["handoff"]["en"] == "Passing you to {team}. {wait}"
    assert routing.sla == {"billing_dispute": 30}


# preview, publish, versions

def test_preview_lists_what_the_draft_changes_and_opens_each_conversation(console, store):
    app, a, _ = console
    decided(store, a, "1", "How do I reset my password?")
    decided(store, a, "2", "Please refund my order 1234, it never arrived")
    decided(store, a, "3", "Where can I download my invoice?")
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    refund = next(k.split(".")[0] for k, v in form.items() if k.endswith("__key__") and v == "refund")
    form[f"{refund}.action"] = "ignore"  # the bot handles refunds now
    new = max(int(m) for k in form for m in re.findall(r"^topics\[(\d+)\]", k))
    form.update({f"topics[{new}].__key__": "account_access", f"topics[{new}].label": "account access",
                 f"topics[{new}].phrases": "reset my password"})
    r = client.post("/console/rules", data={**form, "then": "preview"})
    assert r.status_code == 303 and "/console/preview" in r.headers["Location"]
    page = client.get("/console/preview", query_string={"s": token}).get_data(as_text=True)
    counts = dict(re.findall(r'id="count-(\w+)">(\d+)<', page))
    assert counts == {"newly_escalated": "1", "no_longer_escalated": "1", "routed_elsewhere": "0", "action_changed": "0"}
    assert sorted(re.findall(r'/console/preview/(\w+)\?', page)) == ["1", "2"]
    assert re.search(r"<td[^>]*>account access</td>|account_access|account access", page)
    one = client.get("/console/preview/1", query_string={"s": token})
    text = one.get_data(as_text=True)
    assert one.status_code == 200 and 'id="before"' in text and 'id="after"' in text and "reset my password" in text
    assert store.installations.get(a.id).rules == {}  # a preview changes nothing live


def test_publish_makes_a_version_and_rollback_restores_the_earlier_rules(console, store):
    app, a, _ = console
    token, csrf = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form["sentiment.threshold"] = "0.8"
    client.post("/console/rules", data={**form, "then": "stay"})
    r = client.post("/console/publish", data={"s": token, "csrf": csrf, "comment": "calmer"})
    assert r.status_code == 303
    assert load_rules(store.installations.get(a.id).rules).sentiment.threshold == 0.8
    assert [(v["number"], v["author"], v["comment"]) for v in store.rules.versions(a.id)] == [
        (2, "Ada", "calmer"), (1, "installation", "as installed")]
    page = client.get("/console/versions", query_string={"s": token, "a": 1, "b": 2}).get_data(as_text=True)
    # the diff reads as words (its path is kept as the row's title)
    assert re.search(r'title="sentiment.threshold">Frustration: threshold</td><td[^>]*>0.5</td><td[^>]*>0.8</td>', page)
    client.post("/console/versions/1/rollback", data={"s": token, "csrf": csrf})
    assert load_rules(store.installations.get(a.id).rules).sentiment.threshold == 0.5
    assert store.rules.versions(a.id)[0]["comment"] == "rollback to version 1"
    assert [e["action"] for e in store.rules.audit_log(a.id)] == ["rollback", "publish", "draft"]


# the agent panel

def test_the_panel_shows_the_decision_and_stores_feedback_with_who_and_when(console, store):
    app, a, _ = console
    decided(store, a, "42", "I want to speak to a human, I was charged twice",
            customer=Customer(name="Ana Lima", tier="vip"))
    token, csrf = session(app, a, role="agent", name="Sam Agent")
    client = app.test_client()
    page = client.get("/panel", query_string={"s": token, "ticket": "42"}).get_data(as_text=True)
    assert "Handed over" in page and "Ana Lima" in page and "vip" in page
    r = client.post("/panel/feedback", data={"s": token, "csrf": csrf, "ticket": "42", "verdict": "too_late",
                                             "resolution": "refund issued",
                                             "missing_knowledge": "the refund policy for annual plans"})
    assert r.status_code == 303
    (fb,) = store.decisions.feedback_for(a.id, "42")
    assert (fb["verdict"], fb["resolution"], fb["author_name"], fb["author_id"]) == ("too_late", "refund issued",
                                                                                     "Sam Agent", "7")
    assert fb["missing_knowledge"] == "the refund policy for annual plans" and fb["decision_id"] is not None
    bad = client.post("/panel/feedback", data={"s": token, "csrf": csrf, "ticket": "42", "resolution": "magic"})
    assert bad.status_code == 422 and len(store.decisions.feedback_for(a.id, "42")) == 1


def test_the_admin_edits_the_resolution_types_agents_choose_from(console, store):
    app, a, _ = console
    token, csrf = session(app, a)
    client = app.test_client()
    client.post("/console/resolution-types", data={"s": token, "csrf": csrf, "types": "how-to answered\nreplacement sent\n"})
    agent, _ = session(app, a, role="agent")
    page = client.get("/panel", query_string={"s": agent, "ticket": "1"}).get_data(as_text=True)
    assert "replacement sent" in page and "refund issued" not in page


def test_the_overview_states_a_credentials_problem_and_retries_dead_letters(console, store):
    app, a, _ = console
    from integration.service.store.installations import _flag
    with store.engine.begin() as conn:
        _flag(conn, a.id, "401 Unauthorized: the API token was revoked")
    token, csrf = session(app, a)
    client = app.test_client()
    page = client.get("/console/", query_string={"s": token}).get_data(as_text=True)
    assert "401 Unauthorized: the API token was revoked" in page and "What to do" in page
    r = client.post("/console/retry", data={"s": token, "csrf": csrf})
    assert r.status_code == 303 and "queued again" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert store.rules.audit_log(a.id)[0]["action"] == "retry"


def test_pages_are_framed_only_by_the_installations_helpdesk_and_leak_no_token(console):
    app, a, _ = console
    token, _ = session(app, a)
    r = app.test_client().get("/console/", query_string={"s": token})
    assert "frame-ancestors 'self' https://a.zendesk.com" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"


def test_bot_roles_survive_the_round_trip_of_a_kept_conversation():
    from integration.core.codec import conversation_from_json
    c = conv("hi", ("bot", "hello"), "I want a human", customer=Customer(name="Ana", tags=("vip",)))
    back = conversation_from_json(conversation_to_json(c))
    assert back == c and back.messages[1].role is Role.BOT


def test_an_installation_is_found_by_its_address_or_a_setting_and_an_uninstalled_one_comes_last(store):
    old = store.installations.add("intercom", "https://api.intercom.io", {"token": "a"}, settings={"app_id": "w1"})
    store.lifecycle.uninstall(old.id, "Intercom")
    new = store.installations.add("intercom", "https://api.intercom.io", {"token": "b"}, settings={"app_id": "w1"})
    assert store.installations.find("intercom", setting=("app_id", "w1")).id == new.id
    z = store.installations.add("zendesk", "https://Acme.zendesk.com/", {"token": "c"})
    assert store.installations.find("zendesk", base_url="https://acme.zendesk.com").id == z.id
    assert store.installations.find("zendesk", base_url="https://other.zendesk.com") is None
    assert store.installations.find("freshdesk", setting=("app_id", "w1")) is None


# hostile input: a 4xx with the reason, never a 5xx

FIELD_NAMES = st.sampled_from(["sentiment.threshold", "topics[0].phrases", "topics[99].__key__", "topics[0].__key__",
                               "routing.hours[0].weekly.mon", "routing.messages[0].__value__", "loop.rephrases",
                               "scope.channels", "routing.default_group", "then", "x" * 300, "topics[-1].label",
                               "routing.categories[0].__key__", "segment.tiers", "sentiment.action",
                               "routing.sla[0].__key__", "routing.sla[0].__value__", "scope.channels.__pick__.email",
                               "routing.discreet.__pick__.legal", "routing.categories[0].group", "section"])
VALUES = st.text(max_size=60) | st.sampled_from(["1e309", "nan", "-0", "{", "}", "{team", "re:(", "\x00", "９", "1" * 400])


@given(form=st.dictionaries(FIELD_NAMES, VALUES, max_size=8))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_rules_form_answers_without_a_server_error(console, form):
    app, a, _ = console
    token, csrf = session(app, a)
    r = app.test_client().post("/console/rules", data={**form, "s": token, "csrf": csrf})
    assert r.status_code in (303, 400, 422), r.get_data(as_text=True)[-500:]


@given(ticket=st.text(max_size=80), verdict=st.text(max_size=12), text=st.text(max_size=200))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_panel_input_answers_without_a_server_error(console, ticket, verdict, text):
    app, a, _ = console
    token, csrf = session(app, a, role="agent")
    client = app.test_client()
    assert client.get("/panel", query_string={"s": token, "ticket": ticket}).status_code in (200, 400)
    r = client.post("/panel/feedback", data={"s": token, "csrf": csrf, "ticket": ticket, "verdict": verdict,
                                             "missing_knowledge": text})
    assert r.status_code in (303, 400, 422)


def test_an_intercom_admin_names_the_other_console_admins(store):
    app = create_app(Settings(database_url=store.url, secret_key=KEY), store=store, queue=NoQueue())
    inst = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "t"}, settings={"app_id": "w"})
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "1", "Ada", "admin", "intercom", "page"))
    csrf = csrf_token(app.config["SECRET_KEY"], token)
    client = app.test_client()
    assert client.post("/console/console-admins", data={"s": token, "csrf": csrf, "admins": "42\n43"}).status_code == 303
    assert store.installations.get(inst.id).settings["console_admins"] == ["42", "43"]
    assert client.post("/console/console-admins", data={"s": token, "csrf": csrf, "admins": "bob"}).status_code == 422
    assert store.rules.audit_log(inst.id)[0]["action"] == "settings"


def test_the_calibration_review_opens_a_suggested_change_as_a_draft_in_the_preview(console, store):
    app, a, _ = console
    for n in range(6):  # refunds handed over that the agents found needless
        ticket = str(700 + n)
        decided(store, a, ticket, f"Please refund my order {1000 + n}, it never arrived")
        store.outcomes.record(a.id, ticket, {"escalated": True, "escalated_at": utcnow(), "category": "refund"})
        store.decisions.record_feedback(a.id, ticket, author_id="7", author_name="Sam", verdict="not_needed", resolution=None,
                                        missing_knowledge=None)
    token, csrf = session(app, a)
    client = app.test_client()
    page = client.get("/console/calibration", query_string={"s": token}).get_data(as_text=True)
    assert int(re.search(r'id="count-over">(\d+)<', page).group(1)) > 0
    titles = re.findall(r'name="title" value="([^"]+)"', page)
    assert "topic refund: offer a person instead of handing over" in titles
    r = client.post("/console/calibration/draft", data={"s": token, "csrf": csrf, "title": titles[0]})
    assert r.status_code == 303 and "/console/preview" in r.headers["Location"]
    assert store.rules.draft(a.id) is not None and store.installations.get(a.id).rules == {}  # a draft, nothing live
    assert client.post("/console/calibration/draft", data={"s": token, "csrf": csrf, "title": "nope"}).status_code == 409
