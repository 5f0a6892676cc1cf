import json
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "evaluate_small.jsonl"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "integration", "evaluate", *args],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])


def test_evaluate_writes_one_decision_per_good_line_and_reports_bad_ones():
    p = run(str(FIXTURE))
    assert p.returncode == 1  # some lines were malformed
    decisions = [json.loads(line) for line in p.stdout.splitlines()]
    assert [d["id"] for d in decisions] == ["a", "b", "d", "f"]  # the rest is still evaluated
    assert "line 3: not JSON" in p.stderr
    assert 'line 5: "messages"[0]."role": must be one of customer, bot, agent, system' in p.stderr
    by_id = {d["id"]: d for d in decisions}
    assert by_id["a"]["escalate"] is True and by_id["a"]["action"] == "escalate"
    assert by_id["a"]["reasons"][0]["code"] == "explicit_request"
    assert by_id["a"]["evidence"][0]["quote"] == "Can I talk to a human?"
    assert by_id["b"]["escalate"] is False and by_id["b"]["reasons"] == []
    assert by_id["d"]["category"] == "security_privacy" and by_id["d"]["priority"] == "urgent"
    assert set(by_id["f"]) >= {"id", "escalate", "action", "reasons", "evidence", "priority", "category"}


def test_labels_produce_a_summary_pooled_per_source_and_per_reason(tmp_path):
    out = tmp_path / "out.jsonl"
    p = run(str(FIXTURE), "--output", str(out))
    assert p.stdout == ""
    assert len(out.read_text().splitlines()) == 4
    assert "pooled         n=3     P=1.000 R=1.000 F1=1.000 false-escalations=0.0%" in p.stderr
    assert "demo           n=2" in p.stderr and "other          n=1" in p.stderr
    assert "explicit_request     1.000 (1/1)" in p.stderr
    assert "risky_topic          1.000 (1/1)" in p.stderr


def test_bad_rules_file_is_refused_with_the_field(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text('{"loop": {"rephrases": 0}}')
    p = run(str(FIXTURE), "--rules", str(rules))
    assert p.returncode == 2
    assert "loop.rephrases: must be at least 1" in p.stderr
    assert p.stdout == ""


def test_rules_change_decisions(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text('{"topics": {"cancellation": {"action": "ignore"}}, "model": {"enabled": false}}')
    p = run(str(FIXTURE), "--rules", str(rules))
    f = next(json.loads(line) for line in p.stdout.splitlines() if json.loads(line)["id"] == "f")
    assert f["action"] == "continue"


def test_missing_input_file_is_a_clear_error():
    p = run("does-not-exist.jsonl")
    assert p.returncode == 2 and "does-not-exist.jsonl" in p.stderr


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1])


def test_install_names_the_credentials_each_helpdesk_needs():
    p = cli("install", "zendesk", "--base-url", "http://127.0.0.1:1", "--public-url", "http://127.0.0.1:2")
    assert p.returncode == 2 and "give (--email, --token) or (--oauth-token)" in p.stderr
    p = cli("install", "intercom", "--base-url", "http://127.0.0.1:1", "--public-url", "http://127.0.0.1:2",
            "--access-token", "t")
    assert p.returncode == 2 and "(--access-token, --client-secret)" in p.stderr
    p = cli("install", "freshdesk", "--base-url", "http://127.0.0.1:1", "--public-url", "http://127.0.0.1:2",
            "--api-key", "k", "--mode", "trigger")
    assert p.returncode == 2 and "invalid choice: 'trigger'" in p.stderr
    p = cli("install", "freshdesk", "--help")
    assert "--api-key" in p.stdout and "--email" not in p.stdout and "X-Baton-Secret" in p.stdout


def test_a_failed_install_leaves_nothing_behind_and_bad_settings_name_the_option(tmp_path):
    import os

    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/b.db", "BATON_SECRET_KEY": key, "BATON_DEVELOPMENT": "1"}
    args = ("install", "zendesk", "--base-url", "http://127.0.0.1:9", "--public-url", "http://127.0.0.1:2",
            "--email", "a@b.c", "--token", "t")
    p = subprocess.run([sys.executable, "-m", "integration", *args, "--settings", "{not json"], capture_output=True,
                       text=True, cwd=Path(__file__).parents[1], env=env)
    assert p.returncode == 2 and "--settings is not JSON" in p.stderr
    p = subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1], env=env)
    assert p.returncode == 2 and "cannot connect" in p.stderr  # nothing listens on port 9
    p = subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1], env={**env, "BATON_DEVELOPMENT": ""})
    assert p.returncode == 2 and "over https only" in p.stderr  # a local helpdesk only in development
    from integration.service.store import Store, Vault, installations

    assert Store(f"sqlite:///{tmp_path}/b.db", Vault(key)).rows(installations) == []


