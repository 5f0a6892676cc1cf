"""The console as a new admin uses it (issue 20), through Flask's test client on SQLite and
PostgreSQL: groups chosen by name (the rules keep the id), a group that left the helpdesk named
as missing, the rules in sections with their sentences, publish and roll back confirmed with the
preview's figures, and the activity newest first, a page at a time, searched by ticket and by
category name, each ticket linking to the helpdesk."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import insert, update

from integration.core.rules import load_rules
from integration.service.store import decisions, utcnow
from tests.test_console import Form, console, decided, rules_form, session  # noqa: F401  (fixture)

ROSTER = {"groups": [{"id": "8001", "name": "Support"}, {"id": "8002", "name": "Billing"},
                     {"id": "8003", "name": "Accounts"}],
          "agents": [{"id": "51", "name": "Kim", "groups": ["8001"]}]}


def page(client, path, token, **args):
    r = client.get(path, query_string={"s": token, **args})
    assert r.status_code == 200, r.get_data(as_text=True)[-500:]
    return r.get_data(as_text=True)


def options(html, name):
    """The (value, text) of each option of the select named ``name``."""
    select = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def row_of(form, prefix, key):
    return next(k.split(".")[0] for k, v in form.items() if k.startswith(prefix) and k.endswith("__key__") and v == key)


# the rules: names, sections, sentences

def test_the_admin_routes_refunds_to_billing_by_its_name_and_the_rules_keep_its_id(console, store):
    app, a, _ = console
    store.installations.save_roster(a.id, ROSTER)
    token, _ = session(app, a)
    client = app.test_client()
    html = page(client, "/console/rules", token, section="routing")
    new = max(re.findall(r'name="(routing\.categories\[\d+\])\.__key__"', html))
    assert ("8002", "Billing") in options(html, f"{new}.group")  # chosen by name …
    assert ("refund", "Refund") in options(html, f"{new}.__key__")  # … for a category named in words
    form = rules_form(client, token)
    form.update({f"{new}.__key__": "refund", f"{new}.group": "8002", "section": "routing"})
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert r.status_code == 303 and "section=routing" in r.headers["Location"]  # back on the section saved
    assert load_rules(store.rules.draft(a.id)["rules"]).routing.categories["refund"].group == "8002"  # … kept as its id
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="draft-saved"' in html and "Refund → Billing." in html  # the section's sentence names the group
    assert not re.search(r">[^<]*\b8002\b[^<]*<", html)  # the id is in no text a person reads


def test_a_group_that_left_the_helpdesk_is_named_as_missing_with_a_way_to_fix_it(console, store):
    app, a, _ = console
    store.installations.save_roster(a.id, ROSTER)
    store.rules.publish(a.id, {"routing": {"default_group": "7777", "categories": {"legal": {"group": "8002"}}}}, "Ada", "x")
    token, _ = session(app, a)
    client = app.test_client()
    html = page(client, "/console/rules", token, section="routing")
    assert re.search(r'id="routing-default_group-warning">This group is not in Zendesk any more', html)
    chosen = options(html, "routing.default_group")
    assert chosen[1] == ("7777", "⚠ a group that no longer exists (7777)") and ("8001", "Support") in chosen
    assert "Everything else → a group that no longer exists (7777)." in html
    form = rules_form(client, token)
    form["routing.default_group"] = "8001"  # the fix: another group, by name
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    html = page(client, "/console/rules", token, section="routing")
    assert "warning" not in re.search(r'name="routing.default_group".*?</div>', html, re.S).group(0)


def test_every_section_reads_as_sentences_and_one_is_shown_at_a_time(console, store):
    app, a, _ = console
    store.installations.save_roster(a.id, ROSTER)
    store.rules.publish(a.id, {"explicit_request": {"priority": "high"}, "routing": {"hours": {"8002": {
        "timezone": "Europe/Paris", "weekly": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": "FR"}}}}, "Ada", "x")
    token, _ = session(app, a)
    html = page(app.test_client(), "/console/rules", token)
    shown = re.findall(r'<section class="rules-section" id="section-(\w+)"[^>]*?(hidden)?>', html)
    assert [k for k, hidden in shown if not hidden] == ["handover"]  # the first section; the others wait, in the form
    assert {k for k, _ in shown} == {"handover", "topics", "customers", "routing", "hours", "messages", "scope"}
    assert "When the customer asks for a person → hand over now, priority high." in html
    assert "Billing: Mon–Fri 09:00–17:00 (Europe/Paris), closed on FR public holidays." in html
    assert "Baton watches every conversation." in html
    assert re.search(r'<button[^>]*id="save-draft"', html) and 'class="save-bar"' in html


def test_a_refused_value_opens_its_section_marked_on_its_tab(console):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form["routing.min_samples"] = "many"
    r = client.post("/console/rules", data={**form, "then": "stay", "section": "handover"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert re.search(r'id="section-routing"[^>]*>', html).group(0).endswith('aria-labelledby="title-routing">')
    assert re.search(r'id="tab-routing".*?⚠ 1</span>', html, re.S)


def test_an_sla_without_its_minutes_is_refused_beside_them_not_a_server_error(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form.update({"routing.sla[0].__key__": "refund", "routing.sla[0].__value__": ""})
    r = client.post("/console/rules", data={**form, "then": "stay"})
    assert r.status_code == 422 and store.rules.draft(a.id) is None
    assert re.search(r'id="routing-sla-0-__value__-error" role="alert">must be a whole number', r.get_data(as_text=True))


def test_a_topic_added_by_its_name_gets_its_key_from_it(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    new = max(int(m) for k in form for m in re.findall(r"^topics\[(\d+)\]", k))
    assert form[f"topics[{new}].__key__"] == ""  # no key to type
    form.update({f"topics[{new}].label": "Damaged in shipping", f"topics[{new}].phrases": "arrived broken"})
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    topic = load_rules(store.rules.draft(a.id)["rules"]).topics["damaged_in_shipping"]
    assert (topic.label, topic.phrases) == ("Damaged in shipping", ("arrived broken",))


def test_lists_of_known_values_are_ticked_and_untick_to_empty(console, store):
    app, a, _ = console
    store.installations.save_roster(a.id, ROSTER)
    token, _ = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    assert form["scope.channels"] == "" and "routing.discreet.__pick__.legal" in form  # ticked by default
    form.update({"scope.channels.__pick__.email": "on", "scope.groups.__pick__.8002": "on"})
    del form["routing.discreet.__pick__.legal"], form["routing.discreet.__pick__.security_privacy"]
    assert client.post("/console/rules", data={**form, "then": "stay"}).status_code == 303
    rules = load_rules(store.rules.draft(a.id)["rules"])
    assert rules.scope.channels == ("email",) and rules.scope.groups == ("8002",) and rules.routing.discreet == ()
    assert "Baton watches only conversations on email; in Billing." in page(client, "/console/rules", token)


# publish and roll back, confirmed

def test_publish_asks_first_with_the_previews_figures_and_the_rule_changes_in_words(console, store):
    app, a, _ = console
    decided(store, a, "2", "Please refund my order 1234, it never arrived")
    token, csrf = session(app, a)
    client = app.test_client()
    form = rules_form(client, token)
    form[f"{row_of(form, 'topics', 'refund')}.action"] = "ignore"
    client.post("/console/rules", data={**form, "then": "stay"})
    html = page(client, "/console/preview", token)
    assert re.search(r'<form method="get" action="/console/publish" id="publish-form"', html)
    html = page(client, "/console/publish", token, comment="the bot handles refunds")
    assert store.installations.get(a.id).rules == {}  # asking changes nothing
    assert "Publish the draft as version 2?" in html and re.search(r'id="count-no_longer_escalated">1<', html)
    assert re.search(r'title="topics.refund.action">Topic “refund”: what Baton does</td><td[^>]*>hand over now</td>'
                     r'<td[^>]*>ignore it</td>', html)
    confirm = Form(html, "confirm-form").values
    assert confirm["comment"] == "the bot handles refunds"
    assert client.post("/console/publish", data=confirm).status_code == 303
    assert load_rules(store.installations.get(a.id).rules).topics["refund"].action == "ignore"


def test_a_draft_saved_again_after_its_confirmation_is_not_published(console, store):
    app, a, _ = console
    token, _ = session(app, a)
    client = app.test_client()
    store.rules.save_draft(a.id, {"sentiment": {"threshold": 0.8}}, "Ada")
    confirm = Form(page(client, "/console/publish", token), "confirm-form").values
    with store.engine.begin() as conn:  # Bob saves another draft meanwhile
        from integration.service.store import rule_drafts
        conn.execute(update(rule_drafts).values(rules={"sentiment": {"threshold": 0.1}}, author="Bob",
                                                updated_at=utcnow() + timedelta(seconds=1)))
    r = client.post("/console/publish", data=confirm)
    assert r.status_code == 409 and "review it again" in r.get_data(as_text=True)
    assert store.rules.versions(a.id) == []


def test_roll_back_asks_first_with_what_it_would_change(console, store):
    app, a, _ = console
    decided(store, a, "5", "I am so angry, this is useless and terrible!!!")
    store.rules.publish(a.id, {"sentiment": {"threshold": 0.99, "offer_threshold": 0.98}}, "Ada", "calmer")
    token, _ = session(app, a)
    client = app.test_client()
    html = page(client, "/console/versions", token)
    assert re.search(r'<a class="c-btn c-btn--sm" href="/console/versions/1/rollback\?s=[^"]+" id="rollback-1">', html)
    html = page(client, "/console/versions/1/rollback", token)
    assert "Roll back to version 1?" in html and 'id="preview-summary"' in html
    assert re.search(r'title="sentiment.threshold">Frustration: threshold</td><td[^>]*>0.99</td><td[^>]*>0.5</td>', html)
    assert len(store.rules.versions(a.id)) == 2  # asking changes nothing
    assert client.post("/console/versions/1/rollback", data=Form(html, "confirm-form").values).status_code == 303
    assert store.rules.versions(a.id)[0]["comment"] == "rollback to version 1"


# activity

def _decide_at(store, inst, ticket, action, category, at):
    with store.engine.begin() as conn:
        conn.execute(insert(decisions).values(
            installation_id=inst.id, ticket_id=ticket, action=action, priority="normal", category=category, tier=1,
            reasons=[], explanation=f"decision on {ticket}", created_at=at,
            conversation={"id": ticket, "subject": f"subject of {ticket}", "messages": []}))


def test_activity_is_newest_first_whatever_order_the_decisions_were_recorded_in(console, store):
    app, a, _ = console
    now = utcnow()
    for n in range(3):  # today's tickets, recorded first
        _decide_at(store, a, f"10{n}", "escalate", "refund", now - timedelta(minutes=n))
    for n in range(60):  # a month of history, recorded after them (as the demo seeds it)
        _decide_at(store, a, f"h{n}", "continue", None, now - timedelta(days=1 + n % 30))
    token, _ = session(app, a)
    html = page(app.test_client(), "/console/activity", token)
    tickets = re.findall(r'data-ticket="([^"]+)"', html)
    assert tickets[:3] == ["100", "101", "102"] and len(tickets) == 50
    assert 'href="https://a.zendesk.com/agent/tickets/100" target="_blank"' in html  # the ticket in the helpdesk
    assert "subject of 100" in html and "Refund" in html and "refund</td>" not in html


def test_activity_pages_by_keyset_with_no_decision_lost_or_repeated(console, store):
    app, a, _ = console
    at = utcnow().replace(microsecond=0)
    for n in range(130):  # ties in created_at: three decisions a second
        _decide_at(store, a, f"t{n}", "escalate", "refund", at - timedelta(seconds=n // 3))
    token, _ = session(app, a)
    client = app.test_client()
    seen, html, pages = [], page(client, "/console/activity", token), 0
    while True:
        pages += 1
        seen += re.findall(r'data-ticket="([^"]+)"', html)
        older = re.search(r'href="(/console/activity\?[^"]*before=[^"]+)" id="older"', html)
        if not older:
            break
        html = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert pages == 3 and len(seen) == 130 and len(set(seen)) == 130
    newer = re.search(r'href="(/console/activity\?[^"]*after=[^"]+)" id="newer"', html).group(1).replace("&amp;", "&")
    back = re.findall(r'data-ticket="([^"]+)"', client.get(newer).get_data(as_text=True))
    assert back == seen[50:100]  # the page before, in the same order


def test_activity_is_searched_by_ticket_by_category_name_and_time(console, store):
    app, a, _ = console
    now = utcnow()
    _decide_at(store, a, "1", "escalate", "billing_dispute", now)
    _decide_at(store, a, "2", "escalate", "explicit_request", now)
    _decide_at(store, a, "3", "escalate", "billing_dispute", now - timedelta(days=10))
    token, _ = session(app, a)
    client = app.test_client()

    def tickets(**args):
        return re.findall(r'data-ticket="([^"]+)"', page(client, "/console/activity", token, **args))

    assert tickets(category="billing") == ["1", "3"]  # the topic's name, not its key
    assert tickets(category="asked for a PERSON") == ["2"]
    assert tickets(category="billing", range="7d") == ["1"]
    assert tickets(ticket="#3") == ["3"]
    assert tickets(category="nothing like it") == []
    assert tickets(before="garbage", after="1-2-3") == ["2", "1", "3"]  # a cursor Baton did not make: the newest


# the agent panel

def test_a_conversation_kept_with_the_bot_is_asked_about_keeping_it_not_about_an_escalation(console, store):
    app, a, _ = console
    decided(store, a, "60", "How do I reset my password?")
    token, csrf = session(app, a, role="agent", name="Sam Agent")
    client = app.test_client()
    html = page(client, "/panel", token, ticket="60")
    assert "Kept with the bot" in html and "Keeping it with the bot was …" in html
    assert re.findall(r'name="verdict" value="(\w+)"', html) == ["right", "too_late"]
    assert "Wrong: it should have been handed over" in html and "escalation" not in html.lower()
    bad = client.post("/panel/feedback", data={"s": token, "csrf": csrf, "ticket": "60", "verdict": "not_needed"})
    assert bad.status_code == 422 and store.decisions.feedback_for(a.id, "60") == []


def test_the_saved_feedback_is_shown_and_changed_and_the_latest_counts(console, store):
    app, a, _ = console
    decided(store, a, "61", "How do I reset my password?")
    token, csrf = session(app, a, role="agent", name="Sam Agent")
    client = app.test_client()
    r = client.post("/panel/feedback", data={"s": token, "csrf": csrf, "ticket": "61", "verdict": "too_late",
                                             "missing_knowledge": "resets need a person for SSO accounts"})
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="feedback-saved"' in html
    saved = Form(html, "feedback").values  # the choice, as saved, in the form
    assert re.search(r'value="too_late" checked', html) and saved["missing_knowledge"] == "resets need a person for SSO accounts"
    assert "You said “Should have been handed over”" in html and "Save changes" in html
    client.post("/panel/feedback", data={**saved, "verdict": "right"})  # changed their mind
    assert re.search(r'value="right" checked', page(client, "/panel", token, ticket="61"))
    store.outcomes.record(a.id, "61", {"escalated": False, "category": None})
    (row,) = [r for r in store.outcomes.rows(a.id) if r["ticket_id"] == "61"]
    assert row["verdict"] == "right"  # the figures read the latest answer


def test_the_panel_shows_the_suggested_resolution_with_the_conversations_it_comes_from(console, store):
    app, a, _ = console
    now = utcnow()
    solved = ["charged twice for my invoice this month", "double charged on my invoice this month",
              "how do I reset my password", "the app crashes when I upload a photo"]
    for n, words_ in enumerate(solved):
        store.outcomes.record(a.id, f"9{n}", {"escalated": True, "escalated_at": now - timedelta(days=3),
                                              "solved_at": now - timedelta(days=2), "query_text": words_,
                                              "answer_text": "Refunded the duplicate charge." if n < 2 else "Answered.",
                                              "resolution": "refund issued" if n < 2 else "how-to answered"})
    decided(store, a, "62", "I was charged twice on my invoice this month")
    token, _ = session(app, a, role="agent")
    html = page(app.test_client(), "/panel", token, ticket="62")
    part = re.search(r'<details class="fold panel-part" id="suggestions" open>.*?</details>', html, re.S).group(0)
    assert "Refund issued" in part and "Refunded the duplicate charge." in part
    assert re.findall(r'href="https://a.zendesk.com/agent/tickets/(\d+)"[^>]*class="source">#\1<', part) == ["90", "91"]
    assert '<details class="fold panel-part" id="why" open>' in html  # every long part folds


# Intercom's console admins

def test_intercom_console_admins_are_ticked_among_the_teammates_by_name(store):
    from integration.service.console.session import Identity, csrf_token, issue
    from integration.service.settings import Settings
    from integration.service.web import create_app
    from tests.test_console import KEY, NoQueue
    app = create_app(Settings(database_url=store.url, secret_key=KEY), store=store, queue=NoQueue())
    inst = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "t"},
                                   settings={"app_id": "w", "api_user_id": "1", "api_user_name": "Ada Admin",
                                             "console_admins": ["99"]})
    store.installations.save_roster(inst.id, {"groups": [], "agents": [{"id": "42", "name": "Kim"}, {"id": "43", "name": "Sam"}]})
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "1", "Ada Admin", "admin", "intercom", "page"))
    client = app.test_client()
    html = page(client, "/console/", token)
    assert "Baton acts as <strong>Ada Admin</strong>, who installed it" in html
    boxes = re.findall(r'name="admin" value="(\d+)"( checked)?> ([^<]+)', html)
    assert boxes == [("42", "", "Kim"), ("43", "", "Sam"), ("99", " checked", "⚠ a teammate that no longer exists (99)")]
    form = {"s": token, "csrf": csrf_token(app.config["SECRET_KEY"], token)}
    r = client.post("/console/console-admins", data={**form, "admin": ["43"]})  # Sam in, the one who left out
    assert r.status_code == 303 and store.installations.get(inst.id).settings["console_admins"] == ["43"]
    assert client.post("/console/console-admins", data={**form, "admin": ["x1"]}).status_code == 422
