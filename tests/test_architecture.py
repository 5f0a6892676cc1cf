"""The layout keeps its promises: imports run one way (core ← service ← tools, connectors → core
only), every connector is a folder named after its key with the same files, and the registry,
the descriptors, the drivers and the marketplace manifests agree on those keys."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

import connectors

ROOT = Path(__file__).resolve().parents[1]
CONNECTOR_FILES = {"__init__.py", "webhook.py", "client.py", "sandbox", "README.md", "fixtures"}
# every sandbox is split the same way: its state, its API routes, its pages, the driver that plays people
SANDBOX_FILES = {"__init__.py", "state.py", "api.py", "pages.py", "driver.py"}


def test_the_import_contracts_hold(monkeypatch):
    """.importlinter: the core imports nothing of the service, the tools or the connectors; the
    connectors import only the core; tools → service → core; no connector imports another."""
    monkeypatch.chdir(ROOT)
    # import-linter configures logging with dictConfig, which disables every logger that exists
    # (Baton's included) for the rest of the test run: the tests after this one read those logs
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    try:
        assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True) == 0
    finally:
        for lg in loggers:
            lg.disabled = False


def test_the_folder_name_is_the_key_everywhere():
    folders = sorted(p.name for p in (ROOT / "connectors").iterdir() if (p / "__init__.py").exists())
    assert list(connectors.KEYS) == folders == ["freshchat", "freshdesk", "intercom", "zendesk"]
    for key in connectors.KEYS:
        assert connectors.get(key).key == connectors.get(key).descriptor.key == key
        assert connectors.driver(key).key == key
        assert {p.name for p in (ROOT / "connectors" / key).iterdir()} >= CONNECTOR_FILES
        assert {p.name for p in (ROOT / "connectors" / key / "sandbox").iterdir()} >= SANDBOX_FILES
    with pytest.raises(KeyError):
        connectors.get("acme")


def test_every_marketplace_package_belongs_to_a_connector_and_points_at_its_webhook():
    packages = [p for p in (ROOT / "manifests").iterdir() if p.is_dir()]
    assert packages
    for package in packages:
        assert package.name in connectors.KEYS, f"manifests/{package.name} names no connector"
        endpoints = re.findall(r'/webhooks/([a-z]+)/', " ".join(p.read_text() for p in package.glob("*.json")))
        assert set(endpoints) <= {package.name}


def test_every_descriptor_says_how_to_install_it():
    for key, d in connectors.descriptors().items():
        assert d.name and d.modes and d.credentials and all(d.credentials)
        names = [f.name for fields in d.credentials for f in fields]
        assert all(re.fullmatch(r"[a-z_]+", n) for n in names)


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_only_settings_reads_the_environment():
    readers = [p.relative_to(ROOT) for p in _sources("integration", "connectors")
               if re.search(r"os\.environ|getenv\(", p.read_text()) and p.name != "settings.py"]
    assert readers == []


def test_the_core_reads_no_clock():
    clocks = re.compile(r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|time\.time\(|time\.monotonic\(|utcnow\(")
    assert [p.relative_to(ROOT) for p in _sources("integration/core") if clocks.search(p.read_text())] == []


def test_benches_and_the_product_never_import_the_tests():
    importers = [p.relative_to(ROOT) for p in _sources("integration", "connectors", "bench", "scripts")
                 if re.search(r"^\s*(from|import) tests\b", p.read_text(), re.M)]
    assert importers == []


def test_no_file_under_integration_is_over_600_lines():
    """A newcomer reads a module in one sitting: none under integration/ grows past 600 lines."""
    long = {str(p.relative_to(ROOT)): n for p in _sources("integration")
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}
