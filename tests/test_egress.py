"""S12: a tenant's base URL can never make Baton send credentials to a private, loopback,
link-local or foreign host; the sandboxes need a development deployment."""
from __future__ import annotations

import socket
import threading

import pytest
import urllib3.util.connection
from cryptography.fernet import Fernet

from connectors import base as connections
from connectors.base import AddressRefused, HttpClient
from integration.core.contract import ApiHostError
from integration.service import egress
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


# S12 at connection time: the address a connection actually reached, not the one the install saw

class Listener:
    """A TCP server on 127.0.0.1 that keeps every byte it receives and answers each HTTP request
    with ``200 {}``; it counts the connections it has seen closed."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.closed = 0
        self._done = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.received += data
            if b"\r\n\r\n" in data:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Connection: close\r\n\r\n{}")
        with self._done:
            self.closed += 1
            self._done.notify_all()

    def wait_closed(self, n=1):
        with self._done:
            assert self._done.wait_for(lambda: self.closed >= n, timeout=5), "the connection never reached the listener"

    def close(self):
        self.server.close()


@pytest.fixture
def listener():
    made = Listener()
    yield made
    made.close()


@pytest.fixture
def production_check():
    """This process checks its connections as a production deployment does; put back afterwards."""
    previous = connections.check_connections(connections.never_link_local)
    egress.check_connections(development=False)
    yield
    connections.check_connections(previous)


@pytest.fixture
def development_check():
    previous = connections.check_connections(connections.never_link_local)
    egress.check_connections(development=True)
    yield
    connections.check_connections(previous)


def dns(monkeypatch, host, port, address="127.0.0.1"):
    """``host`` resolves, when connecting, to ``address`` (a listener's port): a DNS answer that is
    not the one the install saw."""
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_rebound_to_a_loopback_address_after_the_install_is_refused_before_anything_is_sent(
        monkeypatch, listener, production_check):
    host = f"rebind{listener.port}.zendesk.com"
    assert check_base_url("zendesk", f"https://{host}", False, PUBLIC) == f"https://{host}"  # the install saw a public address
    dns(monkeypatch, host, listener.port)  # and now the name answers 127.0.0.1
    client = HttpClient(f"https://{host}", headers={"Authorization": "Bearer s3cret-token-value"})
    with pytest.raises(AddressRefused, match=r"is at 127\.0\.0\.1, a loopback address: Baton does not connect there"):
        client.request("POST", "/api/v2/tickets/1.json", json={"ticket": {}})
    listener.wait_closed()
    assert bytes(listener.received) == b""  # not a TLS hello, not a header: nothing
    assert isinstance(AddressRefused("x"), ApiHostError)  # the pipeline retries it as an unreachable host


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "169.254.169.254", "::ffff:10.0.0.5", "fd00:ec2::254"])
def test_a_connection_that_reached_an_inner_address_is_refused_in_production(monkeypatch, listener, production_check,
                                                                          address):
    spoof_peer(monkeypatch, listener.port, address)
    client = HttpClient(f"https://inner{listener.port}.zendesk.com")
    with pytest.raises(AddressRefused, match="Baton does not connect there"):
        client.request("GET", "/api/v2/users/me.json")
    listener.wait_closed()
    assert bytes(listener.received) == b""


def spoof_peer(monkeypatch, port, address):
    """Every new connection goes to the listener on 127.0.0.1:``port`` and says it reached
    ``address`` (no test can really connect to 169.254.169.254)."""

    class Reached(socket.socket):
        def getpeername(self):
            return (address, 443) if ":" not in address else (address, 443, 0, 0)

    def create_connection(target, timeout=None, source_address=None, socket_options=None):
        sock = Reached(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout if isinstance(timeout, (int, float)) else None)
        sock.connect(("127.0.0.1", port))
        return sock

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)


def test_development_connects_to_the_local_sandbox_but_never_to_a_link_local_address(monkeypatch, listener,
                                                                                    development_check):
    host = f"sandbox{listener.port}.test"
    dns(monkeypatch, host, listener.port)
    assert HttpClient(f"http://{host}:{listener.port}").request("GET", "/api/v2/users/me.json") == {}
    listener.wait_closed()
    assert bytes(listener.received).startswith(b"GET /api/v2/users/me.json HTTP/1.1\r\n")
    assert f"Host: {host}:{listener.port}".encode() in bytes(listener.received)  # the name, never the address

    sent = len(listener.received)
    spoof_peer(monkeypatch, listener.port, "169.254.169.254")
    with pytest.raises(AddressRefused, match="169.254.169.254, a link-local or cloud metadata address"):
        HttpClient(f"http://metadata{listener.port}.test").request("GET", "/latest/meta-data/")
    listener.wait_closed(2)
    assert len(listener.received) == sent


def test_a_process_that_installed_no_check_still_never_connects_to_a_link_local_address(monkeypatch, listener):
    previous = connections.check_connections(connections.never_link_local)
    try:
        spoof_peer(monkeypatch, listener.port, "fe80::1%eth0")
        with pytest.raises(AddressRefused, match="link-local"):
            HttpClient(f"http://nocheck{listener.port}.test").request("GET", "/")
        listener.wait_closed()
        assert bytes(listener.received) == b""
    finally:
        connections.check_connections(previous)


def test_the_processes_the_procfile_starts_check_their_connections(monkeypatch, tmp_path):
    """create_app() from the environment (gunicorn, the Celery worker) installs the check, in
    production and in development rules; a test's or the demo's create_app(settings) leaves it."""
    from integration.service.web import create_app

    previous = connections.check_connections(connections.never_link_local)
    try:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/b.db")
        monkeypatch.setenv("BATON_SECRET_KEY", Fernet.generate_key().decode())
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # unreachable: a warning, not a refusal
        monkeypatch.delenv("BATON_DEVELOPMENT", raising=False)
        create_app()
        assert connections._peer_check("127.0.0.1") == "a loopback address"
        assert connections._peer_check("104.16.51.111") is None
        monkeypatch.setenv("BATON_DEVELOPMENT", "1")
        create_app()
        assert connections._peer_check("127.0.0.1") is None
        assert connections._peer_check("169.254.169.254") == "a link-local or cloud metadata address"
    finally:
        connections.check_connections(previous)


def test_a_tenants_handoff_webhook_is_checked_where_it_lands_like_a_helpdesk(monkeypatch, listener, production_check,
                                                                              store):
    """``handoff_webhook_url`` comes from an installation's settings: a production deployment never
    posts it to an inner address, whatever the name resolved to at install."""
    from integration.core.model import Plan
    from integration.service.pipeline import Pipeline

    host = f"bot{listener.port}.example.com"
    dns(monkeypatch, host, listener.port)
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", {"token": "t"},
                                   settings={"handoff_webhook_url": f"https://{host}/handoff"})
    assert Pipeline(store).tell_the_bot(inst, Plan("k1", "42", ())) is False
    listener.wait_closed()
    assert bytes(listener.received) == b""
