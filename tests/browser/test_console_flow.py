"""The admin's round trip in each helpdesk's own embedding, in real Chromium: open Baton's console
from the sandbox's agent UI, type an invalid threshold and see the error at the field, fix it,
preview (the page lists the conversations that change), publish, see the next webhook decided by
the new version, roll back; then an agent gives feedback from the ticket."""
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
    return wait_for(lambda: world.store.decisions_for(world.installation.id, str(cid)), timeout=30)


# Freshchat has no app of Baton's: its console opens through the Freshdesk app
# (tests/connectors/freshchat/test_console_link.py)
@pytest.mark.parametrize("key", [k for k in connectors.KEYS if connectors.driver(k).has_app])
def test_an_admin_previews_publishes_and_rolls_back_and_an_agent_gives_feedback(key, world, page):
    embed = importlib.import_module(f"tests.browser.embed_{key}")
    w = world(key)
    refund, routine = w.driver.new_conversation(REFUND), w.driver.new_conversation(ROUTINE)
    assert decided(w, refund)[-1]["action"] == "escalate" and decided(w, routine)[-1]["action"] == "continue"

    frame = embed.open_console(page, w)
    frame.get_by_role("link", name="Rules", exact=True).click()
    threshold = frame.locator("#sentiment-threshold")
    threshold.fill("1.7")
    frame.locator("#save-draft").click()
    error = frame.locator("#sentiment-threshold-error")
    error.wait_for()
    assert "between 0 and 1" in error.inner_text()
    assert frame.locator("#sentiment-threshold").input_value() == "1.7"  # what was typed stays, to be fixed
    page.screenshot(path=str(SCREENSHOTS / f"{key}-rules-error.png"), full_page=False)

    frame.locator("#sentiment-threshold").fill("0.6")
    refund_row = frame.locator("fieldset.rule-row", has=frame.locator("input[value='refund']"))
    refund_row.locator("select[name$='.action']").select_option("ignore")  # the bot handles refunds now
    frame.locator("#save-preview").click()
    frame.locator("#preview-summary").wait_for()
    assert frame.locator("#count-no_longer_escalated").inner_text() == "1"
    changes = frame.locator("#changes").inner_text()
    assert str(refund) in changes and str(routine) not in changes
    page.screenshot(path=str(SCREENSHOTS / f"{key}-preview.png"), full_page=False)

    frame.locator("#comment").fill("the bot handles refunds")
    frame.locator("#publish").click()
    frame.locator("#published").wait_for()
    assert load_rules(w.store.installation(w.installation.id).rules).topics["refund"].action == "ignore"

    later = w.driver.new_conversation("I want a refund for order 555, it never came")
    decision = decided(w, later)[-1]
    assert decision["action"] == "continue" and decision["rules_version"] == 2

    frame.locator("#rollback-1").click()
    frame.get_by_text("Version 3 is live").wait_for()
    inst = w.store.installation(w.installation.id)
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
    (fb,) = w.store.feedback_for(w.installation.id, str(refund))
    assert (fb["verdict"], fb["resolution"]) == ("right", "refund issued")
