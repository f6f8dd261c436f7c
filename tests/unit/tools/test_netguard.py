"""Guarded HTTP clients check the addresses they connect to, not only the URL checked before."""

from __future__ import annotations

from typing import Any

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
