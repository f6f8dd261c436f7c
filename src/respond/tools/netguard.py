"""httpx2 clients that obey the `NetworkPolicy` at connect time, for tools that fetch URLs for a model.

`NetworkPolicy.check(url)` refuses a URL before a request; this closes the gap after it: the
connection pool's network backend resolves the host itself, checks every address with
`policy.connect_addresses()` and connects to a checked address, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot reach a private address.  TLS still
verifies the URL's host name (SNI and certificate come from the URL, not from the address).
Environment proxies are ignored (`trust_env=False`): a proxy would hide the real destination.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from respond.core.netpolicy import BlockedURL, NetworkPolicy


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.AnyIOBackend()  # what httpcore2's default backend uses under asyncio

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        try:
            addresses = await self.policy.connect_addresses(host, port)
        except BlockedURL as exc:
            raise httpcore2.ConnectError(str(exc)) from None
        last: Exception | None = None
        for address in addresses:  # never empty: a host that does not resolve was refused above
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore2.ConnectError(f"No address to connect to for '{host}'.")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("Unix sockets are not reachable by tools.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__()
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=httpx2.create_ssl_context(),
                                                   network_backend=GuardedBackend(policy))


def guarded_client(policy: NetworkPolicy, *, headers: dict[str, str] | None = None,
                   timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
    """An httpx2.AsyncClient whose connections obey `policy` (the shape of the mcp SDK's client factory)."""
    return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=GuardedTransport(policy),
                              trust_env=False)
