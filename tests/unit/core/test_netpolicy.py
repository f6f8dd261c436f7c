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


# -- issue 17: patterns are parsed, hosts are normalised, a failed resolution refuses -----------------

WILDCARD = NetworkPolicy(["http://*.corp.example"], flag="--fetch-allow")

# Each of these got through `http://*.corp.example` when the pattern was a glob over the whole URL, or
# names a private address in a spelling a string comparison would miss.
WILDCARD_TRICKS = [
    "http://127.0.0.1:8080/x.corp.example",  # the wildcard matched the path
    "http://169.254.169.254/latest/meta-data/x.corp.example",
    "http://127.0.0.1/?x.corp.example",  # ... or the query
    "http://127.0.0.1/#x.corp.example",  # ... or the fragment
    "http://corp.example@127.0.0.1/",  # user info: the host is 127.0.0.1
    "http://a.corp.example@127.0.0.1/",
    "http://a.corp.example:pw@127.0.0.1/",
    "http://127.0.0.1\\@a.corp.example/",  # a backslash some parsers read as a path
    "http://a.corp.example:8080/",  # no port in the pattern: only the scheme's default
    "https://a.corp.example/",  # another scheme
    "http://corp.example/",  # `*.` needs at least one label
    "http://evilcorp.example/",  # labels, not characters
    "http://a.corp.example.evil.test/",  # a suffix, not a substring
    "http://a.corp.examplex/",
    "http://a.corp.example%2f@127.0.0.1/",
    "http://a.corp.example/../../admin",  # dot segments are refused outright
    "http://a.corp.example/%2e%2e/admin",
    "http://a.corp.example/x%2f..%2f..%2fadmin",  # encoded separators: a server may decode them
    "http://a.corp.example/x/..%5cadmin",
    "http://[::ffff:127.0.0.1]/x.corp.example",
    "http://2130706433/x.corp.example",
    "file:///x.corp.example",
    "gopher://a.corp.example/",
]


@pytest.mark.parametrize("url", WILDCARD_TRICKS)
async def test_a_host_wildcard_matches_host_labels_only(url: str) -> None:
    with pytest.raises(BlockedURL):
        await WILDCARD.check(url)


@pytest.mark.parametrize("url", [
    "http://a.corp.example/", "http://a.b.corp.example/any/path?q=1", "http://A.CORP.EXAMPLE/",
    "http://a.corp.example./", "http://a.corp.example:80/", "http://%61.corp.example/",
    "http://ａ.corp.example/"])  # fullwidth 'a' maps to 'a' (UTS #46)
async def test_a_host_wildcard_matches_its_hosts_in_any_spelling(url: str) -> None:
    await WILDCARD.check(url)


# Every spelling of a private address is refused by default (getaddrinfo reads the numeric forms).
PRIVATE_SPELLINGS = [
    "http://2130706433/", "http://0x7f000001/", "http://0x7f.1/", "http://0177.0.0.1/", "http://0177.1/",
    "http://127.1/", "http://127.0.1/", "http://017700000001/", "http://0x7f.0x0.0x0.0x1/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
    "http://[::1]/", "http://[0::1]/", "http://[::]/", "http://0/", "http://0.0.0.0/",
    "http://LOCALHOST/", "http://localhost./", "http://Localhost.:80/", "http://%6c%6f%63%61%6c%68%6f%73%74/",
    "http://%31%32%37.0.0.1/", "http://127。0。0。1/", "http://１２７.０.０.１/", "http://169.254.169.254./",
    "http://2852039166/",  # 169.254.169.254
    "http://0xA9FEA9FE/", "http://0251.0376.0251.0376/", "http://10.1/", "http://192.168.0x1.1/",
    "http://[fe80::1]/", "http://[fc00::1]/", "http://100.64.0.1/", "http://198.18.0.1/",
]


@pytest.mark.parametrize("url", PRIVATE_SPELLINGS)
async def test_every_spelling_of_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        await NetworkPolicy().check(url)


