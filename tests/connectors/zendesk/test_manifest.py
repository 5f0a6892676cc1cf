"""Baton's Zendesk app package (manifests/zendesk) against the checks Zendesk runs when an app is
uploaded. Zendesk validates packages server-side only (``zcli apps:validate`` posts the zip to an
account); the rules are public in the Apache-2.0 ``zendesk/zendesk_apps_support`` gem, and the ones
below are ported from it (commit f3de3c7, ``lib/zendesk_apps_support/validations/manifest.rb``,
``translations.rb``, ``requirements.rb``, ``secure_settings.rb``, ``secrets.rb``, ``svg.rb``,
``mime.rb``; the location list from ``location.rb``, versions from ``app_version.rb``, parameter
types from ``manifest/parameter.rb``). Error names are the gem's."""
from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from connectors.zendesk import app
from connectors.zendesk.client import EVENT_SUBSCRIPTIONS

PACKAGE = Path(__file__).resolve().parents[3] / "manifests" / "zendesk"

FRAMEWORK_VERSIONS = {"2.0"}  # AppVersion::TO_BE_SERVED
PARAMETER_TYPES = {"text", "checkbox", "url", "number", "multiline", "hidden", "oauth"}  # mtls only behind a flag
SECURE_PARAM_SCOPES = {"header", "body", "url", "jwt_secret_key", "jwt_claim", "basic_auth_username",
                       "basic_auth_password"}
LOCATIONS = {  # Location::LOCATIONS_AVAILABLE by product (custom_object_record_sidebar is behind a flag)
    "support": {"top_bar", "nav_bar", "ticket_sidebar", "new_ticket_sidebar", "user_sidebar", "organization_sidebar",
                "background", "modal", "ticket_editor", "system_top_bar"},
    "chat": {"chat_sidebar", "background"}, "standalone_chat": {"nav_bar", "system_top_bar"},
    "sell": {"deal_card", "person_card", "company_card", "lead_card", "background", "modal", "dashboard", "note_editor",
             "call_log_editor", "email_editor", "top_bar", "visit_editor"},
}
LEGACY_HOSTS = {"zendesk", "zopim", "lotus_box", "sell"}
REQUIREMENT_TYPES = {"automations", "channel_integrations", "custom_objects", "macros", "targets", "views",
                     "ticket_fields", "triggers", "user_fields", "organization_fields", "webhooks", "custom_objects_v2"}
VALID_LOCALE = re.compile(r"^[a-z]{2,3}(-\w{2,3})?$")
SECRET_KEYWORDS = ("password", "secret", "secretToken", "secret_token", "auth_key", "authKey", "auth_pass", "authPass",
                   "auth_user", "AuthUser", "api_key")
APPLICATION_SECRETS = {  # a few of secrets.rb's patterns: the ones a manifest or translation could trip
    "RSA Private Key": r"-----BEGIN RSA PRIVATE KEY-----",
    "Generic Secret": r"(?m)^([sS][eE][cC][rR][eE][tT]( [:\"=-]|[:\"=-]).*.[0-9a-zA-Z+_.-]{4,156})",
    "Password": r"([pP][aA][sS][sS][wW][oO][rR][dD].*.[0-9a-zA-Z+_.-]{4,156})",
    "Token": r"([tT][oO][kK][eE][nN]( [:\"=-]|[:\"=-]).*.[0-9a-zA-Z+_.-]{4,156})",
    "App Secret": r"([aA][pP][pP][-_][sS][eE][cC][rR][eE][tT]( [:\"=-]|[:\"=-]).*.[0-9a-zA-Z+_.-]{4,156})",
}
BLOCKED_EXTENSIONS = {"rar", "zip", "gzip", "pdf", "doc", "docx", "avi", "bin", "bz", "bz2", "csh", "sh", "jar", "mp3",
                      "mpeg", "odt", "pptx", "ppt", "xls", "xlsx", "7z"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"duplicate_manifest_keys: {duplicated}")  # Manifest::NoOverrideHash
    return dict(pairs)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(), object_pairs_hook=_no_duplicates)


def _url_ok(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"https?://[^/\s]+(/\S*)?", value) is not None


