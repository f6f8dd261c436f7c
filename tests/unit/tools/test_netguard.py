"""Guarded HTTP clients check the addresses they connect to, not only the URL checked before."""

from __future__ import annotations

from typing import Any

import httpcore2
import httpx2
import pytest

from respond.core import netpolicy
from respond.core.netpolicy import BlockedURL, NetworkPolicy
from respond.tools.netguard import guarded_client


async def test_a_private_address_is_refused_at_connect_time() -> None:
    async with guarded_client(NetworkPolicy()) as client:
        with pytest.raises(httpx2.ConnectError, match="private, loopback"):
            await client.get("http://localhost:9/")


async def test_dns_rebinding_after_the_check_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [["93.184.216.34"], ["127.0.0.1"]]  # public when checked, loopback when connecting

    async def resolve(host: str, port: int) -> list[str]:
        return answers.pop(0)

    monkeypatch.setattr(netpolicy, "_resolve", resolve)
    policy = NetworkPolicy()
    await policy.check("http://rebind.test:9/mcp")  # passes: the first answer is public
    async with guarded_client(policy) as client:
        with pytest.raises(httpx2.ConnectError, match=r"rebind\.test.*127\.0\.0\.1"):
            await client.get("http://rebind.test:9/mcp")


async def test_allow_patterns_let_the_named_private_host_through(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    policy = NetworkPolicy(["http://127.0.0.1:*"])
    assert await policy.connect_addresses("127.0.0.1", 9) == ["127.0.0.1"]
    async with guarded_client(policy) as client:
        with pytest.raises(httpx2.ConnectError) as err:  # nothing listens on port 9: refused by the OS
            await client.get("http://127.0.0.1:9/")
        seen.append(err.value)
    assert "private" not in str(seen[0])
    with pytest.raises(BlockedURL):
        await NetworkPolicy().connect_addresses("10.0.0.1", 80)


async def test_a_failed_resolution_refuses_instead_of_connecting_to_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: `_resolve` answered [] when DNS failed and the client then connected to the name
    itself, unchecked (a resolver that fails for the check and answers 127.0.0.1 to the connect)."""
    calls: list[str] = []

    async def nothing(host: str, port: int) -> list[str]:
        return []

    async def connect(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        raise AssertionError("connected to an unchecked name")

    monkeypatch.setattr(netpolicy, "_resolve", nothing)
    async with guarded_client(NetworkPolicy()) as client:
        monkeypatch.setattr(client._transport._pool._network_backend.inner, "connect_tcp", connect)  # type: ignore[attr-defined]
        with pytest.raises(httpx2.ConnectError, match="does not resolve"):
            await client.get("http://flaky-dns.test:9/")
    assert calls == []


async def test_the_host_connected_to_is_matched_against_allow_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    """With allow patterns, the host the client really connects to must match one (a URL parser that read
    the URL differently from the check could otherwise reach another host)."""
    policy = NetworkPolicy(["http://*.corp.example"])
    async with guarded_client(policy) as client:
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        with pytest.raises(httpcore2.ConnectError, match="not allowed"):
            await backend.connect_tcp("127.0.0.1", 80)
