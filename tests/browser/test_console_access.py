"""In real Chromium: what a browser is refused (a forged sign-in, an unknown or another
installation's session, a form without its CSRF token), and the panel at the sidebar's width,
used from the keyboard."""
from __future__ import annotations

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integration.service.console.session import Identity, issue
from integration.tools.local import wait_for
from tests.browser.embed_zendesk import open_console, open_panel


def _post_token(page, url: str, token: str) -> None:
    """What the helpdesk does on a signed load: an auto-submitted form carrying ``token``."""
    page.set_content(f"<form id='f' method='post' action='{url}'><input name='token' value='{token}'></form>")
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")


def test_a_forged_sign_in_an_expired_or_foreign_session_and_a_missing_csrf_token_are_refused(world, page):
    w = world("zendesk")
    sandbox = w.driver.sandbox
    admin = int(w.driver.staff("admin"))
    genuine = jwt.decode(sandbox.app_token(admin, "nav_bar"), options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _post_token(page, f"{w.baton_url}/apps/zendesk/nav_bar", jwt.encode(genuine, forger, algorithm="RS256"))
    assert "could not verify" in page.inner_text("body") and "Rules" not in page.inner_text("body")

    secret = w.server.app.config["SECRET_KEY"]
    other = w.store.installations.add("zendesk", "https://other.zendesk.com", {"token": "x"})
    foreign = issue(secret, Identity(other.id, "1", "Mallory", "admin", "zendesk"))
    page.goto(f"{w.baton_url}/console/rules?s={foreign}")
    assert w.installation.id not in page.content()  # B's session reaches B's rules only, never A's
    page.goto(f"{w.baton_url}/console/?s=not-a-session")
    assert "not one Baton issued" in page.inner_text("body")

    frame = open_console(page, w)
    frame.get_by_role("link", name="Rules", exact=True).click()
    frame.locator("#sentiment-threshold").fill("0.9")
    frame.evaluate("document.querySelector('#rules-form input[name=csrf]').remove()")
    frame.locator("#save-draft").click()
    frame.get_by_text("missing or wrong CSRF token").wait_for()
    assert w.store.rules.draft(w.installation.id) is None


def test_the_panel_reads_at_sidebar_width_and_works_from_the_keyboard(world, page):
    w = world("zendesk")
    cid = w.driver.new_conversation("I was charged twice, I want to talk to a human")
    wait_for(lambda: w.store.decisions.for_ticket(w.installation.id, str(cid)), timeout=30)
    frame = open_panel(page, w, cid)  # in the sandbox's 320 px ticket sidebar, as in Zendesk
    width = frame.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[1] <= 320 and width[0] <= width[1], f"the panel scrolls sideways in the sidebar: {width}"
    frame.locator("input[name='verdict'][value='not_needed']").focus()
    page.keyboard.press("Space")  # choose the verdict
    frame.locator("#missing_knowledge").focus()
    page.keyboard.type("how to merge two invoices")
    page.keyboard.press("Tab")  # to the Save button
    page.keyboard.press("Enter")
    frame.locator("#feedback-saved").wait_for()
    (fb,) = w.store.decisions.feedback_for(w.installation.id, str(cid))
    assert (fb["verdict"], fb["missing_knowledge"]) == ("not_needed", "how to merge two invoices")