def zaf_problems(root: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the package in ``root``, as zendesk_apps_support's Package#validate."""
    errors: list[str] = []
    warnings: list[str] = []
    if not (root / "manifest.json").exists():
        return ["missing_manifest"], warnings
    try:
        m = _json(root / "manifest.json")
    except ValueError as e:
        return [str(e) if "duplicate" in str(e) else "manifest_not_json"], warnings
    requirements_only = m.get("requirementsOnly", False)
    private = m.get("private", True)

    # manifest.rb: required keys, types
    errors += [f"manifest_keys.missing: {k}" for k in ("author", "defaultLocale") if m.get(k) is None]
    for key in ("requirementsOnly", "marketingOnly", "singleInstall", "signedUrls", "private"):
        if key in m and not isinstance(m[key], bool):
            errors.append(f"unacceptable_boolean: {key}")
    for key in ("defaultLocale", "version", "frameworkVersion", "remoteInstallationURL", "termsConditionsURL", "gaID"):
        if m.get(key) is not None and not isinstance(m[key], str):
            errors.append(f"unacceptable_string: {key}")
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    errors += [f"unacceptable_string: author {k}" for k in ("name", "email", "url")
               if author.get(k) is not None and not isinstance(author[k], str)]
    if author.get("url") and not _url_ok(author["url"]):
        errors.append("invalid_url: author url")
    if m.get("termsConditionsURL") and not _url_ok(m["termsConditionsURL"]):
        errors.append("invalid_url: terms_conditions_url")
    if not isinstance(m.get("experiments", {}), dict):
        errors.append("unacceptable_hash: experiments")

    # the default locale and its translation file
    locale = m.get("defaultLocale")
    if isinstance(locale, str):
        if not VALID_LOCALE.match(locale):
            errors.append("invalid_default_locale")
        elif not (root / "translations" / f"{locale}.json").exists():
            errors.append("missing_translation_file")

    # parameters
    params = m.get("parameters", [])
    if not isinstance(params, list):
        errors.append("unacceptable_array: parameters")
        params = []
    names = [p.get("name") for p in params]
    if len(names) != len(set(names)):
        errors.append("duplicate_parameters")
    for p in params:
        ptype, secure, scopes = p.get("type", "text"), p.get("secure", False), p.get("scopes")
        if not isinstance(p.get("required", False), bool) or not isinstance(secure, bool):
            errors.append(f"unacceptable_boolean: parameters[name={p.get('name')}]")
        if ptype not in PARAMETER_TYPES:
            errors.append(f"invalid_type_parameter: {ptype}")
        if ptype == "hidden" and p.get("required"):
            errors.append("invalid_hidden_parameter")
        if ptype == "oauth" and secure:
            errors.append("oauth_parameter_cannot_be_secure")
        if p.get("name") == "name":
            errors.append("name_as_parameter_name")
        if scopes is not None:
            if not secure:
                errors.append("field_requires_secure_parameter")
            if not isinstance(scopes, list):
                errors.append("unacceptable_array: scopes")
            elif not scopes:
                errors.append("field_cannot_be_empty: scopes")
            elif set(scopes) - SECURE_PARAM_SCOPES:
                errors.append("field_contains_invalid_values: scopes")
        # secure_settings.rb (warnings)
        if re.search(r"token|key|pwd|password", str(p.get("name")), re.I) and ptype == "text" and not secure:
            warnings.append("insecure_token_parameter_in_manifest")
        if "default" in p and (secure or ptype == "hidden"):
            warnings.append("default_secure_or_hidden_parameter_in_manifest")
        if secure and not scopes:
            warnings.append("secure_parameters_with_no_scopes_in_manifest")
    if sum(p.get("type") == "oauth" for p in params) > 1:
        errors.append("too_many_oauth_parameters")
    if m.get("oauth") is not None:
        missing = [k for k in ("client_id", "client_secret", "authorize_uri", "access_token_uri") if not m["oauth"].get(k)]
        if missing:
            errors.append("oauth_keys.missing")
        if not any(p.get("type") == "oauth" for p in params):
            errors.append("oauth_parameter_required")

    # locations and the framework version
    locations = m.get("location")
    if requirements_only or m.get("marketingOnly"):
        if locations:
            errors.append("no_location_required")
        if m.get("frameworkVersion") is not None:
            errors.append("no_framework_version_required")
    else:
        if not isinstance(locations, dict) or not any(locations.values()):
            errors.append("manifest_keys.missing: location")
            locations = {}
        for host, places in locations.items():
            if host not in LOCATIONS and host not in LEGACY_HOSTS:
                errors.append(f"invalid_host: {host}")
                continue
            unknown = set(places) - LOCATIONS.get(host, set())
            if unknown:
                errors.append(f"invalid_location: {sorted(unknown)}")
            for options in places.values():
                options = options if isinstance(options, dict) else {"url": options}
                url = options.get("url")
                if isinstance(url, str) and url and "{{setting." not in url:
                    absolute = re.match(r"^[a-z][a-z0-9+.-]*://", url)
                    if (absolute and not (url.startswith("https://") or re.match(r"^\w+://localhost[:/]", url))) or \
                            (not absolute and not (url.startswith("assets/") and (root / url).exists())):
                        errors.append(f"invalid_location_uri: {url}")
                elif not url and options.get("autoLoad", True):
                    errors.append("blank_location_uri")
                if url == "_legacy":
                    errors.append("locations_must_be_urls")
                if options.get("flexible") is not None and not isinstance(options["flexible"], bool):
                    errors.append("invalid_location_flexible_type")
        if m.get("frameworkVersion") is None:
            errors.append("manifest_keys.missing: frameworkVersion")
        elif m["frameworkVersion"] not in FRAMEWORK_VERSIONS:
            errors.append("invalid_version")
        if m.get("noTemplate"):
            errors.append("no_template_deprecated_in_v2")

    # translations.rb
    for path in sorted((root / "translations").glob("*.json")) if (root / "translations").exists() else []:
        if not VALID_LOCALE.match(path.stem):
            errors.append("translation.invalid_locale")
        try:
            data = _json(path)
        except ValueError:
            errors.append("translation.not_json")
            continue
        if not isinstance(data, dict):
            errors.append("translation.not_json_object")
            continue
        strings = data.get("app") if isinstance(data.get("app"), dict) else {}
        for name, leaf in (strings.get("parameters") or {}).items():
            if not (isinstance(leaf, dict) and "label" in leaf):
                errors.append(f"translation.missing_required_key_on_leaf: {name}")
        if path.name == "en.json":
            needed = {"name"} if private else {"name", "short_description", "installation_instructions",
                                                "long_description"}
            present = {"short_description" if k == "description" else k for k in strings}
            if needed - present:
                errors.append(f"translation.missing_required_key: {sorted(needed - present)}")

    # requirements.rb
    if (root / "requirements.json").exists():
        if m.get("marketingOnly"):
            errors.append("requirements_not_supported")
        try:
            req = _json(root / "requirements.json")
        except ValueError:
            req = {}
            errors.append("requirements_not_json")
        if set(req) - REQUIREMENT_TYPES:
            errors.append("invalid_requirements_types")
        if sum(len(v) if isinstance(v, (dict, list)) else 1 for v in req.values()) > 5000:
            errors.append("excessive_requirements")
        for kind, items in req.items():
            for ident, fields in (items or {}).items() if isinstance(items, dict) else ():
                if kind == "webhooks":
                    errors += [f"missing_required_fields: {ident}.{k}" for k in
                               ("name", "status", "endpoint", "http_method", "request_format") if k not in fields]
                elif kind not in ("channel_integrations", "custom_objects", "custom_objects_v2") and "title" not in fields:
                    errors.append(f"missing_required_fields: {ident}.title")
    elif requirements_only:
        errors.append("missing_requirements")

    # files: svg.rb, mime.rb, secrets.rb (warnings)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix.lstrip(".").lower() in BLOCKED_EXTENSIONS:
            errors.append(f"unsupported_mime_type_detected: {rel}")
        if rel.startswith("assets/") and path.suffix == ".svg":
            svg = path.read_text()
            if re.search(r"<image\b|<script\b|\son\w+\s*=|javascript:", svg, re.I):
                errors.append(f"dirty_svg: {rel}")
        if re.search(r"(html?|xml|js|json?)$", rel):
            text = path.read_text()
            warnings += [f"application_secret: {rel} ({name})" for name, pattern in APPLICATION_SECRETS.items()
                         if re.search(pattern, text)]
            if any(word in text for word in SECRET_KEYWORDS):
                warnings.append(f"generic_secrets: {rel}")
    return errors, warnings


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


# -- Baton's package --------------------------------------------------------------------------------

def test_batons_package_passes_zendesks_checks_without_errors_or_warnings():
    assert zaf_problems(PACKAGE) == ([], [])


def test_it_is_a_signed_remote_app_with_both_locations_and_the_icons_and_logos_zendesk_asks_for():
    m = _json(PACKAGE / "manifest.json")
    assert m["frameworkVersion"] == "2.0" and m["signedUrls"] is True and "requirementsOnly" not in m
    assert set(m["location"]["support"]) == set(app.LOCATIONS)
    assert (PACKAGE / "assets" / "icon_nav_bar.svg").exists()  # Package#location_icons: a nav_bar app needs one
    assert png_size(PACKAGE / "assets" / "logo.png") == (320, 320)
    assert png_size(PACKAGE / "assets" / "logo-small.png") == (128, 128)


def test_the_locations_and_the_webhook_point_at_what_baton_serves_with_declared_settings_only():
    from integration.service.apps.zendesk import bp

    m = _json(PACKAGE / "manifest.json")
    declared = {p["name"] for p in m["parameters"]}
    for location, options in m["location"]["support"].items():
        assert options["url"] == f"{{{{setting.baton_url}}}}{bp.url_prefix}/{location}"
    texts = (PACKAGE / "manifest.json").read_text() + (PACKAGE / "requirements.json").read_text()
    assert set(re.findall(r"\{\{setting\.(\w+)\}\}", texts)) <= declared


def test_the_requirement_webhook_waits_inactive_for_baton_to_adopt_it():
    (hook,) = _json(PACKAGE / "requirements.json")["webhooks"].values()
    assert hook["name"] == app.WEBHOOK_NAME and hook["status"] == "inactive"
    assert sorted(hook["subscriptions"]) == sorted(EVENT_SUBSCRIPTIONS)


# -- the ported checks catch what Zendesk refuses ------------------------------------------------

def _broken(tmp_path: Path, change: Any) -> Path:
    root = tmp_path / "app"
    shutil.copytree(PACKAGE, root)
    m = _json(root / "manifest.json")
    change(m, root)
    (root / "manifest.json").write_text(json.dumps(m))
    return root


def _drop(key: str) -> Any:
    return lambda m, root: m.pop(key)


def _param(**fields: Any) -> Any:
    return lambda m, root: m["parameters"].append({"name": "extra", "type": "text", **fields})


BROKEN = {
    "no author": (_drop("author"), "manifest_keys.missing: author"),
    "no default locale": (_drop("defaultLocale"), "manifest_keys.missing: defaultLocale"),
    "no framework version": (_drop("frameworkVersion"), "manifest_keys.missing: frameworkVersion"),
    "framework 1.0": (lambda m, r: m.update(frameworkVersion="1.0"), "invalid_version"),
    "string boolean": (lambda m, r: m.update(signedUrls="true"), "unacceptable_boolean: signedUrls"),
    "unknown location": (lambda m, r: m["location"]["support"].update(ticket_footer={"url": "https://x.example/a"}),
                         "invalid_location: ['ticket_footer']"),
    "unknown product": (lambda m, r: m["location"].update(guide={"nav_bar": {"url": "https://x.example"}}),
                        "invalid_host: guide"),
    "plain http url": (lambda m, r: m["location"]["support"]["nav_bar"].update(url="http://baton.example/a"),
                       "invalid_location_uri: http://baton.example/a"),
    "locations in a requirements-only app": (lambda m, r: m.update(requirementsOnly=True), "no_location_required"),
    "secure parameter with an unknown scope": (_param(secure=True, scopes=["cookie"]),
                                               "field_contains_invalid_values: scopes"),
    "scopes on a plain parameter": (_param(scopes=["header"]), "field_requires_secure_parameter"),
    "unknown parameter type": (_param(type="password"), "invalid_type_parameter: password"),
    "required hidden parameter": (_param(type="hidden", required=True), "invalid_hidden_parameter"),
    "parameter called name": (lambda m, r: m["parameters"].append({"name": "name", "type": "text"}),
                              "name_as_parameter_name"),
    "duplicate parameter": (lambda m, r: m["parameters"].append(dict(m["parameters"][0])), "duplicate_parameters"),
    "missing translation": (lambda m, r: (r / "translations" / "en.json").unlink(), "missing_translation_file"),
    "public app without marketplace strings": (
        lambda m, r: (r / "translations" / "en.json").write_text(json.dumps({"app": {"name": "Baton"}})),
        "translation.missing_required_key: ['installation_instructions', 'long_description', 'short_description']"),
    "requirement webhook without an endpoint": (
        lambda m, r: (r / "requirements.json").write_text(json.dumps(
            {"webhooks": {"w": {"name": "n", "status": "active", "http_method": "POST", "request_format": "json"}}})),
        "missing_required_fields: w.endpoint"),
    "unknown requirement type": (lambda m, r: (r / "requirements.json").write_text(json.dumps({"emails": {}})),
                                 "invalid_requirements_types"),
    "bitmap in the icon": (lambda m, r: (r / "assets" / "icon_nav_bar.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,AA"/></svg>'),
        "dirty_svg: assets/icon_nav_bar.svg"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_ported_checks_refuse_what_zendesk_refuses(tmp_path, case):
    change, error = BROKEN[case]
    errors, _ = zaf_problems(_broken(tmp_path, change))
    assert error in errors


def test_the_ported_checks_warn_like_zendesk_about_secrets_and_unscoped_secure_parameters(tmp_path):
    root = _broken(tmp_path, _param(name="api_token", secure=True))
    _, warnings = zaf_problems(root)
    assert "secure_parameters_with_no_scopes_in_manifest" in warnings
    root = _broken(tmp_path / "2", _param(name="api_key"))
    _, warnings = zaf_problems(root)
    assert "insecure_token_parameter_in_manifest" in warnings and "generic_secrets: manifest.json" in warnings


def test_duplicate_keys_are_refused_as_zendesk_parses_manifests(tmp_path):
    root = _broken(tmp_path, lambda m, r: None)
    text = (root / "manifest.json").read_text()
    (root / "manifest.json").write_text(text[:-1] + ', "version": "9.9.9"}')
    assert zaf_problems(root)[0] == ["duplicate_manifest_keys: ['version']"]
