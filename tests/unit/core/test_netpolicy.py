"""The outbound-network policy: private addresses refused by default, allow patterns as an allowlist."""

from __future__ import annotations

import pytest

from respond.core.netpolicy import BlockedURL, NetworkPolicy


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/mcp", "http://localhost:8000/mcp", "http://10.0.0.8/", "http://192.168.1.1/",
    "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://224.0.0.1/"])
async def test_private_loopback_link_local_refused_by_default(url: str) -> None:
    with pytest.raises(BlockedURL, match="--mcp-allow"):
        await NetworkPolicy().check(url)


async def test_public_addresses_pass_by_default() -> None:
    await NetworkPolicy().check("https://8.8.8.8/mcp")
    await NetworkPolicy().check("http://[2001:4860:4860::8888]:8080/sse")


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/", "file:///etc/passwd", "http:///nohost", "https://u:p@8.8.8.8/",
                                 "http://8.8.8.8:99999/"])
async def test_malformed_or_other_schemes_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        await NetworkPolicy().check(url)


async def test_patterns_are_an_allowlist() -> None:
    policy = NetworkPolicy(["http://127.0.0.1:*", "https://*.example.com", "https://api.test/mcp/*"])
    await policy.check("http://127.0.0.1:8123/mcp")  # private, but named by the operator
    await policy.check("https://mcp.example.com/sse")  # no path in the pattern: any path
    await policy.check("https://mcp.example.com:443/sse")  # the default port written out
    await policy.check("https://api.test/mcp/v1")
    for url in ("http://127.0.0.2:8123/mcp", "https://8.8.8.8/", "http://mcp.example.com/",
                "https://api.test/other", "https://example.com.evil.test/"):
        with pytest.raises(BlockedURL, match="not allowed"):
            await policy.check(url)
