"""The web_search tool's pure parts, in process: citations, passages, options, providers' requests, include stripping."""

from __future__ import annotations

import socket

import pytest

from respond.core.netpolicy import NetworkPolicy
from respond.protocol.errors import APIError
from respond.protocol.vocabulary import Vocabulary
from respond.testing.web import FakeWeb
from respond.tools.web_search import citations, config
from respond.tools.web_search.binding import passages
from respond.tools.web_search.fetch import FetchError, PageFetcher
from respond.tools.web_search.providers import SearchQuery, create_provider, locale_for, site_query
from respond.tools.web_search.tool import WIRE

A, B = "https://a.example.com/x", "https://b.example.org/y"
SOURCES = {A: "Page A", B: "Page B"}


def test_citations_links_urls_and_markers():
    text = f"See [A]({A}) and {B}/ and also [2]."
    got = citations.cite(text, SOURCES, [A, B], [A])
    assert [(a["url"], text[a["start_index"]:a["end_index"]]) for a in got] == [
        (A, f"[A]({A})"), (B, f"{B}/"), (B, "[2]")]
    assert got[0]["title"] == "Page A" and all(a["type"] == "url_citation" for a in got)


def test_citations_fallback_and_unknown():
    text = "Tomatoes need water."
    got = citations.cite(text, SOURCES, [A, B], [B, A, B])
    assert [(a["url"], a["start_index"], a["end_index"]) for a in got] == [(B, 0, len(text)), (A, 0, len(text))]
    assert citations.cite("See https://unknown.example.net [9].", SOURCES, [A], [])[0:1] == []
    assert citations.cite("", SOURCES, [A], [A]) == []


def test_passages_merge_and_limit():
    text = "alpha " * 100 + "needle " + "beta " * 10 + "Needle " + "gamma " * 200 + "needle"
    found = passages(text, "needle", limit=5, width=30)
    assert len(found) == 2 and found[0].count("eedle") == 2
    assert passages(text, "needle", limit=1, width=30)[0].startswith("alpha")
    assert passages(text, "absent", limit=3) == []


def test_config_parse_and_errors():
    cfg = config.parse(0, {"type": "web_search", "filters": {"allowed_domains": ["https://www.Example.com/path",
                                                                                "docs.python.org"]},
                           "user_location": {"type": "approximate", "country": "fr", "city": None},
                           "search_context_size": "high", "external_web_access": False})
    assert cfg.allowed_domains == ("example.com", "docs.python.org") and cfg.location == {"country": "fr"}
    assert cfg.budget.results == 10 and not cfg.external
    assert cfg.allows("sub.example.com") and cfg.allows("example.com") and not cfg.allows("badexample.com")
    with pytest.raises(APIError) as err:
        config.parse(2, {"type": "web_search_preview", "user_location": {"city": "Paris"}})
    assert err.value.param == "tools[2].user_location.type"
    with pytest.raises(APIError) as err:
        config.parse(0, {"type": "web_search_preview", "filters": {}})
    assert err.value.param == "tools[0].filters"


def test_provider_requests():
    q = SearchQuery("tomato", 3, ("a.com", "b.org"))
    assert site_query(q) == "tomato (site:a.com OR site:b.org)"
    assert site_query(SearchQuery("tomato", 3, ("a.com",))) == "tomato site:a.com"
    assert locale_for("FR") == "fr-FR" and locale_for("jp") == "ja-JP" and locale_for("ZZ") is None and locale_for("QX") is None
    with pytest.raises(ValueError, match="Known providers: brave, searxng"):
        create_provider("google", None, None, 5)
    with pytest.raises(ValueError, match="--web-search-url"):
        create_provider("searxng", None, None, 5)
    with pytest.raises(ValueError, match="API key"):
        create_provider("brave", None, None, 5)
    assert "secret" not in repr(create_provider("brave", None, "secret", 5))


def test_strip_by_include():
    item = {"id": "ws_1", "type": "web_search_call", "status": "completed",
            "action": {"type": "search", "query": "q", "sources": [{"type": "url", "url": A}]},
            "results": [{"url": A, "title": "Page A", "text": "..."}]}
    vocabulary = Vocabulary([WIRE])  # as the server strips it: by its declared wire
    bare = vocabulary.strip(item, frozenset())
    assert "sources" not in bare["action"] and "results" not in bare and "sources" in item["action"]
    assert vocabulary.strip(item, frozenset({"web_search_call.action.sources", "web_search_call.results"})) is item


class RebindingPolicy(NetworkPolicy):
    """As if DNS said 'public' for `rebind.test` at check time: only IP literals are really checked."""

    async def check(self, url: str) -> None:
        if "rebind.test" not in url:
            await super().check(url)


async def test_fetch_checks_the_address_connected_to(monkeypatch):
    web = await FakeWeb(pages={"p": ("text/html", "<title>T</title><p>secret intranet page</p>")}).start()
    port = web.base_url.rsplit(":", 1)[1]
    fetcher = PageFetcher(RebindingPolicy(flag="--web-allow"), timeout=5)
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host == "rebind.test" else host, *a, **k))
    try:
        with pytest.raises(FetchError, match=r"'rebind.test' resolves to a private, loopback or link-local address \(127.0.0.1\)"):
            await fetcher.fetch(f"http://rebind.test:{port}/pages/p")
        assert web.seen == []  # refused before a connection was made
        allowed = PageFetcher(NetworkPolicy([f"http://127.0.0.1:{port}"]), max_bytes=20, timeout=5)
        page = await allowed.fetch(f"{web.base_url}/pages/p")
        assert page.truncated and page.title == "T"  # 20 bytes: the <title> and a little text
        await allowed.close()
    finally:
        await fetcher.close()
        await web.stop()
