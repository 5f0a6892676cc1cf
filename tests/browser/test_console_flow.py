"""The admin's round trip in each helpdesk's own embedding, in real Chromium, as a new admin does it
(issue 20): route refunds to the Billing group by its name and save from the save bar, which stays
in view; type an invalid threshold and see the error at the field; be warned before leaving unsaved
changes; preview (the page lists the conversations that change); publish after a confirmation with
the preview's figures; see the next webhook decided by the new version; roll back after a
confirmation; then an agent gives feedback from the ticket. No id is typed anywhere."""
from __future__ import annotations

import importlib

import pytest

import connectors
from integration.core.rules import load_rules
from integration.tools.local import wait_for
from tests.browser.conftest import SCREENSHOTS

REFUND = "Please refund my order 1234, it never arrived"
ROUTINE = "How do I reset my password?"


def decided(world, cid):
    return wait_for(lambda: world.store.decisions.for_ticket(world.installation.id, str(cid)), timeout=30)


def with_groups(w, *names):
    """The helpdesk's groups (or teams) as its admin set them up, one agent each, synced to Baton as its
    roster sync does; name → id."""
    ids = {}
    for name in names:
        ids[name] = str(w.driver.add_group(name))
        w.driver.add_agent(f"{name} agent", ids[name])
    w.store.installations.save_roster(w.installation.id, connectors.get(w.driver.key).client(w.installation).roster())
    return ids


def in_view(frame, selector):
    """Whether the element is inside the visible part of its page (its frame's viewport)."""
    return frame.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                                        return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }""",
                          selector)


# Freshchat has no app of Baton's: its console opens through the Freshdesk app
# (tests/connectors/freshchat/test_console_link.py)
@pytest.mark.parametrize("key", [k for k in connectors.KEYS if connectors.driver(k).has_app])
def test_an_admin_routes_by_name_previews_publishes_and_rolls_back_and_an_agent_gives_feedback(key, world, page):
    embed = importlib.import_module(f"tests.browser.embed_{key}")
    w = world(key)
    groups = with_groups(w, "Support", "Billing")
    refund, routine = w.driver.new_conversation(REFUND), w.driver.new_conversation(ROUTINE)
    assert decided(w, refund)[-1]["action"] == "escalate" and decided(w, routine)[-1]["action"] == "continue"

    frame = embed.open_console(page, w)
    frame.get_by_role("link", name="Rules", exact=True).click()
    frame.locator("#save-bar").wait_for()
    assert in_view(frame, "#save-bar")  # saving never needs a scroll to the bottom

    # routing: refunds to Billing, chosen by name (the rules keep the group's id)
    frame.locator("#tab-routing").click()
    new_route = frame.locator("#routing-categories fieldset.rule-row--new")
    new_route.locator("select[name$='.__key__']").select_option(label="Refund")
    new_route.locator("select[name$='.group']").select_option(label="Billing")
    assert in_view(frame, "#save-bar")
    frame.locator("#save-draft").click()
    frame.locator("#draft-saved").wait_for()
    assert load_rules(w.store.rules.draft(w.installation.id)["rules"]).routing.categories["refund"].group == groups["Billing"]
    assert frame.locator("#section-routing").is_visible()  # back on the section saved
    assert "Refund → Billing." in frame.locator("#sentences-routing").inner_text()

    # a threshold out of range: refused at its field, with what was typed kept
    frame.locator("#tab-handover").click()
    frame.locator("#sentiment-threshold").fill("1.7")
    frame.locator("#save-draft").click()
    error = frame.locator("#sentiment-threshold-error")
    error.wait_for()
    assert "between 0 and 1" in error.inner_text()
    assert frame.locator("#sentiment-threshold").input_value() == "1.7"
    page.screenshot(path=str(SCREENSHOTS / f"{key}-rules-error.png"), full_page=False)

    # leaving unsaved changes asks first; staying keeps them
    frame.locator("#sentiment-threshold").fill("0.6")
    frame.get_by_role("link", name="Activity", exact=True).click()
    warning = frame.locator("#leave-warning")
    warning.wait_for()
    assert "unsaved changes" in warning.inner_text()
    frame.locator("#leave-stay").click()
    assert frame.locator("#leave-warning").count() == 0
    assert frame.locator("#sentiment-threshold").input_value() == "0.6"

    frame.locator("#tab-topics").click()
    refund_row = frame.locator("fieldset.rule-row", has=frame.locator("input[value='refund']"))
    refund_row.locator("select[name$='.action']").select_option(label="ignore it")  # the bot handles refunds now
    page.screenshot(path=str(SCREENSHOTS / f"{key}-rules.png"), full_page=False)
    frame.locator("#save-preview").click()
    frame.locator("#preview-summary").wait_for()
    assert frame.locator("#count-no_longer_escalated").inner_text() == "1"
    changes = frame.locator("#changes").inner_text()
    assert str(refund) in changes and str(routine) not in changes
    page.screenshot(path=str(SCREENSHOTS / f"{key}-preview.png"), full_page=False)

    # publishing asks first, with the preview's figures and the rules that change, in words
    frame.locator("#comment").fill("the bot handles refunds")
    frame.locator("#publish").click()
    frame.locator("#confirm-publish").wait_for()
    assert frame.locator("#count-no_longer_escalated").inner_text() == "1"
    diff = frame.locator("#confirm-diff").inner_text()
    assert "Topic “refund”: what Baton does" in diff and "Frustration: threshold" in diff
    assert frame.locator("#comment").input_value() == "the bot handles refunds"
    page.screenshot(path=str(SCREENSHOTS / f"{key}-publish.png"), full_page=False)
    frame.locator("#confirm-publish").click()
    frame.locator("#published").wait_for()
    live = load_rules(w.store.installations.get(w.installation.id).rules)
    assert live.topics["refund"].action == "ignore" and live.sentiment.threshold == 0.6

    later = w.driver.new_conversation("I want a refund for order 555, it never came")
    decision = decided(w, later)[-1]
    assert decision["action"] == "continue" and decision["rules_version"] == 2

    # rolling back asks first too
    frame.locator("#rollback-1").click()
    frame.locator("#confirm-rollback").wait_for()
    assert "Roll back to version 1?" in frame.locator("#confirm-title").inner_text()
    frame.locator("#confirm-rollback").click()
    frame.get_by_text("Version 3 is live").wait_for()
    inst = w.store.installations.get(w.installation.id)
    assert inst.rules_version == 3 and load_rules(inst.rules).topics["refund"].action == "escalate"

    panel = embed.open_panel(page, w, refund)
    if key == "intercom":  # a Canvas Kit card, drawn by the inbox: tests/browser/test_intercom_app.py gives feedback there
        panel.get_by_text("Handed over").first.wait_for()
        return
    panel.locator("#decision").wait_for()
    assert "Handed over" in panel.locator("#decision").inner_text()
    panel.locator("input[name='verdict'][value='right']").check()
    panel.locator("#resolution").select_option("refund issued")
    panel.locator("#missing_knowledge").fill("orders lost in transit are refunded without asking")
    panel.get_by_role("button", name="Save feedback").click()
    panel.locator("#feedback-saved").wait_for()
    (fb,) = w.store.decisions.feedback_for(w.installation.id, str(refund))
    assert (fb["verdict"], fb["resolution"]) == ("right", "refund issued")
    assert panel.locator("input[name='verdict'][value='right']").is_checked()  # the saved choice stays shown
