"""Baton's Intercom app in a real browser, on the Intercom sandbox: an admin installs it from the
App Store through OAuth and lands in the console; an agent sees Baton's card on a conversation
and gives feedback; uninstalling in Intercom stops Baton."""
from __future__ import annotations

from playwright.sync_api import expect

from integration.service.store import installations
from integration.tools.local import wait_for
from tests.browser.conftest import SCREENSHOTS
from tests.browser.embed_intercom import open_console, open_panel, teammate

HUMAN = "I was charged twice for my annual plan. Can I talk to a human please?"


def test_an_admin_installs_baton_from_the_app_store_and_lands_in_the_console(world, page):
    w = world("intercom", install=False)
    ada = teammate(w, "admin")  # a teammate of a workspace without Baton
    pg = open_console(page, w, user=ada)
    expect(pg.locator("h1")).to_have_text("Baton in this Intercom account")
    expect(pg.locator("#connected")).to_be_visible()
    expect(pg.locator("nav.baton-nav")).to_contain_text("Rules")
    inst = w.store.installations.find("intercom", setting=("app_id", w.driver.sandbox.app_id))
    assert inst is not None and inst.status == "active" and inst.base_url == w.driver.url
    assert inst.settings["api_user_id"] == ada  # Baton acts as, and is administered by, who installed it
    assert [a["action"] for a in w.store.rules.audit_log(inst.id)] == ["install"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "intercom-console.png"), full_page=True)

    # the console works as a top-level page: its links keep the session
    pg.click("nav.baton-nav >> text=Activity")
    expect(pg.locator("main")).to_be_visible()
    assert "/console/activity" in pg.url


def test_a_teammate_who_is_not_a_baton_admin_gets_no_console(world, page):
    w = world("intercom")
    pg = open_console(page, w, user="agent")
    expect(pg.locator("[role=alert]")).to_contain_text("ask the teammate who installed Baton")
    expect(pg.locator("nav.baton-nav")).to_have_count(0)


def test_an_admin_of_an_operator_installed_workspace_reaches_the_console(world, page):
    w = world("intercom")
    pg = open_console(page, w)
    expect(pg.locator("#connected")).to_be_visible()
    assert len(w.store.rows(installations)) == 1  # signing in installs nothing more


def test_an_agent_sees_the_handoff_on_the_conversation_and_gives_feedback(world, page):
    w = world("intercom")
    cid = w.driver.new_conversation(HUMAN)
    (decision,) = wait_for(lambda: w.store.decisions.activity(w.installation.id, ticket_id=cid))
    pg = open_panel(page, w, cid)
    card = pg.locator("#app-card")
    expect(card.locator("[data-id=decision]")).to_have_text("Handed over to a person")
    expect(card).to_contain_text("talk to a human")  # the evidence
    expect(card).to_contain_text("Route and wait")
    expect(card).to_contain_text("Customer")

    # nothing chosen: the error sits by the text area, which is marked invalid, and nothing is stored
    card.locator("button[data-id=save_feedback]").click()
    expect(card.locator("[data-id=feedback_error]")).to_contain_text("Nothing to save")
    expect(card.locator("textarea[data-id=missing_knowledge]")).to_have_attribute("aria-invalid", "true")
    assert w.store.decisions.feedback_for(w.installation.id, cid) == []

    expect(card.locator("[data-id=verdict] legend")).to_have_text("The handoff was …")
    card.get_by_label("Right", exact=True).check()
    card.locator("select[data-id=resolution]").select_option("refund issued")
    card.locator("textarea[data-id=missing_knowledge]").fill("Annual plans are refunded pro rata.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "intercom-panel.png"), full_page=True)
    card.locator("button[data-id=save_feedback]").click()
    expect(card.locator("[data-id=notice]")).to_contain_text("your feedback is saved")

    (row,) = w.store.decisions.feedback_for(w.installation.id, cid)
    agent = teammate(w, "agent")
    assert (row["verdict"], row["resolution"], row["missing_knowledge"], row["author_id"], row["decision_id"]) == (
        "right", "refund issued", "Annual plans are refunded pro rata.", agent, decision["id"])
    expect(card).to_contain_text("Alex: Escalation was right · refund issued")

    # the saved answer stays on the card; saving it again unchanged stores nothing more
    expect(card.get_by_label("Right", exact=True)).to_be_checked()
    expect(card.locator("textarea[data-id=missing_knowledge]")).to_have_value("Annual plans are refunded pro rata.")
    card.locator("button[data-id=save_feedback]").click()
    expect(card.locator("[data-id=notice]")).to_contain_text("your feedback is saved")
    assert len(w.store.decisions.feedback_for(w.installation.id, cid)) == 1


def test_uninstalling_in_intercom_stops_baton_and_its_card_says_so(world, page):
    w = world("intercom", install=False)
    open_console(page, w)
    inst = w.store.installations.find("intercom", setting=("app_id", w.driver.sandbox.app_id))
    console = page.url
    page.goto(f"{w.driver.url}/a/appstore")
    page.click("#uninstall")
    expect(page.locator("#notice")).to_contain_text("answered 200")
    assert w.store.installations.get(inst.id).status == "uninstalled"
    page.goto(console)
    expect(page.locator("[role=alert]")).to_contain_text("not installed in this helpdesk account any more")
    cid = w.driver.new_conversation("hello")
    open_panel(page, w, cid)
    expect(page.locator("#app-card")).to_contain_text("Baton is not installed in this workspace")
