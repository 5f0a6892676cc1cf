"""Installing with a Conversations API key from the command line, as an admin would: the key's app
id lands in the settings, its key id and secret and the webhook secret Zendesk returned in the
encrypted credentials, and Baton is on the sandbox's switchboard."""
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from connectors.zendesk import conversations as sunco
from connectors.zendesk.sandbox import ZendeskDriver
from integration.service.store import Store, Vault, installations

ROOT = Path(__file__).parents[3]


def test_the_install_command_takes_the_conversations_api_key_and_sets_baton_up_on_the_switchboard(tmp_path):
    driver = ZendeskDriver()
    driver.start()
    try:
        key = driver.sandbox.create_key()
        secret_key = Fernet.generate_key().decode()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/b.db", "BATON_SECRET_KEY": secret_key,
               "BATON_DEVELOPMENT": "1"}
        p = subprocess.run([sys.executable, "-m", "integration", "install", "zendesk", "--base-url", driver.url,
                            "--public-url", "http://127.0.0.1:2", "--email", driver.sandbox.api_email,
                            "--token", driver.sandbox.api_token, "--sunco-app-id", key["app_id"],
                            "--sunco-key-id", key["id"], "--sunco-secret", key["secret"]],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        store = Store(f"sqlite:///{tmp_path}/b.db", Vault(secret_key))
        (row,) = store.rows(installations)
        inst = store.installations.get(row["id"])
        (hook,) = driver.sandbox.sunco_webhooks()
        assert inst.settings[sunco.APP_ID] == key["app_id"]
        assert {k: inst.credentials[k] for k in (sunco.KEY_ID, sunco.SECRET, sunco.WEBHOOK_SECRET)} == {
            sunco.KEY_ID: key["id"], sunco.SECRET: key["secret"], sunco.WEBHOOK_SECRET: hook["secret"]}
        assert key["secret"] not in row["credentials"] and hook["secret"] not in row["credentials"]  # encrypted
        assert hook["target"] == f"http://127.0.0.1:2/webhooks/zendesk/{inst.id}"
        assert [m["deliverStandbyEvents"] for m in driver.sandbox.switchboard_members() if m["name"] == "baton"] == [True]
        assert "--sunco-key-id" in subprocess.run([sys.executable, "-m", "integration", "install", "zendesk", "--help"],
                                                  capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    finally:
        driver.stop()
