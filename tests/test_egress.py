"""S12: a tenant's base URL can never make Baton send credentials to a private, loopback,
link-local or foreign host; the sandboxes need a development deployment."""
from __future__ import annotations

import socket

import pytest

from integration.service.egress import check_base_url
from integration.service.installs import install
from integration.service.store import installations


def resolver(*addresses: str):
    """A stand-in for socket.getaddrinfo answering ``addresses`` (no DNS in tests)."""
    calls = []

    def resolve(host, port, proto=0):
        calls.append(host)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port))
                for a in addresses]

    resolve.calls = calls
    return resolve


def unresolvable(host, port, proto=0):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


PUBLIC = resolver("104.16.51.111")


def test_a_helpdesk_account_on_a_public_address_is_accepted_and_normalized():
    assert check_base_url("zendesk", "https://acme.zendesk.com", False, PUBLIC) == "https://acme.zendesk.com"
    assert check_base_url("zendesk", " https://ACME.zendesk.com:443/ ", False, PUBLIC) == "https://acme.zendesk.com"
    assert check_base_url("freshdesk", "https://acme.freshdesk.com", False, PUBLIC) == "https://acme.freshdesk.com"
    for region in ("api.intercom.io", "api.eu.intercom.io", "api.au.intercom.io"):
        assert check_base_url("intercom", f"https://{region}", False, PUBLIC) == f"https://{region}"


@pytest.mark.parametrize("url", ["https://127.0.0.1", "https://10.0.0.5", "https://169.254.169.254", "https://[::1]",
                                 "https://[::ffff:10.0.0.5]", "http://127.0.0.1:8080"])
def test_addresses_are_refused_in_production(url):
    with pytest.raises(ValueError):
        check_base_url("zendesk", url, False, PUBLIC)


@pytest.mark.parametrize("address", ["10.1.2.3", "127.0.0.1", "169.254.169.254", "192.168.1.1", "::1",
                                     "::ffff:127.0.0.1", "fd00:ec2::254", "0.0.0.0", "100.64.0.1", "224.0.0.1"])
def test_a_helpdesk_host_resolving_to_an_inner_address_is_refused(address):
    resolve = resolver("104.16.51.111", address)  # one bad address among good ones is enough
    with pytest.raises(ValueError, match="Baton does not connect there"):
        check_base_url("zendesk", "https://acme.zendesk.com", False, resolve)
    assert resolve.calls == ["acme.zendesk.com"]


@pytest.mark.parametrize("url, why", [
    ("https://evil.example.com", "not an address of Zendesk"),
    ("https://acme.zendesk.com.evil.example", "not an address of Zendesk"),
    ("https://a.b.zendesk.com", "not an address of Zendesk"),
    ("https://acme.freshdesk.com", "not an address of Zendesk"),
    ("http://acme.zendesk.com", "https only"),
    ("https://acme.zendesk.com:8443", "port 443 only"),
    ("https://x@evil.com@acme.zendesk.com", "user info"),
    ("https://user:pw@acme.zendesk.com", "user info"),
    ("https://acme.zendesk.com/api/v2", "path, query or fragment"),
    ("https://acme.zendesk.com/?next=x", "path, query or fragment"),
    ("https://acme.zendesk.com#x", "path, query or fragment"),
    ("ftp://acme.zendesk.com", "not an http"),
    ("acme.zendesk.com", "not an http"),
    ("", "missing"),
    ("https://acme.zendesk.com:99999", "invalid port"),
])
def test_what_is_not_the_helpdesks_own_https_address_is_refused_before_resolving(url, why):
    resolve = resolver("104.16.51.111")
    with pytest.raises(ValueError, match=why):
        check_base_url("zendesk", url, False, resolve)
    assert resolve.calls == []  # refused before any DNS query, let alone a connection


def test_intercom_accepts_only_its_regional_api_hosts():
    for url in ("https://app.intercom.io", "https://acme.intercom.io", "https://api.intercom.com"):
        with pytest.raises(ValueError, match="not an address of Intercom"):
            check_base_url("intercom", url, False, PUBLIC)


def test_a_name_that_does_not_resolve_is_refused_clearly():
    with pytest.raises(ValueError, match="cannot be resolved"):
        check_base_url("zendesk", "https://acme.zendesk.com", False, unresolvable)


def test_development_accepts_the_local_sandboxes_but_never_metadata_addresses():
    assert check_base_url("zendesk", "http://127.0.0.1:5001", True) == "http://127.0.0.1:5001"
    assert check_base_url("intercom", "http://127.0.0.1:5001/", True) == "http://127.0.0.1:5001"
    assert check_base_url("freshdesk", "http://localhost:8000", True, resolver("127.0.0.1")) == "http://localhost:8000"
    assert check_base_url("zendesk", "https://[::1]:8443", True) == "https://[::1]:8443"
    for url, resolve in (("http://169.254.169.254", PUBLIC), ("http://[fd00:ec2::254]", PUBLIC),
                         ("http://[::ffff:169.254.169.254]", PUBLIC), ("http://metadata.internal", resolver("169.254.169.254")),
                         ("http://[fe80::1%25eth0]:80", PUBLIC)):
        with pytest.raises(ValueError, match="link-local or cloud metadata"):
            check_base_url("zendesk", url, True, resolve)
    with pytest.raises(ValueError, match="user info"):
        check_base_url("zendesk", "http://x@127.0.0.1:5001", True)


def test_install_in_production_refuses_a_sandbox_url_and_creates_nothing(store):
    with pytest.raises(ValueError, match="https only"):
        install(store, "zendesk", "http://127.0.0.1:5001", {"email": "a@example.com", "token": "t0ken-value"},
                "https://baton.example.com")
    with pytest.raises(ValueError, match="not an address of Freshdesk"):
        install(store, "freshdesk", "https://169.254.169.254", {"api_key": "k3y-value"}, "https://baton.example.com")
    assert store.rows(installations) == []
