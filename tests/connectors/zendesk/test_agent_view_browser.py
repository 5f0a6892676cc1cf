"""The sandbox's agent view in a real browser (headless Chromium): the note Baton writes renders
for the agent, and customer text inside it stays text."""
import shutil
import subprocess

import pytest
import requests
from requests.auth import HTTPBasicAuth

from connectors.zendesk.sandbox import ZendeskSandbox
from integration.core.engine import evaluate
from integration.core.handoff import build_package, render_html
from tests.builders import conv

INJECTED = '<b id="injected">gotcha</b><script>document.title="pwned"</script>'


def dump_dom(url: str, profile) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (Debian: apt-get install chromium; .ci/run does it)"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture
def sandbox():
    s = ZendeskSandbox()
    s.start()
    yield s
    s.stop()


def test_the_handoff_note_renders_and_customer_markup_stays_text(sandbox, tmp_path):
    user = sandbox.add_user("Mallory", "m@example.com")
    ticket = sandbox.create_ticket(user["id"], "Help", f"I want to talk to a human {INJECTED}")
    c = conv(f"I want to talk to a human {INJECTED}")
    note = render_html(build_package(c, evaluate(c)))
    r = requests.put(f"{sandbox.url}/api/v2/tickets/{ticket['id']}.json", timeout=10,
                     auth=HTTPBasicAuth(f"{sandbox.api_email}/token", sandbox.api_token),
                     json={"ticket": {"comment": {"html_body": note, "public": False}}})
    assert r.status_code == 200, r.text

    dom = dump_dom(f"{sandbox.url}/agent/tickets/{ticket['id']}", tmp_path / "profile")
    assert "[Baton handoff]" in dom
    assert "Why escalated" in dom
    assert '<b id="injected">' not in dom  # neither the note nor the public comment made an element of it
    assert dom.count('&lt;b id="injected"&gt;gotcha') >= 2  # shown as text, in the comment and in the note
    assert "<title>pwned</title>" not in dom
