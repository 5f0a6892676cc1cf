"""Names, not ids, in real Chromium inside each helpdesk's own embedding (issue 20): a brand (a product
on Freshdesk) found by typing part of its name and ticked; a tag and a skill added by name from what
Baton synced (a new tag typed, a skill never); the roster page in names, a group the rules still send
to but the helpdesk no longer has shown as such with a link to fix it; a conversation decided twice
listed once in the activity, its earlier decision one click away."""
from __future__ import annotations

import importlib

import pytest
from playwright.sync_api import expect

import connectors
from integration.core.rules import load_rules
from integration.tools.local import wait_for
from tests.browser.conftest import SCREENSHOTS

APPS = [k for k in connectors.KEYS if connectors.driver(k).has_app]


def synced(w):
    """The roster as Baton's sync reads it from the helpdesk, now."""
    w.store.installations.save_roster(w.installation.id, connectors.get(w.driver.key).client(w.installation).roster())


def rules_section(page, w, key, section):
    frame = importlib.import_module(f"tests.browser.embed_{key}").open_console(page, w)
    frame.get_by_role("link", name="Rules", exact=True).click()
    frame.locator(f"#tab-{section}").click()
    frame.locator(f"#section-{section}").wait_for()
    return frame


def saved_rules(frame, w):
    """Save from the save bar and wait for the page after it (a page saved before shows #draft-saved too)."""
    frame.locator("#rules-form").evaluate("form => form.dataset.before = 'save'")
    frame.locator("#save-draft").click()
    frame.locator("#rules-form:not([data-before])").wait_for()
    frame.locator("#draft-saved").wait_for()
    return load_rules(w.store.rules.draft(w.installation.id)["rules"])


@pytest.mark.parametrize("key", [k for k in APPS if connectors.driver(k).has_brands])
def test_an_admin_finds_a_brand_by_typing_its_name_and_ticks_it(key, world, page):
    w = world(key)
    ids = {name: w.driver.add_brand(name) for name in ("Acme Shoes", "Acme Hats", *(f"Store {n}" for n in range(8)))}
    synced(w)
    frame = rules_section(page, w, key, "scope")
    word = "product" if key == "freshdesk" else "brand"
    frame.get_by_label(f"Filter the choices of {word.capitalize()}s").fill("hat")  # ten of them: searched by name
    picks = frame.locator("#scope-brands label.pick:visible")
    expect(picks).to_have_count(1)
    picks.get_by_text("Acme Hats").click()
    page.screenshot(path=str(SCREENSHOTS / f"{key}-brand-picker.png"), full_page=False)
    assert saved_rules(frame, w).scope.brands == (ids["Acme Hats"],)  # the rules keep its id
    expect(frame.locator("#sentences-scope")).to_contain_text(f"of the {word} Acme Hats")


@pytest.mark.parametrize("key", APPS)
def test_an_admin_adds_a_tag_and_a_skill_by_name(key, world, page):
    driver = connectors.driver(key)
    w = world(key)
    group = w.driver.add_group("Billing")
    agent = w.driver.add_agent("Sam", group)
    w.driver.add_tag("vip_gold")  # in use in the helpdesk (False where it lists no tags)
    skill = w.driver.add_skill("French", [agent])  # None where the helpdesk has no skills
    synced(w)

    frame = rules_section(page, w, key, "scope")
    tags = frame.locator("#scope-tags")
    box = tags.locator("input.combo-input")
    if driver.lists_tags:  # found by part of its name
        box.fill("gold")
        tags.locator(".combo-list li", has_text="vip_gold").click()
        expect(tags.locator("label.chip")).to_have_text(["vip_gold"])
    box.fill("brand_new_tag")  # a tag the helpdesk has not seen yet: typed
    box.press("Enter")
    expect(tags.locator("label.chip input:checked")).to_have_count(2 if driver.lists_tags else 1)
    assert saved_rules(frame, w).scope.tags == (("vip_gold",) if driver.lists_tags else ()) + ("brand_new_tag",)

    frame.locator("#tab-routing").click()
    route = frame.locator("#routing-categories fieldset.rule-row--new")
    if not driver.has_skills:  # Intercom: teams, no skills
        expect(route.locator("fieldset[data-combobox]")).to_have_count(0)
        return
    route.locator("select[name$='.__key__']").select_option(label="Refund")
    route.locator("select[name$='.group']").select_option(label="Billing")
    skills = route.locator("fieldset[data-combobox]")
    search = skills.locator("input.combo-input")
    search.fill("Klingon")
    expect(skills.locator(".combo-list")).to_contain_text("None by that name")
    search.press("Enter")  # a skill is never typed: nothing added
    expect(skills.locator("label.chip")).to_have_count(0)
    search.fill("fren")
    skills.locator(".combo-list li", has_text="French").click()
    expect(skills.locator("label.chip")).to_contain_text(["French"])
    page.screenshot(path=str(SCREENSHOTS / f"{key}-skill-picker.png"), full_page=False)
    assert saved_rules(frame, w).routing.categories["refund"].skills == (skill,)
    expect(frame.locator("#sentences-routing")).to_contain_text("Refund → Billing (agents with French")


