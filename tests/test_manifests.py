import json
from pathlib import Path

ROOT = Path(__file__).parents[1] / "manifests"
# keys zendesk_apps_support accepts in manifest.json (helpdesk_api_facts.md §1.5)
ZAF_KEYS = {"name", "author", "defaultLocale", "private", "location", "version", "frameworkVersion", "singleInstall",
            "signedUrls", "noTemplate", "parameters", "domainWhitelist", "oauth", "requirementsOnly", "marketingOnly",
            "remoteInstallationURL", "termsConditionsURL", "gaID", "experiments"}
PARAM_TYPES = {"text", "checkbox", "url", "number", "multiline", "hidden", "oauth", "mtls"}


def test_zendesk_manifest_uses_only_known_keys_and_has_the_required_ones():
    manifest = json.loads((ROOT / "zendesk/manifest.json").read_text())
    assert set(manifest) <= ZAF_KEYS
    assert {"author", "defaultLocale", "frameworkVersion"} <= set(manifest)
    assert all(p["type"] in PARAM_TYPES for p in manifest["parameters"])


def test_zendesk_requirements_webhook_matches_what_the_connector_parses():
    from connectors.zendesk.client import EVENT_SUBSCRIPTIONS
    from connectors.zendesk.webhook import SUPPORTED_EVENTS

    hook = json.loads((ROOT / "zendesk/requirements.json").read_text())["webhooks"]["baton_events"]
    assert {"name", "status", "endpoint", "http_method", "request_format"} <= set(hook)
    assert sorted(hook["subscriptions"]) == sorted(EVENT_SUBSCRIPTIONS) == sorted(SUPPORTED_EVENTS)
