"""The outbound-request policy: may a request made for a model reach this URL?

Only http(s).  A host is resolved and refused when any of its addresses is private, loopback,
link-local, multicast, reserved or unspecified, unless the operator allowed it: an allowlist entry
is a host name (`files.example.com`, or `.example.com` for a domain and its subdomains), an IP
address, or a network in CIDR form (`10.1.0.0/16`).  Checking every resolved address (not the
first) keeps a host that resolves to both a public and a private address out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Blocked(ValueError):
    """The URL may not be fetched; the message says why."""


class OutboundPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.domains: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (e.strip().lower() for e in allow):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry.startswith("."):
                    self.domains.append(entry)
                else:
                    self.hosts.add(entry)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(d) or host == d[1:] for d in self.domains)

    def address_allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self.networks):
            return True
        return address.is_global and not address.is_multicast

    async def check(self, url: str) -> None:
        """Raise `Blocked` unless `url` is http(s) and every address of its host may be reached."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Blocked(f"Only http and https URLs can be fetched, not '{url[:100]}'.")
        host = parts.hostname
        if self.host_allowed(host):
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Blocked(f"The host '{host}' could not be resolved: {exc.strerror or exc}.") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not self.address_allowed(address):
                raise Blocked(f"The host '{host}' resolves to {address}, a private or local address this "
                              "server may not fetch from (an operator can allow it with --fetch-allow).")