def test_replay_queues_an_installations_dead_work_again(tmp_path):
    import os

    from cryptography.fernet import Fernet

    from integration.core.model import Event
    from integration.service.store import Store, Vault, events

    key = Fernet.generate_key().decode()
    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(key))
    store.migrate()
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a", "token": "t"})
    rid = store.events.receive(Event("zendesk", inst.id, "k", "comment_added", "1"))[0]
    store.events.fail(rid, "ApiNotFound: gone", max_attempts=1)
    env = {**os.environ, "DATABASE_URL": store.url, "BATON_SECRET_KEY": key}
    p = subprocess.run([sys.executable, "-m", "integration", "replay", inst.id], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1], env=env)
    assert p.returncode == 0 and "1 dead events" in p.stdout
    (row,) = store.rows(events)
    assert (row["status"], row["attempts"]) == ("received", 0)
    p = subprocess.run([sys.executable, "-m", "integration", "replay", "nope"], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1], env=env)
    assert p.returncode == 2 and "no installation" in p.stderr


def test_evaluate_reports_a_binary_line_and_an_unknown_label_by_line_number(tmp_path):
    good = '{"id": "a", "messages": [{"role": "customer", "text": "Can I talk to a human?"}]}'
    data = tmp_path / "in.jsonl"
    data.write_bytes(good.encode() + b"\n\xff\xfe\x00binary\n"
                     + b'{"id": "b", "messages": [{"role": "customer", "text": "hi"}], "label": "maybe"}\n')
    p = run(str(data))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "line 2: not UTF-8 text" in p.stderr
    assert "line 3: \"label\": must be one of escalate, no_escalate (got 'maybe')" in p.stderr
    assert [json.loads(line)["id"] for line in p.stdout.splitlines()] == ["a"]


def test_evaluate_says_when_the_input_is_empty(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    p = run(str(empty))
    assert p.returncode == 1 and "no conversations in the input" in p.stderr


def test_the_demo_plays_what_the_readme_says_and_serve_shows_full_notes(monkeypatch):
    from integration.tools import demo

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven"]
    assert f"plays {words[len(demo.SCENARIOS)]} conversations" in readme
    import re

    import requests

    lines: list[str] = []
    opened: dict[str, int] = {}

    bot_held: dict[str, str] = {}

    def browse() -> None:  # what a person does before Ctrl-C: open the printed addresses
        for url in re.findall(r"\((?:as the admin|as an agent)\) (\S+)", "\n".join(lines)):
            opened[url] = requests.get(url, timeout=10).status_code
        for url in re.findall(r"open in a browser: (\S+)", "\n".join(lines)):  # the bot-held conversations
            page = requests.get(url, timeout=10)
            bot_held[url] = page.text if page.status_code == 200 else f"status {page.status_code}"

    listed: list[subprocess.CompletedProcess[str]] = []

    def serving() -> None:
        browse()
        # what the demo printed points the command line at its data while it serves
        env = dict(re.findall(r"^  export (\w+)=(.+)$", "\n".join(lines), re.M))
        key_file = re.fullmatch(r"\$\(cat (.+)\)", env["BATON_SECRET_KEY"]).group(1)
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": env["DATABASE_URL"],
               "BATON_SECRET_KEY": Path(key_file).read_text().strip()}
        listed.append(subprocess.run([sys.executable, "-m", "integration", "installations"], capture_output=True,
                                     text=True, cwd=Path(__file__).parents[1], env=env, timeout=60))
        inst = re.search(r"\(installation (\S+)\)", "\n".join(lines)).group(1)
        listed.append(subprocess.run([sys.executable, "-m", "integration", "report", "--installation", inst],
                                     capture_output=True, text=True, cwd=Path(__file__).parents[1], env=env, timeout=120))

    monkeypatch.setattr(demo, "wait_for_interrupt", serving)
    assert demo.run(serve=True, out=lines.append) == 0
    text = "\n".join(lines)
    assert len(opened) == 6 and set(opened.values()) == {200}, opened  # a console and a panel per helpdesk
    installations, report = listed
    assert installations.returncode == 0, installations.stderr
    assert installations.stdout.startswith("4 installations:")  # and Freshdesk Messaging, linked to Freshdesk's
    for name in ("Zendesk", "Freshdesk", "Intercom", "Freshdesk Messaging"):
        assert re.search(rf"^{name}\s+http://127\.0\.0\.1:\d+\s+active\s+as installed\s+\d{{4}}-", installations.stdout,
                         re.M), installations.stdout
    assert report.returncode == 0 and "Handoff rate by category" in report.stdout, report.stderr
    home = Path(re.search(r"SQLite in (\S+),", text).group(1))
    assert not home.exists()  # the demo's folder of customer text is gone once it stops
    # the figures it printed are the page's: one per helpdesk, and the calibration review proposes a change
    assert text.count("  calibration review: ") == 3 and "no small change would decide better" not in text
    assert re.search(r"suggested resolutions: \d+% hit \(\d+ of \d+ handoffs", text)
    assert text.index("Sandboxes: Zendesk http://") < text.index("══ Zendesk sandbox")
    for helpdesk in ("Zendesk", "Freshdesk", "Intercom"):
        section = text.split(f"══ {helpdesk} sandbox")[1].split("\n══ ")[0]
        # every escalation's note in full, not its first lines: five scenarios and the bot-held conversation
        assert section.count("Transcript (") == 6
    # each helpdesk's bot-held conversation opens in its sandbox's own agent view, with Baton's note on it
    assert len(bot_held) == 3 and all("Baton handoff" in page for page in bot_held.values()), bot_held


