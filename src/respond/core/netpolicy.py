"""The outbound-network policy: which URLs a request may make this server call (input files, images,
MCP servers, web pages, and every redirect of each).

A model, or whoever writes a request, chooses URLs; the operator chooses which are reachable.

- With no allow patterns (the default), an `http`/`https` URL is allowed when its host resolves,
  and only to public addresses: a host with *any* private, loopback, link-local, multicast,
  reserved or unspecified address is refused, and so is a host that does not resolve (so a request
  cannot make the server call into its own network, cloud metadata endpoints included).
- With allow patterns (`--mcp-allow`, `--fetch-allow`, `--web-allow`, `--image-url-allow`,
  repeatable), only URLs matching one of them are allowed, private addresses included (the operator
  named them).  A pattern is `scheme://host[:port][/path]`, parsed into its parts and compared part
  by part, never as one string: `*` as the scheme is http or https; the host is exact, `*` (any
  host) or `*.suffix` (one or more whole labels before `suffix`; a `*` inside a label stays inside
  it); no port means the scheme's default, `*` any port; no path means any path, else a glob over the
  path (`http://127.0.0.1:*`, `https://mcp.example.com`, `https://*.corp.test/mcp/*`).

URLs are parsed by `urllib.parse`, never matched by regex, and their host normalised before anything
compares it: lower case, one trailing dot dropped, percent-escapes decoded, IDNA (UTS #46, the `idna`
package) to its ASCII form, every IPv4 spelling the WHATWG URL standard and `inet_aton` accept
(`2130706433`, `0x7f.1`, `0177.0.0.1`) to dotted decimal, IPv6 compressed, an IPv4-mapped IPv6 address
to its IPv4.  User info, zone ids, backslashes, whitespace and dot segments in the path are refused.

`check()` resolves the host and checks every address.  The HTTP client that follows must not
follow redirects on its own (a redirect is a new URL to check), and must connect only to an address
it checked at connect time (`connect_addresses()`): without allow patterns a DNS answer that changes
between the check and the connection could otherwise reach a private address, and with them the host
the client really connects to is matched against the patterns again (tools/netguard.py does this for
httpx2 clients, tools/web_search/fetch.py for aiohttp).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_IP_GLOB = frozenset("0123456789*?")


class BlockedURL(Exception):
    """The policy refuses this URL; the message says why and how an operator allows it."""


def _public(address: str | IP) -> bool:
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):  # IPv6 forms that carry an IPv4 address: judge that address
        if ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            return _public(ip.teredo[0]) and _public(ip.teredo[1])
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT))


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 address as WHATWG and inet_aton read it (0x hex, 0 octal, decimal)."""
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` as an IPv4 address in any spelling (`127.1`, `2130706433`, `0x7f.0.0.1`), or None for a
    name; raises ValueError for a host that ends in a number but is no valid address."""
    parts = host.split(".")
    numbers = [_ipv4_number(p) for p in parts] if all(parts) else [None]
    if parts[-1] and _ipv4_number(parts[-1]) is None:
        return None  # a name: its last label is not a number
    if None in numbers or len(numbers) > 4:
        raise ValueError(host)
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError(host)
    value = values[-1]
    for i, n in enumerate(values[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def normalize_host(raw: str) -> tuple[str, IP | None]:
    """The host as compared and resolved (ASCII, lower case, canonical IP), and its address if it is one."""
    host = unquote(raw).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:  # IPv6 (urlsplit only lets one through in brackets)
        if "%" in host:
            raise ValueError("zone id")
        ip6 = ipaddress.IPv6Address(host)
        if ip6.ipv4_mapped is not None:
            return str(ip6.ipv4_mapped), ip6.ipv4_mapped
        return str(ip6), ip6
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if not host or any(ord(c) < 33 or c in "/\\@%?#[]" for c in host):
        raise ValueError("bad host")
    if not host.isascii():
        import idna  # loaded for an international name only (with unicodedata: 0.4 MB)

        host = idna.encode(host, uts46=True, transitional=False).decode("ascii").lower()
    labels = host.split(".")
    if not set(host) <= _HOST_CHARS or "" in labels or len(host) > 253 or any(len(x) > 63 for x in labels):
        raise ValueError("bad host")
    for label in labels:
        if label.startswith("xn--"):
            import idna

            idna.decode(label)  # raises for punycode that is not valid IDNA
    ip4 = _ipv4(host)
    return (str(ip4), ip4) if ip4 is not None else (host, None)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as the policy sees it."""

    scheme: str
    host: str  # normalised; an IP in its canonical text form, IPv6 without brackets
    port: int
    path: str
    ip: IP | None

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_url(url: str) -> Target:
    """Parse and normalise an outbound URL, or raise `BlockedURL` saying what is wrong with it."""
    if not isinstance(url, str) or any(ord(c) < 33 or c in "\\\x7f" for c in url):
        raise BlockedURL(f"The URL '{str(url)[:200]}' is not a valid URL (whitespace, control characters "
                         "or backslashes).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURL(f"The URL '{url[:200]}' is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BlockedURL(f"The URL '{url[:200]}' must be an http or https URL with a host.")
    if "@" in parts.netloc:
        raise BlockedURL(f"The URL '{url[:200]}' must not carry credentials; use headers or authorization.")
    if port == 0:
        raise BlockedURL(f"The URL '{url[:200]}' has no valid port.")
    try:
        host, ip = normalize_host(parts.hostname)
    except ValueError:  # idna.IDNAError is one
        raise BlockedURL(f"The URL '{url[:200]}' has an invalid host.") from None
    segments = unquote(parts.path).replace("\\", "/").split("/")  # %2f and %5c read as separators too
    if any(s in (".", "..") for s in segments):
        raise BlockedURL(f"The URL '{url[:200]}' has '.' or '..' path segments.")
    return Target(scheme, host, port or DEFAULT_PORTS[scheme], parts.path or "/", ip)


@dataclass(frozen=True, slots=True)
class Pattern:
    """An operator's allow pattern, parsed."""

    scheme: str  # http, https or *
    host: str  # normalised, `*`, or with `*.` / `*` globs inside labels
    port: int | None  # None: any port
    path: str | None  # None: any path

    @classmethod
    def parse(cls, text: str) -> Pattern:
        raw = text.strip()
        scheme, sep, rest = raw.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in ("http", "https", "*"):
            raise ValueError(f"Allow pattern '{text}' must start with http://, https:// or *://.")
        netloc, slash, path = rest.partition("/")
        path_glob = None if not slash or path in ("", "*") else "/" + path
        host, port_text = netloc, ""
        if netloc.startswith("["):
            host, _, tail = netloc.partition("]")
            host += "]"
            port_text = tail[1:] if tail.startswith(":") else ""
        elif ":" in netloc:
            host, _, port_text = netloc.partition(":")
        if "@" in netloc or not host:
            raise ValueError(f"Allow pattern '{text}' needs a host and no user info.")
        if port_text == "*":
            port: int | None = None
        elif port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"Allow pattern '{text}' has an invalid port.")
            port = int(port_text)
        else:
            port = DEFAULT_PORTS.get(scheme, -1)  # `*://host`: each scheme's own default (-1 marks it)
        if "*" in host or "?" in host:
            import idna

            try:  # the fixed labels as a URL's would be normalised; the wildcard ones as written
                host = ".".join(x if "*" in x or "?" in x or x.isascii() else idna.encode(x, uts46=True).decode()
                                for x in host.lower().rstrip(".").split("."))
            except ValueError:  # idna.IDNAError is one
                raise ValueError(f"Allow pattern '{text}' has an invalid host.") from None
        else:
            try:
                host = normalize_host(host)[0]
            except ValueError:  # idna.IDNAError is one
                raise ValueError(f"Allow pattern '{text}' has an invalid host.") from None
        return cls(scheme, host, port, path_glob)

    def matches_host(self, host: str) -> bool:
        if self.host == "*":
            return True
        if "*" not in self.host and "?" not in self.host:
            return host == self.host
        want, got = self.host.split("."), host.split(".")
        if all(set(w) <= _IP_GLOB for w in want) and _ipv4(host) is None:
            return False  # `10.0.*.*` names addresses, never a name such as 10.0.evil.example
        if want[0] == "*":  # `*.suffix`: one or more whole labels, then the suffix label by label
            want = want[1:]
            if len(got) <= len(want):
                return False
            got = got[len(got) - len(want):]
        return len(want) == len(got) and all(fnmatchcase(g, w) for g, w in zip(got, want, strict=True))

    def matches_port(self, scheme: str | None, port: int) -> bool:
        if self.port is None:
            return True
        if self.port == -1:  # `*://host`: the default port of the URL's scheme (either, at connect time)
            return port == DEFAULT_PORTS[scheme] if scheme else port in DEFAULT_PORTS.values()
        return port == self.port

    def matches(self, t: Target) -> bool:
        return ((self.scheme in ("*", t.scheme)) and self.matches_host(t.host) and self.matches_port(t.scheme, t.port)
                and (self.path is None or fnmatchcase(t.path, self.path)))