@pytest.mark.parametrize("key", APPS)
def test_the_roster_page_shows_names_and_a_group_that_no_longer_exists_with_a_way_to_fix_it(key, world, page):
    w = world(key)
    billing = w.driver.add_group("Billing")
    w.driver.add_agent("Sam", billing)
    synced(w)
    w.store.rules.publish(w.installation.id, {"routing": {"default_group": "999999"}}, "Ada", "a group since deleted")
    frame = importlib.import_module(f"tests.browser.embed_{key}").open_console(page, w)
    frame.get_by_role("link", name="Roster", exact=True).click()
    frame.locator("#groups").wait_for()
    word = "team" if key == "intercom" else "group"
    expect(frame.locator("#groups")).to_contain_text("Billing")
    expect(frame.locator("#groups")).not_to_contain_text(str(billing))  # names, no ids
    expect(frame.locator(f"#agents tr:has-text('Sam')")).to_contain_text("Billing")
    gone = frame.locator("#gone-groups")
    expect(gone).to_contain_text(f"A {word} that no longer exists (999999): choose another in Routing")
    page.screenshot(path=str(SCREENSHOTS / f"{key}-roster.png"), full_page=False)
    gone.get_by_role("link", name="Routing").click()
    frame.locator("#section-routing").wait_for()
    expect(frame.locator("#routing-default_group-warning")).to_contain_text("choose another")


@pytest.mark.parametrize("key", APPS)
def test_a_conversation_decided_twice_is_listed_once_in_the_activity(key, world, page):
    w = world(key)
    cid = w.driver.new_conversation("How do I reset my password?")
    wait_for(lambda: w.store.decisions.for_ticket(w.installation.id, str(cid)), timeout=30)
    w.driver.say(cid, "This is useless, I want to talk to a human agent now")
    decided = wait_for(lambda: [d for d in w.store.decisions.for_ticket(w.installation.id, str(cid))
                                if d["action"] == "escalate"] and w.store.decisions.for_ticket(w.installation.id, str(cid)),
                       timeout=30)
    other = w.driver.new_conversation("Where is my parcel?")
    wait_for(lambda: w.store.decisions.for_ticket(w.installation.id, str(other)), timeout=30)

    frame = importlib.import_module(f"tests.browser.embed_{key}").open_console(page, w)
    frame.get_by_role("link", name="Activity", exact=True).click()
    rows = frame.locator(f"#activity tbody tr[data-ticket='{cid}']")
    expect(rows).to_have_count(1)  # once, by its latest decision
    expect(rows).to_contain_text("handed over")
    more = rows.locator("a.decided-times")
    expect(more).to_have_text(f"decided {len(decided)} times")
    page.screenshot(path=str(SCREENSHOTS / f"{key}-activity-once.png"), full_page=False)
    more.click()
    expect(frame.locator("#activity-intro")).to_contain_text(f"Every decision Baton made on conversation #{cid}")
    every = frame.locator("#activity tbody tr[data-ticket]")
    expect(every).to_have_count(len(decided))
    expect(every.last).to_contain_text("kept with the bot")  # the earlier decision, reachable
    frame.locator("#all-conversations").click()
    expect(frame.locator(f"#activity tbody tr[data-ticket='{other}']")).to_have_count(1)
