"""Baton's Zendesk app in real Chromium, on the sandbox acting as Zendesk: the signed iframe loads
(nav_bar → console, ticket_sidebar → panel through the ZAF SDK), who may see what, and connecting
an account Baton does not know through OAuth from inside the app."""
from __future__ import annotations

from tests.browser.conftest import SCREENSHOTS
from tests.browser.embed_zendesk import baton_frame, open_app, open_console, open_panel, signed_in
from integration.tools.local import wait_for

ESCALATING = "This is the third time I write, I want to talk to a human now. My invoice 7781 is charged twice."


def test_an_admin_opens_the_console_from_the_apps_bar(world, page):
    w = world("zendesk")
    frame = open_console(page, w)
    assert "Baton in this Zendesk account" in frame.locator("h1").inner_text()
    assert frame.locator("#connected").is_visible()
    assert frame.get_by_role("link", name="Rules", exact=True).is_visible()  # the admin's navigation
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "zendesk-console.png"), full_page=False)


def test_an_agent_opening_the_apps_bar_is_refused_the_console(world, page):
    w = world("zendesk")
    frame = open_app(page, w, user="agent")
    assert "Only the account's administrators" in frame.locator("#baton-main").inner_text()
    assert "/console/" not in frame.url and frame.get_by_role("link", name="Rules").count() == 0


def test_an_agent_sees_the_panel_of_the_ticket_and_gives_feedback(world, page):
    w = world("zendesk")
    cid = w.driver.new_conversation(ESCALATING)
    wait_for(lambda: w.store.decisions.for_ticket(w.installation.id, str(cid)), timeout=30)
    frame = open_panel(page, w, cid)
    assert f"ticket={cid}" in frame.url  # the ticket the ZAF SDK got from the page, not one Baton guessed
    assert "Handed over" in frame.locator("#decision").inner_text()
    frame.locator("input[name='verdict'][value='right']").check()
    frame.locator("#missing_knowledge").fill("double charges are refunded at once")
    frame.get_by_role("button", name="Save feedback").click()
    frame.locator("#feedback-saved").wait_for()
    (fb,) = w.store.decisions.feedback_for(w.installation.id, str(cid))
    assert (fb["verdict"], fb["author_id"]) == ("right", w.driver.staff("agent"))
    page.screenshot(path=str(SCREENSHOTS / "zendesk-panel.png"), full_page=False)


def test_an_admin_connects_an_unknown_account_from_the_app_and_lands_in_the_console(world, page):
    w = world("zendesk", install=False)
    w.driver.install_app(w.baton_url)
    (requirement,) = w.driver.sandbox.requirement_webhooks()
    assert requirement["status"] == "inactive"

    frame = open_app(page, w, user="admin")
    connect = frame.locator("#connect")
    assert "Connect Baton" in connect.inner_text()
    with page.context.expect_page() as opened:
        connect.click()
    tab = opened.value
    tab.locator("#allow").click()  # Zendesk's consent page, as the admin who clicked Connect
    console = baton_frame(tab, w, lambda url: "/console/" in url)
    assert "Baton in this Zendesk account" in console.locator("h1").inner_text()

    inst = w.store.installations.find("zendesk", base_url=w.driver.url)
    assert inst is not None and inst.status == "active" and set(inst.credentials) == {"oauth_token"}
    assert inst.settings["api_user_id"] == signed_in(w, "admin")
    # the app's own webhook was adopted (no second one), switched on and pointed at the installation
    (hook,) = w.driver.sandbox.requirement_webhooks()
    assert hook["id"] == inst.settings["webhook_id"] and hook["status"] == "active"
    assert hook["endpoint"] == f"{w.baton_url}/webhooks/zendesk/{inst.id}"
    assert [h["name"] for h in w.driver.sandbox.requirement_webhooks()] == ["Baton handoff"]

    cid = w.driver.new_conversation(ESCALATING)  # events now reach Baton, signed with the adopted secret
    assert wait_for(lambda: w.store.decisions.for_ticket(inst.id, str(cid)), timeout=30)