class NetworkPolicy:
    def __init__(self, allow: Sequence[str] = (), *, flag: str = "--mcp-allow") -> None:
        self.allow = [p.strip() for p in allow if p.strip()]
        self.patterns = [Pattern.parse(p) for p in self.allow]
        self.flag = flag

    def matches(self, url: str) -> bool:
        t = parse_url(url)
        return any(p.matches(t) for p in self.patterns)

    async def check(self, url: str) -> None:
        """Raise `BlockedURL` unless this server may call `url` now."""
        t = parse_url(url)
        if self.patterns:
            if not any(p.matches(t) for p in self.patterns):
                raise BlockedURL(f"The URL '{url[:200]}' is not allowed by this server's {self.flag} patterns.")
            return
        await self._public_addresses(t.host, t.port, f"The URL '{url[:200]}'")

    async def connect_addresses(self, host: str, port: int) -> list[str]:
        """The addresses a client may connect to for `host` now (never empty): under allow patterns, all
        of them when the host and port match a pattern; without, the public ones, refusing the host if
        any address is not or if it does not resolve."""
        if self.patterns:
            try:
                name, _ = normalize_host(host)
            except ValueError:  # idna.IDNAError is one
                raise BlockedURL(f"The host '{host}' is not a valid host.") from None
            if not any(p.matches_host(name) and p.matches_port(None, port) for p in self.patterns):
                raise BlockedURL(f"The host '{host}' port {port} is not allowed by this server's {self.flag} "
                                 "patterns.")
            addresses = await _resolve(name, port)
            if not addresses:
                raise BlockedURL(f"The host '{host}' did not resolve.")
            return addresses
        return await self._public_addresses(host, port, f"The host '{host}'")

    async def check_addresses(self, host: str, port: int, addresses: Sequence[str]) -> None:
        """Raise `BlockedURL` unless a client may connect to each of `addresses`, found for `host`."""
        if self.patterns:
            await self.connect_addresses(host, port)  # the host is what the patterns name
            return
        if not addresses:
            raise BlockedURL(f"The host '{host}' did not resolve.")
        for address in addresses:
            if not _public(address):
                raise BlockedURL(f"The host '{host}' resolves to a private, loopback or link-local address "
                                 f"({address}); an operator may allow it with {self.flag}.")

    async def _public_addresses(self, host: str, port: int, what: str) -> list[str]:
        try:
            name, _ = normalize_host(host)
        except ValueError:  # idna.IDNAError is one
            raise BlockedURL(f"{what} has an invalid host.") from None
        addresses = await _resolve(name, port)
        if not addresses:
            raise BlockedURL(f"{what} does not resolve (its host '{host}' has no address).")
        for address in addresses:
            if not _public(address):
                raise BlockedURL(f"{what} resolves to a private, loopback or link-local address "
                                 f"({address}); an operator may allow it with {self.flag}.")
        return addresses


async def _resolve(host: str, port: int) -> list[str]:
    """Every address of `host` (normalised), or [] when it does not resolve (callers refuse then)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
