"""Names, not ids, in what is left of issue 20, through Flask's test client on SQLite and PostgreSQL:
brands (or products) picked by name in the scope, skills picked by name for a route (never typed),
tags suggested from the helpdesk's (a new one still typed), the roster page in names with a group the
helpdesk no longer has shown as such and where to fix it, and the activity showing a conversation
decided several times once."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from integration.core.rules import load_rules
from integration.service.console.session import Identity, csrf_token, issue
from integration.service.store import utcnow
from tests.test_console import Form, console, rules_form, session  # noqa: F401  (fixture)
from tests.test_console_ux import _decide_at, page

SKILL = "b376b35a-e38b-11e8-a292-e3b6377c5575"
ROSTER = {"groups": [{"id": "8001", "name": "Support"}, {"id": "8002", "name": "Billing"}],
          "agents": [{"id": "51", "name": "Kim", "groups": ["8001", "8099"], "skills": [SKILL]}],
          "brands": [{"id": "360001", "name": "Acme Shoes"}, {"id": "360002", "name": "Acme Hats"}],
          "skills": [{"id": SKILL, "name": "French", "kind": "Language"}, {"id": "s-2", "name": "Refunds", "kind": "Skills"}],
          "tags": ["vip_gold", "billing", "vip_silver"]}


def installed(store, app, provider, roster):
    inst = store.installations.add(provider, f"https://x.{provider}.example", {"token": "t"})
    store.installations.save_roster(inst.id, roster)
    token = issue(app.config["SECRET_KEY"], Identity(inst.id, "7", "Ada", "admin", provider))
    return inst, token


def save(client, token, form, **changes):
    r = client.post("/console/rules", data={**form, **changes, "then": "stay"})
    assert r.status_code == 303, r.get_data(as_text=True)[-800:]
    return client.get(r.headers["Location"]).get_data(as_text=True)


def text_of(html):
    """What a person reads: the text between tags, attributes left out."""
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|datalist)\b.*?</\1>", " ", html, flags=re.S)).split())


# brands

@pytest.mark.parametrize("provider, word", [("zendesk", "brand"), ("freshdesk", "product")])
def test_the_scope_picks_brands_by_name_and_the_rules_keep_their_ids(console, store, provider, word):
    app, _, _ = console
    inst, token = installed(store, app, provider, ROSTER)
    client = app.test_client()
    html = page(client, "/console/rules", token, section="scope")
    boxes = re.findall(r'name="scope\.brands\.__pick__\.(\d+)"\s*> ([^<]+)</label>', html)
    assert boxes == [("360002", "Acme Hats"), ("360001", "Acme Shoes")]  # by name, in its order
    html = save(client, token, rules_form(client, token), **{"scope.brands.__pick__.360002": "on", "section": "scope"})
    assert load_rules(store.rules.draft(inst.id)["rules"]).scope.brands == ("360002",)
    assert f"Baton watches only conversations of the {word} Acme Hats." in html


def test_a_brand_the_helpdesk_no_longer_has_stays_ticked_named_as_missing(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "zendesk", ROSTER)
    store.rules.publish(inst.id, {"scope": {"brands": ["360009"]}}, "Ada", "x")
    html = page(app.test_client(), "/console/rules", token, section="scope")
    assert re.search(r'name="scope\.brands\.__pick__\.360009" checked> ⚠ a brand that no longer exists \(360009\)', html)
    assert "1 of the ticked brands is no longer in Zendesk: untick it." in html


def test_intercom_has_no_brand_picker_nor_skills(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "intercom", {"groups": [{"id": "77", "name": "Billing"}], "agents": [],
                                                     "tags": ["Beta User"]})
    client = app.test_client()
    html = page(client, "/console/rules", token, section="scope")
    assert "scope.brands" not in html and ".skills" not in html
    assert '<option value="Beta User">' in html  # its tags are suggested
    save(client, token, rules_form(client, token))  # and the form saves without them
    rules = load_rules(store.rules.draft(inst.id)["rules"])
    assert rules.scope.brands == () and all(not c.skills for c in rules.routing.categories.values())


# skills and tags

def test_a_route_takes_skills_picked_by_name_never_typed(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "zendesk", ROSTER)
    client = app.test_client()
    form = rules_form(client, token)
    new = max(re.findall(r"(routing\.categories\[\d+\])\.__key__", " ".join(form)))
    html = page(client, "/console/rules", token, section="routing")
    choices = re.findall(rf'<select[^>]*name="{re.escape(new)}\.skills\.__add__"[^>]*>(.*?)</select>', html, re.S)[0]
    assert re.findall(r'<option value="([^"]+)">([^<]+)</option>', choices) == [(SKILL, "French (Language)"), ("s-2", "Refunds (Skills)")]
    html = save(client, token, form, **{f"{new}.__key__": "refund", f"{new}.group": "8002",
                                        f"{new}.skills.__add__": SKILL, "section": "routing"})
    assert load_rules(store.rules.draft(inst.id)["rules"]).routing.categories["refund"].skills == (SKILL,)
    assert "Refund → Billing (agents with French (Language))." in html
    row = re.search(r'name="(routing\.categories\[\d+\])\.skills\.__pick__\.' + SKILL + '" checked> French', html)
    assert row  # shown chosen, by name; unticking it removes it
    form = rules_form(client, token)
    del form[f"{row.group(1)}.skills.__pick__.{SKILL}"]
    save(client, token, form, **{f"{row.group(1)}.skills.__add__": "s-2"})
    assert load_rules(store.rules.draft(inst.id)["rules"]).routing.categories["refund"].skills == ("s-2",)


def test_a_skill_the_helpdesk_no_longer_has_is_named_as_missing(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "zendesk", ROSTER)
    store.rules.publish(inst.id, {"routing": {"categories": {"refund": {"group": "8002", "skills": ["gone-1", SKILL]}}}}, "Ada", "x")
    html = page(app.test_client(), "/console/rules", token, section="routing")
    assert "⚠ a skill that no longer exists (gone-1)" in html and "French (Language)" in html
    assert "A skill ticked here is not in Zendesk any more: untick it." in html
    assert "Refund → Billing (agents with a skill that no longer exists (gone-1) and French (Language))." in html


def test_tags_are_suggested_from_the_helpdesks_and_a_new_one_is_typed(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "zendesk", ROSTER)
    client = app.test_client()
    html = page(client, "/console/rules", token, section="scope")
    suggested = re.search(r'<datalist id="scope-tags-suggest">(.*?)</datalist>', html, re.S).group(1)
    assert re.findall(r'value="([^"]+)"', suggested) == ["vip_gold", "billing", "vip_silver"]  # the most used first
    form = rules_form(client, token)
    html = save(client, token, form, **{"scope.tags": "vip_gold", "scope.exclude_tags": "spam_2026", "section": "scope"})
    scope = load_rules(store.rules.draft(inst.id)["rules"]).scope
    assert scope.tags == ("vip_gold",) and scope.exclude_tags == ("spam_2026",)  # a new tag, as typed
    assert re.search(r'name="scope\.tags\.__pick__\.vip_gold" checked> vip_gold', html)  # now a box to untick
    form = rules_form(client, token)
    save(client, token, form, **{"scope.tags": "vip_gold"})  # typed again while ticked: kept once
    assert load_rules(store.rules.draft(inst.id)["rules"]).scope.tags == ("vip_gold",)
    del form["scope.tags.__pick__.vip_gold"]
    save(client, token, form)
    assert load_rules(store.rules.draft(inst.id)["rules"]).scope.tags == ()


# the roster page

def test_the_roster_shows_names_and_a_group_the_helpdesk_no_longer_has_with_where_to_fix_it(console, store):
    app, _, _ = console
    inst, token = installed(store, app, "zendesk", ROSTER)
    store.rules.publish(inst.id, {"routing": {"default_group": "7777", "segments": {"vip": "7777"},
                                              "categories": {"refund": {"group": "8002"}}}}, "Ada", "x")
    store.rules.save_draft(inst.id, {"routing": {"hours": {"6666": {"timezone": "UTC"}}}}, "Ada")
    client = app.test_client()
    html = page(client, "/console/roster", token)
    text = text_of(html)
    assert not re.search(r"\b(8001|8002|51)\b", text) and SKILL not in text  # no id of what exists in what a person reads
    assert "Kim" in text and "Support, a group that no longer exists (8099)" in text and "French (Language)" in text
    gone = re.findall(r'<li class="gone-group" data-group="(\d+)">(.*?)</li>', html, re.S)
    assert [g for g, _ in gone] == ["6666", "7777"]
    assert "A group that no longer exists (7777): choose another in" in text_of(gone[1][1])
    links = re.findall(r'href="(/console/rules\?[^"]+)" class="fix-link">([^<]+)<', gone[1][1])
    assert [t for _, t in links] == ["Customers", "Routing"]  # each section that names it
    assert re.findall(r'href="/console/rules\?[^"]*section=(\w+)[^"]*" class="fix-link"', gone[0][1]) == ["hours"]  # the draft's
    assert client.get(links[1][0].replace("&amp;", "&")).status_code == 200
    assert "2 brands, 2 skills, 3 tags" in text


def test_intercom_roster_speaks_of_teams_and_teammates_without_skills(console, store):
    app, _, _ = console
    _, token = installed(store, app, "intercom", {"groups": [{"id": "77", "name": "Billing"}],
                                                  "agents": [{"id": "1", "name": "Sam", "groups": ["77"]}]})
    text = text_of(page(app.test_client(), "/console/roster", token))
    assert "Teams" in text and "Teammates" in text and "Skills" not in text and "brand" not in text
    assert "Sam online 0 / 5 Billing" in text


# activity: each conversation once

def test_a_conversation_decided_twice_is_listed_once_with_its_earlier_decision_reachable(console, store):
    app, a, _ = console
    now = utcnow()
    _decide_at(store, a, "7", "continue", None, now - timedelta(minutes=30))  # the first customer message
    _decide_at(store, a, "8", "escalate", "refund", now - timedelta(minutes=20))
    _decide_at(store, a, "7", "escalate", "billing_dispute", now - timedelta(minutes=10))  # the reply that handed over
    token, _ = session(app, a)
    client = app.test_client()
    html = page(client, "/console/activity", token)
    assert re.findall(r'data-ticket="([^"]+)"', html) == ["7", "8"]
    first = re.search(r'<tr class="c-table__row" data-ticket="7">.*?</tr>', html, re.S).group(0)
    assert "handed over" in first and "Billing dispute" in first  # its latest decision
    more = re.search(r'<a class="decided-times" href="([^"]+)"[^>]*>decided 2 times</a>', first)
    assert more and "decided-times" not in re.search(r'data-ticket="8">.*?</tr>', html, re.S).group(0)
    both = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'data-ticket="([^"]+)"', both) == ["7", "7"] and "kept with the bot" in both
    assert "Every decision Baton made on conversation #7" in both
    kept = re.findall(r'data-ticket="([^"]+)"', page(client, "/console/activity", token, action="continue"))
    assert kept == ["7"]  # filtered: its latest decision among those kept


def test_activity_pages_conversations_by_keyset_none_lost_or_repeated(console, store):
    app, a, _ = console
    at = utcnow().replace(microsecond=0)
    for n in range(70):  # 70 conversations, each decided twice, the second time an hour later
        _decide_at(store, a, f"c{n}", "continue", None, at - timedelta(hours=2, seconds=n))
        _decide_at(store, a, f"c{n}", "escalate", "refund", at - timedelta(hours=1, seconds=n))
    token, _ = session(app, a)
    client = app.test_client()
    html = page(client, "/console/activity", token)
    seen = re.findall(r'data-ticket="([^"]+)"', html)
    older = re.search(r'href="(/console/activity\?[^"]*before=[^"]+)" id="older"', html).group(1).replace("&amp;", "&")
    seen += re.findall(r'data-ticket="([^"]+)"', client.get(older).get_data(as_text=True))
    assert seen == [f"c{n}" for n in range(70)] and html.count("decided 2 times") == 50