def test_backtest_prints_what_a_rules_file_would_change_on_an_installations_conversations(tmp_path):
    import os

    from cryptography.fernet import Fernet
    from sqlalchemy import insert

    from integration.core.codec import conversation_to_json
    from integration.core.engine import evaluate
    from integration.service.store import Store, Vault, decisions, utcnow
    from tests.builders import conv

    key = Fernet.generate_key().decode()
    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(key))
    store.migrate()
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a", "token": "t"})
    for ticket, text in (("11", "Please refund my order 1234, it never arrived"), ("12", "How do I reset my password?")):
        c = conv(text)
        c = type(c)(ticket, c.messages, c.customer)
        d = evaluate(c)
        with store.engine.begin() as conn:
            conn.execute(insert(decisions).values(
                installation_id=inst.id, ticket_id=ticket, action=d.action.value, priority=d.priority.value,
                category=d.category, tier=d.tier, reasons=[], explanation=d.explanation, created_at=utcnow(),
                conversation=conversation_to_json(c)))
    rules = tmp_path / "draft.json"
    rules.write_text(json.dumps({"topics": {"refund": {"action": "ignore"}}}))
    env = {**os.environ, "DATABASE_URL": store.url, "BATON_SECRET_KEY": key}

    def backtest(*args):
        return subprocess.run([sys.executable, "-m", "integration", "backtest", *args], capture_output=True,
                              text=True, cwd=Path(__file__).parents[1], env=env)

    p = backtest("--installation", inst.id, "--rules", str(rules))
    assert p.returncode == 0, p.stderr
    assert "replayed 2 conversations: handed over 1 with the live rules, 0 with the draft" in p.stdout
    assert "no longer escalated: 1" in p.stdout and "- 11 no longer escalated: escalate ⇒ continue" in p.stdout
    rules.write_text(json.dumps({"sentiment": {"threshold": 3}}))
    p = backtest("--installation", inst.id, "--rules", str(rules))
    assert p.returncode == 2 and "sentiment.threshold: must be between 0 and 1" in p.stderr
    assert backtest("--installation", "nope", "--rules", str(rules)).returncode == 2


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **values}


def _cli_in(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "integration", *args], capture_output=True, text=True, cwd=cwd,
                          env={**env, "PYTHONPATH": str(Path(__file__).parents[1])}, timeout=120)


DATA_COMMANDS = (("installations",), ("report", "--installation", "x"), ("knowledge", "--installation", "x"),
                 ("backtest", "--installation", "x", "--rules", "r.json"), ("replay", "x"),
                 ("uninstall", "--installation", "x"), ("rotate-keys",))