@pytest.mark.parametrize("url", [
    "http://[fe80::1%25eth0]/", "http://1.2.3.4.5/", "http://256.0.0.1/", "http://0x100000000/", "http://a..b/",
    "http://foo.123/", "http://exa mple.com/", "http://example.com\t/", "http://exam\nple.com/",
    "http://example.com:0/", "http://example.com:65536/", "http://[::1/", "http://ex%00ample.com/",
    "http://ex%2fample.com/", "http://xn--/", "http:example.com", "//example.com/", "javascript:alert(1)",
    "data:text/plain,hi", "http://" + "a" * 300 + ".com/"])
async def test_malformed_hosts_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        await NetworkPolicy(["http://*"]).check(url)


@pytest.mark.parametrize(("pattern", "url", "allowed"), [
    ("http://127.0.0.1:*", "http://2130706433:8080/", True),  # one address, two spellings
    ("http://127.0.0.1:*", "http://[::ffff:127.0.0.1]:8080/", True),
    ("http://127.0.0.1:*", "http://127.0.0.2:8080/", False),
    ("http://127.0.0.1", "http://127.0.0.1:8080/", False),  # no port: the default only
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/x", True),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8081/x", False),
    ("http://[::1]:*", "http://[0:0::1]:9/", True),
    ("https://bücher.example", "https://xn--bcher-kva.example/", True),
    ("https://BÜCHER.example", "https://bücher.example/", True),
    ("https://api.test/mcp/*", "https://api.test/mcp/v1", True),
    ("https://api.test/mcp/*", "https://api.test/mcpx", False),
    ("https://api.test/mcp/*", "https://api.test/other/mcp/x", False),
    ("https://api.test/", "https://api.test/anything", True),  # a bare / is any path
    ("*://api.test", "http://api.test/", True),
    ("*://api.test", "https://api.test:80/", False),  # each scheme's own default port
    ("http://*", "http://10.0.0.1/", True),  # the operator said any host
    ("http://mcp-*.corp.test", "http://mcp-1.corp.test/", True),  # a `*` inside a label stays there
    ("http://mcp-*.corp.test", "http://mcp-1.x.corp.test/", False),
    ("http://mcp-*.corp.test", "http://mcp-.evil.test/.corp.test", False),
    ("http://10.0.*.*", "http://10.0.3.4/", True),
    ("http://10.0.*.*", "http://10.0.evil.example/", False),  # an address glob never matches a name
    ("http://*.bücher.example", "http://a.xn--bcher-kva.example/", True),
])
async def test_patterns_compare_scheme_host_port_and_path_separately(pattern: str, url: str, allowed: bool) -> None:
    policy = NetworkPolicy([pattern])
    assert policy.matches(url) is allowed
    if not allowed:
        with pytest.raises(BlockedURL, match="not allowed"):
            await policy.check(url)


@pytest.mark.parametrize("pattern", ["127.0.0.1", "ftp://x", "http://", "http://u@x", "http://x:99999",
                                     "http://x:abc", "http://a..b"])
def test_bad_patterns_are_refused_when_the_server_starts(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        NetworkPolicy([pattern])


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(BlockedURL, match="does not resolve"):
        await NetworkPolicy().check("http://no-such-host.invalid/")
    with pytest.raises(BlockedURL, match="does not resolve"):
        await NetworkPolicy().connect_addresses("no-such-host.invalid", 80)
    with pytest.raises(BlockedURL, match="did not resolve"):
        await NetworkPolicy().check_addresses("no-such-host.invalid", 80, [])


async def test_connect_time_host_is_matched_against_the_patterns_again() -> None:
    policy = NetworkPolicy(["http://*.corp.example", "http://127.0.0.1:8080"])
    assert await policy.connect_addresses("127.0.0.1", 8080) == ["127.0.0.1"]
    assert await policy.connect_addresses("2130706433", 8080) == ["127.0.0.1"]
    for host, port in (("127.0.0.1", 9), ("127.0.0.2", 8080), ("localhost", 8080), ("corp.example", 80)):
        with pytest.raises(BlockedURL, match="not allowed"):
            await policy.connect_addresses(host, port)
