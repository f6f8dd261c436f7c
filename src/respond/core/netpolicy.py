"""The outbound-network policy: which URLs a request may make this server call (MCP servers, web pages).

A model, or whoever writes a request, chooses URLs; the operator chooses which are reachable.

- With no allow patterns (the default), any `http`/`https` URL whose host resolves only to
  public addresses is allowed; a host with *any* private, loopback, link-local, multicast,
  reserved or unspecified address is refused (so a request cannot make the server call into its
  own network, cloud metadata endpoints included).
- With allow patterns (`--mcp-allow`, repeatable), only URLs matching one of them are allowed,
  private addresses included (the operator named them).  A pattern is a shell-style glob over
  `scheme://host:port/path`; a pattern without a path matches any path, one without a port the
  scheme's default port: `http://127.0.0.1:*`, `https://mcp.example.com`, `https://*.corp.test/mcp/*`.

`check()` resolves the host and checks every address.  The HTTP client that follows must not
follow redirects on its own (a redirect is a new URL to check), and, without allow patterns,
must connect only to an address it checked at connect time (`connect_addresses()`), or a DNS
answer that changes between the check and the connection could reach a private address
(tools/netguard.py does this for httpx2 clients).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class BlockedURL(Exception):
    """The policy refuses this URL; the message says why and how an operator allows it."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT))


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _candidates(scheme: str, host: str, port: int, path: str) -> list[str]:
    shown = f"[{host}]" if ":" in host else host
    origins = [f"{scheme}://{shown}:{port}"]
    if DEFAULT_PORTS.get(scheme) == port:
        origins.append(f"{scheme}://{shown}")
    return origins + [o + (path or "/") for o in origins]


class NetworkPolicy:
    def __init__(self, allow: Sequence[str] = (), *, flag: str = "--mcp-allow") -> None:
        self.allow = [p.strip().rstrip("/") if p.strip().count("/") == 3 else p.strip() for p in allow if p.strip()]
        self.flag = flag

    def matches(self, url: str) -> bool:
        scheme, host, port, path = _split(url)
        cands = _candidates(scheme, host, port, path)
        return any(fnmatchcase(c, p) for p in self.allow for c in cands)

    async def check(self, url: str) -> None:
        """Raise `BlockedURL` unless this server may call `url` now."""
        scheme, host, port, path = _split(url)
        if self.allow:
            if not any(fnmatchcase(c, p) for p in self.allow for c in _candidates(scheme, host, port, path)):
                raise BlockedURL(f"The URL '{url}' is not allowed by this server's {self.flag} patterns.")
            return
        for address in await _resolve(host, port):
            if not _public(address):
                raise BlockedURL(f"The URL '{url}' resolves to a private, loopback or link-local address "
                                 f"({address}); an operator may allow it with {self.flag}.")


    async def connect_addresses(self, host: str, port: int) -> list[str]:
        """The addresses a client may connect to for `host` now: all of them under allow patterns
        (the URL was matched), else the public ones, refusing the host if any address is not."""
        addresses = await _resolve(host, port)
        if not self.allow:
            for address in addresses:
                if not _public(address):
                    raise BlockedURL(f"The host '{host}' resolves to a private, loopback or link-local address "
                                     f"({address}); an operator may allow it with {self.flag}.")
        return addresses


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURL(f"The URL '{url}' is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BlockedURL(f"The URL '{url}' must be an http or https URL with a host.")
    if parts.username or parts.password:
        raise BlockedURL(f"The URL '{url}' must not carry credentials; use headers or authorization.")
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme], parts.path


async def _resolve(host: str, port: int) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # nothing to refuse: the connection will fail, and say so, like any unreachable host
    return sorted({str(info[4][0]) for info in infos})