def test_installations_are_listed_by_helpdesk_account_status_rules_version_and_date(tmp_path):
    from cryptography.fernet import Fernet
    from sqlalchemy import update

    from integration.service.store import Store, Vault, installations

    key = Fernet.generate_key().decode()
    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(key))
    store.migrate()
    empty = _cli_in(tmp_path, _env(tmp_path, DATABASE_URL=store.url, BATON_SECRET_KEY=key), "installations")
    assert empty.returncode == 0 and empty.stdout.startswith("No installation yet")
    zd = store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a", "token": "t"})
    ic = store.installations.add("intercom", "https://api.intercom.io", {"access_token": "t"})
    with store.engine.begin() as conn:
        conn.execute(update(installations).where(installations.c.id == ic.id).values(
            status="broken", status_reason="Intercom refused the access token", rules_version=2))
    store.engine.dispose()
    p = _cli_in(tmp_path, _env(tmp_path, DATABASE_URL=store.url, BATON_SECRET_KEY=key), "installations")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "2 installations:" and lines[1].split() == ["helpdesk", "account", "status", "rules",
                                                                    "installed", "id"]
    import re

    assert re.fullmatch(rf"Zendesk\s+https://acme\.zendesk\.com\s+active\s+as installed\s+"
                        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d UTC\s+{re.escape(zd.id)}", lines[2]), lines[2]
    assert re.fullmatch(rf"Intercom\s+https://api\.intercom\.io\s+waiting for its admin \(Intercom refused the "
                        rf"access token\)\s+version 2\s+\S+ \S+ UTC\s+{re.escape(ic.id)}", lines[3]), lines[3]


def test_a_wrong_key_is_one_sentence_and_exit_1_for_every_command_that_reads_the_database(tmp_path):
    from cryptography.fernet import Fernet

    from integration.service.store import Store, Vault

    store = Store(f"sqlite:///{tmp_path}/b.db", Vault(Fernet.generate_key().decode()))
    store.migrate()
    store.installations.add("zendesk", "https://acme.zendesk.com", {"email": "a", "token": "t"})
    store.engine.dispose()
    (tmp_path / "r.json").write_text("{}")
    for key in (Fernet.generate_key().decode(), "not-a-key"):
        env = _env(tmp_path, DATABASE_URL=store.url, BATON_SECRET_KEY=key)
        for args in DATA_COMMANDS:
            p = _cli_in(tmp_path, env, *args)
            assert p.returncode == 1 and "Traceback" not in p.stderr, (args, p.stderr)
            assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == "", (args, p.stderr)
            assert "BATON_SECRET_KEY is not" in p.stderr and "./run demo --serve" in p.stderr, p.stderr


def test_an_empty_or_missing_database_is_one_sentence_and_creates_nothing(tmp_path):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    (tmp_path / "r.json").write_text("{}")
    fresh = _env(tmp_path, BATON_SECRET_KEY=key)  # no DATABASE_URL: the default .baton/baton.db
    for args in DATA_COMMANDS:
        p = _cli_in(tmp_path, fresh, *args)
        assert p.returncode == 1 and "Traceback" not in p.stderr, (args, p.stderr)
        assert f"there is no Baton database at {tmp_path}/.baton/baton.db" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert not (tmp_path / ".baton").exists()  # no empty database or folder left behind
    blank = tmp_path / "blank.db"
    blank.touch()
    p = _cli_in(tmp_path, _env(tmp_path, BATON_SECRET_KEY=key, DATABASE_URL=f"sqlite:///{blank}"), "installations")
    assert p.returncode == 1 and "has no Baton tables" in p.stderr and "python -m integration migrate" in p.stderr
    assert blank.stat().st_size == 0
    p = _cli_in(tmp_path, _env(tmp_path, DATABASE_URL=f"sqlite:///{blank}"), "installations")
    assert p.returncode == 1 and "BATON_SECRET_KEY is not set" in p.stderr


def test_evaluate_takes_the_chat_roles_user_and_assistant(tmp_path):
    from integration.core.model import Role
    from integration.tools.evaluate import conversation_from_dict

    line = {"id": "chat", "messages": [{"role": "user", "text": "How do I export my invoices?"},
                                       {"role": "assistant", "text": "Go to Billing."},
                                       {"role": "user", "text": "That's useless, I want to talk to a human"}]}
    assert [m.role for m in conversation_from_dict(line).messages] == [Role.CUSTOMER, Role.BOT, Role.CUSTOMER]
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps(line) + "\n")
    p = run(str(data))
    assert p.returncode == 0, p.stderr
    decision = json.loads(p.stdout)
    assert decision["action"] == "escalate" and "explicit_request" in [r["code"] for r in decision["reasons"]]
    data.write_text(json.dumps({"id": "x", "messages": [{"role": "human", "text": "hi"}]}) + "\n")
    p = run(str(data))
    assert p.returncode == 1 and "must be one of customer, bot, agent, system (or the chat roles user, assistant)" in p.stderr
