"""Where Baton may send a tenant's credentials: the check of every base URL that enters Baton, and
of every connection it then opens to one.

A helpdesk account's base URL comes from the tenant (the install command, a marketplace app's
settings page, an OAuth state). Baton then sends that account's API key or token to it, from
inside its own network. Unchecked, a tenant could point Baton at the cloud's metadata service
(169.254.169.254), at Redis or PostgreSQL on the private network, or at any host of theirs to
collect the credentials (server-side request forgery). So, before Baton connects:

- production: https on port 443 to one of the helpdesk's own hosts (``Descriptor.domains``),
  no user info, path, query or fragment, and every address the host resolves to is a global
  unicast address (not private, loopback, link-local, multicast or reserved);
- development (``Settings.development``, env ``BATON_DEVELOPMENT``): any http(s) host, so the
  sandboxes on 127.0.0.1 work; link-local and cloud metadata addresses are refused even then.

The same address rule holds when connecting, not only when the URL enters Baton: a DNS answer
can change in between (rebinding: a public address at install, 169.254.169.254 or 10.0.0.5 a
second later). ``check_connections`` makes every connection the helpdesk sessions
(``connectors.base.pooled_session``) open in this process be checked on the address it actually
reached (the socket's peer), right after the TCP connect and before TLS or any byte of the request:
refused, it is closed and the call fails with ``connectors.base.AddressRefused`` (an ApiHostError).
The web and worker processes install it at start (``web.create_app`` from the environment), in
development mode too; a process that installs nothing still never connects to a link-local
address. TLS keeps the host name (SNI, certificate), since the URL is never rewritten to the
address. Not covered: connections through a proxy (``HTTPS_PROXY``: the proxy connects onward) and
requests made outside the pooled sessions.

Redirects on writes are never followed (``connectors.base.HttpClient``), so a checked host cannot
bounce a write elsewhere.
"""
from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any, Callable
from urllib.parse import urlsplit

import connectors
from connectors import base as connections

Resolver = Callable[..., list[Any]]

# Never reachable, in any mode: link-local (cloud metadata at 169.254.169.254, AWS's IPv6 one at
# fd00:ec2::254, which is otherwise just a private address).
_ALWAYS_REFUSED = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"),
                   ipaddress.ip_network("fd00:ec2::254/128"))


def check_base_url(provider: str, url: str, development: bool, resolve: Resolver = socket.getaddrinfo) -> str:
    """The normalized base URL (``scheme://host[:port]``), or ValueError saying what is wrong.
    ``resolve`` is ``socket.getaddrinfo`` (tests pass a stub)."""
    descriptor = connectors.get(provider).descriptor
    example = descriptor.example_url or "https://<account host>"
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise ValueError(f"the {descriptor.name} base URL is missing, e.g. {example}")
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an http(s) address, e.g. {example}")
    if "@" in parts.netloc:
        raise ValueError(f"{url!r} carries user info (user@host): give only the account's address, e.g. {example}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r} has a path, query or fragment: give only the account's address, e.g. {example}")
    if not development:
        if parts.scheme != "https":
            raise ValueError(f"{url!r}: Baton talks to {descriptor.name} over https only")
        if port not in (None, 443):
            raise ValueError(f"{url!r}: Baton talks to {descriptor.name} on port 443 only")
        if not descriptor.serves(host):
            raise ValueError(f"{url!r} is not an address of {descriptor.name} ({', '.join(descriptor.domains)}); "
                             "local or private helpdesks (the sandboxes) need a development deployment "
                             "(BATON_DEVELOPMENT=1)")
    for address in _addresses(host, port or (443 if parts.scheme == "https" else 80), resolve):
        why = refused_address(address, development)
        if why:
            raise ValueError(f"{url!r} resolves to {address}, {why}: Baton does not connect there")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and not (parts.scheme == "https" and port == 443):
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


def check_connections(development: bool) -> None:
    """Every connection this process's helpdesk sessions open from now on is refused when it
    reached an address ``refused_address`` refuses (production or ``development`` rules)."""
    connections.check_connections(functools.partial(refused_address, development=development))


def refused_address(address: str, development: bool) -> str | None:
    """Why Baton never connects to ``address`` (None: it may). IPv4-mapped IPv6 is judged as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or any(ip in net for net in _ALWAYS_REFUSED):
        return "a link-local or cloud metadata address"
    if development:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "not a public unicast address"
    return None


def _addresses(host: str, port: int, resolve: Resolver) -> list[str]:
    """Every address ``host`` stands for: itself when it is an IP literal, else what DNS answers."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = resolve(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(f"{host!r} cannot be resolved ({e}): check the account's address") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise ValueError(f"{host!r} resolves to no address: check the account's address")
    return addresses
