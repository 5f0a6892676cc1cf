"""Baton's Freshdesk marketplace app in a real browser, on the Freshdesk sandbox: an admin installs
it from its settings page, opens the console as a full-page app; agents get the ticket sidebar's
panel and give feedback, and never the console."""
from __future__ import annotations

import json

from playwright.sync_api import expect

from connectors.freshdesk.app import KEY_SETTING, key_matches
from integration.tools.local import wait_for
from tests.browser.conftest import SCREENSHOTS
from tests.browser.embed_freshdesk import open_console, open_panel


def test_an_admin_installs_baton_from_the_settings_page_then_opens_the_console(world, page):
    w = world("freshdesk", install=False)
    sandbox = w.driver.sandbox
    page.goto(f"{w.driver.url}/a/admin/apps/baton/install?as={w.driver.app_user('admin')}")
    settings = page.frame_locator("#baton-settings")
    settings.locator("#baton-url").fill(w.baton_url)
    settings.locator("#api-key").fill("not-the-api-key")
    page.click("#install")
    expect(page.locator("#install-result")).to_have_attribute("data-state", "refused")
    expect(settings.locator("#error")).to_contain_text("Freshdesk refused this API key")
    assert w.store.installations.find("freshdesk", base_url=w.driver.url) is None and sandbox.app_iparams == {}

    settings.locator("#api-key").fill(sandbox.api_key)
    page.click("#install")
    expect(page.locator("#install-result")).to_have_attribute("data-state", "installed")
    inst = w.store.installations.find("freshdesk", base_url=w.driver.url)
    assert inst is not None and inst.credentials == {"api_key": sandbox.api_key} and inst.settings["mode"] == "app"
    key = sandbox.app_secure_iparams["baton_key"]  # a secure iparam: for the proxy's headers only
    assert key_matches(key, inst.settings[KEY_SETTING]) and key not in json.dumps(inst.settings)
    assert sandbox.app_secure_iparams["baton_secret"] == inst.webhook_secret
    assert sandbox.app_iparams == {"baton_url": w.baton_url, "baton_host": w.baton_url.split("//")[1],
                                   "baton_installation": inst.id}

    frame = open_console(page, w)
    expect(frame.locator("#connected")).to_be_visible()
    expect(frame.locator("h1")).to_have_text("Baton in this Freshdesk account")
    # the page's own script cannot read the key: client.iparams.get() leaves secure iparams out
    assert frame.evaluate("app.initialized().then(c => c.iparams.get())") == sandbox.app_iparams

    # the app forwards the product events it subscribes to: a customer writes, Baton decides
    ticket = w.driver.new_conversation("I want to talk to a human, please.", subject="Charged twice")
    wait_for(lambda: w.store.decisions.activity(inst.id, ticket_id=ticket), timeout=20)
    frame.click("nav.baton-nav >> text=Activity")  # links go through the app's shell too
    expect(frame.locator("h1")).to_contain_text("Activity")
    expect(frame.locator("#baton-main")).to_contain_text(ticket)
    frame.click("nav.baton-nav >> text=Overview")
    expect(frame.locator("#events-today")).to_have_text("1")
    page.screenshot(path=str(SCREENSHOTS / "freshdesk-console.png"), full_page=True)


def test_an_agent_is_refused_the_console(world, page):
    w = world("freshdesk")  # installed by the operator's command: the app gets a key of that installation
    frame = open_console(page, w, user="agent")
    expect(frame.locator(".c-callout--error")).to_contain_text("Only the helpdesk's administrators")
    expect(frame.locator("nav.baton-nav")).to_have_count(0)
    expect(frame.locator("#connected")).to_have_count(0)


def test_an_agent_opens_the_ticket_sidebar_and_gives_feedback(world, page):
    w = world("freshdesk")
    ticket = w.driver.new_conversation("This is my third message. I want to talk to a human now!",
                                       subject="Charged twice")
    wait_for(lambda: w.store.decisions.activity(w.installation.id, ticket_id=ticket), timeout=20)
    frame = open_panel(page, w, ticket)
    expect(frame.locator("#decision")).to_be_visible()
    expect(frame.locator("nav.baton-nav")).to_have_count(0)  # the panel only

    frame.check("input[name=verdict][value=right]")
    frame.select_option("#resolution", "refund issued")
    frame.fill("#missing_knowledge", "Refunds over 100 EUR always need a person")
    frame.click("#feedback button[type=submit]")
    expect(frame.locator("#feedback-saved")).to_be_visible()
    expect(frame.locator("#feedback-list")).to_contain_text("Pat Agent")
    (saved,) = w.store.decisions.feedback_for(w.installation.id, ticket)
    assert (saved["verdict"], saved["resolution"], saved["missing_knowledge"]) == (
        "right", "refund issued", "Refunds over 100 EUR always need a person")
    assert (saved["author_id"], saved["author_name"]) == (str(w.driver.app_user("agent")), "Pat Agent")
    page.screenshot(path=str(SCREENSHOTS / "freshdesk-panel.png"), full_page=True)
