"""The Freshdesk app package (``manifests/freshdesk/``) against the FDK Platform 3.0 rules that
``fdk validate`` applies (the CLI ships only from Freshworks' CDN, so the rules are ported here).
Sources: freshworks-developers/freshworks-platform3 (skills/freshworks_app_dev_skill/references:
architecture/platform3-manifest-structure.md, freshdesk_support_ticket.md,
request-templates-latest.md, api/request-method-docs.md, runtime/custom-iparams-docs.md,
runtime/iparams-comparison.md, architecture/app_setup_events_doc.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from connectors.freshdesk import webhook
from connectors.freshdesk.app import KEY_HEADER

ROOT = Path(__file__).resolve().parents[3] / "manifests" / "freshdesk"
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
TEMPLATES = json.loads((ROOT / "config" / "requests.json").read_text())
MANIFEST_KEYS = {"platform-version", "modules", "engines", "dependencies"}
# Placeholders per module (freshdesk_support_ticket.md; common: platform3-manifest-structure.md)
LOCATIONS = {
    "common": {"full_page_app", "cti_global_sidebar"},
    "support_ticket": {"ticket_sidebar", "ticket_requester_info", "ticket_top_navigation", "ticket_background",
                       "time_entry_background", "ticket_attachment", "ticket_conversation_editor",
                       "new_ticket_requester_info", "new_ticket_background"},
}
FRESHDESK_MODULES = {"common", "support_email", "support_ticket", "support_contact", "support_company",
                     "support_portal", "support_agent"}
COMMON_EVENTS = {"onAppInstall", "afterAppUpdate", "onAppUninstall", "onExternalEvent", "onScheduledEvent"}
SCHEMA_KEYS = {"protocol", "method", "host", "path", "headers", "query"}
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}
CONTENT_TYPES = {"application/json", "application/xml", "text/html", "text/xml", "application/jsonp", "text/plain",
                 "text/javascript", "application/vnd.api+json"}
PLACEHOLDER = re.compile(r"<%=\s*(iparam|context)\.(\w+)\s*%>")


def scripts(*folders: str) -> str:
    return "\n".join(p.read_text() for folder in folders for p in sorted((ROOT / folder).rglob("*.js"))
                     if "vendor" not in p.parts)


def invoked(source: str) -> set[str]:
    return set(re.findall(r"invokeTemplate\(\s*\"(\w+)\"", source))


def secure_iparams() -> set[str]:
    """The iparams the settings page stores as secure (``__meta.secure`` in postConfigs)."""
    match = re.search(r"secure:\s*\[([^\]]*)\]", scripts("config"))
    assert match, "postConfigs must declare __meta.secure"
    return set(re.findall(r"\"(\w+)\"", match.group(1)))


def test_the_manifest_is_platform_3_with_freshdesk_modules_and_engines():
    assert set(MANIFEST) <= MANIFEST_KEYS and MANIFEST["platform-version"] == "3.0"
    modules = MANIFEST["modules"]
    assert "common" in modules and set(modules) - {"common"} and set(modules) <= FRESHDESK_MODULES
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["engines"]["node"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["engines"]["fdk"])


def test_each_location_is_a_placeholder_of_its_module_and_a_packaged_page():
    found = {}
    for module, body in MANIFEST["modules"].items():
        for name, location in body.get("location", {}).items():
            assert name in LOCATIONS.get(module, set()), f"{name} is not a {module} placeholder"
            assert set(location) == {"url", "icon"}
            assert not location["url"].startswith(("http:", "https:", "//")), "Platform 3.0 pages are packaged files"
            assert (ROOT / "app" / location["url"]).is_file() and (ROOT / "app" / location["icon"]).is_file()
            found[name] = location["url"]
    assert found == {"full_page_app": "index.html", "ticket_sidebar": "sidebar.html"}


def test_every_page_loads_the_app_client_and_nothing_from_a_cdn():
    pages = [*(ROOT / "app").glob("*.html"), ROOT / "config" / "iparams.html"]
    for page in pages:
        text = page.read_text()
        assert "{{{appclient}}}" in text, page.name
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{page.name} loads something from elsewhere"
    crayons = ROOT / "app" / "vendor" / "crayons"
    assert (crayons / "LICENSE.md").read_text().startswith("MIT License") and (crayons / "crayons.esm.js").is_file()


def test_the_declared_templates_are_the_defined_ones_and_the_ones_the_code_invokes():
    declared = set(MANIFEST["modules"]["common"]["requests"])
    assert all(body == {} for body in MANIFEST["modules"]["common"]["requests"].values())
    assert declared == set(TEMPLATES)
    assert invoked(scripts("app", "config", "server")) == declared
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in declared)


def test_each_template_follows_the_request_method_schema():
    for name, template in TEMPLATES.items():
        assert set(template) <= {"schema", "options"}, name
        schema = template["schema"]
        assert set(schema) <= SCHEMA_KEYS and {"method", "host", "path"} <= set(schema), name
        assert schema["method"] in METHODS and schema.get("protocol", "https") == "https", name
        assert "://" not in schema["host"] and not schema["host"].endswith("/"), name
        assert schema["path"].startswith("/"), name
        assert schema.get("headers", {}).get("Content-Type", "application/json") in CONTENT_TYPES, name
        options = template.get("options", {})
        assert set(options) <= {"maxAttempts", "retryDelay"}, name
        assert 1 <= options.get("maxAttempts", 1) <= 5, name
        assert options.get("retryDelay", 0) % 100 == 0 and 0 <= options.get("retryDelay", 0) <= 1500, name


def test_placeholders_are_substituted_only_where_the_platform_substitutes_them():
    """iparam and context placeholders only; secure iparams in headers only; context in host and
    headers only for templates called from the settings page or serverless code."""
    secure = secure_iparams()
    from_pages = invoked(scripts("app"))
    for name, template in TEMPLATES.items():
        schema = template["schema"]
        parts = {"host": schema["host"], "path": schema["path"],
                 **{f"query.{k}": v for k, v in schema.get("query", {}).items()},
                 **{f"headers.{k}": v for k, v in schema.get("headers", {}).items()}}
        for part, text in parts.items():
            assert text.count("<%") == len(PLACEHOLDER.findall(text)), f"{name} {part}: unknown placeholder"
            for source, key in PLACEHOLDER.findall(text):
                if source == "iparam" and key in secure:
                    assert part.startswith("headers."), f"{name}: secure iparam {key} in {part}"
                if source == "context" and not part.startswith(("path", "query")):
                    assert name not in from_pages, f"{name}: context in {part} from an app page"


def test_the_templates_reach_batons_endpoints_with_its_secrets_in_headers():
    assert TEMPLATES["baton_page"]["schema"]["headers"][KEY_HEADER] == "<%= iparam.baton_key %>"
    assert TEMPLATES["baton_uninstall"]["schema"]["headers"][KEY_HEADER] == "<%= iparam.baton_key %>"
    event = TEMPLATES["baton_event"]["schema"]
    assert event["path"] == "/webhooks/freshdesk/<%= iparam.baton_installation %>"
    assert event["headers"][webhook.SECRET_HEADER] == "<%= iparam.baton_secret %>"
    assert {"baton_key", "baton_secret"} <= secure_iparams()
    assert "baton_installation" not in secure_iparams()  # a path may only take non-secure iparams


def test_the_settings_page_is_custom_iparams_only():
    config = ROOT / "config"
    assert (config / "iparams.html").is_file() and not (config / "iparams.json").exists()
    page = (config / "iparams.html").read_text()
    code = page + "".join((config / src.lstrip("./")).read_text()
                          for src in re.findall(r"<script src=\"(\./assets/[^\"]+)\"", page))
    for method in ("postConfigs", "getConfigs", "validate"):
        assert re.search(rf"^(async )?function {method}\(", code, re.M), f"iparams.html must define {method}()"
    assert "__meta" in code and invoked(code) == {"baton_install"}


def test_events_have_handlers_and_are_the_ones_baton_reads():
    server = (ROOT / "server" / "server.js").read_text()
    common = MANIFEST["modules"]["common"]["events"]
    tickets = MANIFEST["modules"]["support_ticket"]["events"]
    assert set(common) <= COMMON_EVENTS and "onAppUninstall" in common
    assert set(tickets) <= set(webhook.EVENT_TO_FUNCTION)
    for event in (*common.values(), *tickets.values()):
        assert re.search(rf"^\s*{event['handler']}:", server, re.M), f"server.js exports no {event['handler']}"
    assert "renderData()" in server  # onAppUninstall must let the uninstall finish
