"""The hosted web_search tool: a fake SearxNG (and Brave) and pages served on 127.0.0.1 by the test,
the scripted upstream calling the tool's functions, the official SDK as the client."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from respond.testing.web import FakeWeb, SeenRequest
from tests.spec import body_of, check_event

# The Open Responses schema (tests/spec.py) has no web_search_call item: events carrying one and
# whole responses are checked against the SDK's types; every other event against both contracts.
EVENT = TypeAdapter(ResponseStreamEvent)
ITEM_KEYS = {"id", "type", "status", "action"}

GARDEN = """<html><head><title>Tomato Garden Guide</title></head><body>
<nav>Home | Shop | About | Login</nav>
<article><h1>Watering tomatoes</h1>
<p>Water tomatoes deeply twice a week in summer, early in the morning. Mulch keeps the soil moist.</p>
<p>Never water the leaves at night: wet leaves invite blight.</p>
<script>var tracking = "SCRIPT-NOISE";</script></article>
<footer>Copyright 2026 Garden Corp</footer></body></html>"""
RESULTS = [
    {"url": "{base}/pages/garden", "title": "Tomato Garden Guide", "content": "How often to water tomatoes."},
    {"url": "https://docs.example.com/tomatoes", "title": "Tomato docs", "content": "Tomato facts."},
    {"url": "https://spam.example.org/buy", "title": "Buy tomatoes", "content": "Cheap tomatoes."},
    {"url": "https://www.example.com/about", "title": "About Example", "content": "About us."},
]


class WebThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.web = FakeWeb(RESULTS, {"garden": ("text/html; charset=utf-8", GARDEN),
                                     "notes.txt": ("text/plain", "Plain notes: tomatoes like sun."),
                                     "big": ("text/html", "<html><body><p>" + "tomato " * 40000 + "</p></body></html>"),
                                     "image.png": ("image/png", b"\x89PNG\r\n")})
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self.web.start(), self.loop).result(10)
        self.base = self.web.base_url

    def seen(self, path: str) -> list[SeenRequest]:
        return [s for s in self.web.seen if s["path"] == path]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.web.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def fake() -> Iterator[WebThread]:
    w = WebThread()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def web(module_app_factory, upstream_server, database, fake):
    """A server whose page fetches may reach 127.0.0.1 (the operator allowed it)."""
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--web-search-provider", "searxng", "--web-search-url", fake.base,
                              "--web-allow", "http://127.0.0.1:*", database=database)


def call(name: str, **args: Any) -> dict[str, Any]:
    import json
    return {"tool_calls": [{"name": name, "arguments": json.dumps(args)}]}


def check_item(item: Any) -> None:
    data = item if isinstance(item, dict) else item.model_dump(exclude_none=True)
    assert set(data) <= ITEM_KEYS | {"results"} and ITEM_KEYS <= set(data)
    assert data["id"].startswith("ws_") and data["type"] == "web_search_call"


def test_search_open_find_cite(web, upstream, fake):
    garden = f"{fake.base}/pages/garden"
    before = len(fake.seen("/pages/garden"))
    upstream.reply(call("web_search", query="tomato watering"), call("web_open_page", url=garden),
                   call("web_find_in_page", url=garden, pattern="twice a week"),
                   {"content": f"Water them twice a week, in the morning [Tomato Garden Guide]({garden})."})
    client = web.client()
    r = client.responses.create(model="scripted", input="How often should I water tomatoes?",
                                tools=[{"type": "web_search"}])
    Response.model_validate(web.http().get(f"/responses/{r.id}").json())
    assert [o.type for o in r.output] == ["web_search_call"] * 3 + ["message"]
    search, opened, found, msg = r.output
    for item in (search, opened, found):
        check_item(item)
        assert item.status == "completed"
    assert search.action.type == "search" and search.action.query == "tomato watering"
    assert search.action.sources is None  # only with include
    assert opened.action.type == "open_page" and opened.action.url == garden
    assert found.action.type == "find_in_page" and found.action.pattern == "twice a week"
    ann = msg.content[0].annotations
    link = f"[Tomato Garden Guide]({garden})"
    start = r.output_text.index(link)
    assert [(a.type, a.url, a.start_index, a.end_index) for a in ann] == [
        ("url_citation", garden, start, start + len(link))]
    assert ann[0].title == "Watering tomatoes" or ann[0].title == "Tomato Garden Guide"
    # what the model was given: numbered results, then the page's main text without its boilerplate
    msgs = upstream.requests()[-1]["messages"]
    tools_said = [m["content"] for m in msgs if m["role"] == "tool"]
    assert "[1] Tomato Garden Guide" in tools_said[0] and garden in tools_said[0]
    assert "twice a week in summer" in tools_said[1] and "SCRIPT-NOISE" not in tools_said[1]
    assert "Copyright 2026" not in tools_said[1] and "<p>" not in tools_said[1]
    assert "1 passage(s)" in tools_said[2] and "twice a week" in tools_said[2]
    assert [t["function"]["name"] for t in upstream.requests()[0]["tools"]] == [
        "web_search", "web_open_page", "web_find_in_page"]
    assert fake.seen("/search")[-1]["query"]["q"] == "tomato watering"
    assert len(fake.seen("/pages/garden")) == before + 1  # find_in_page reused the opened page
    # sources and results are stored; shown only when asked for
    again = client.responses.retrieve(r.id, include=["web_search_call.action.sources"])
    urls = [s.url for s in again.output[0].action.sources]
    assert urls[0] == garden and "https://docs.example.com/tomatoes" in urls
    assert "results" not in again.model_dump()["output"][0]
    full = web.http().get(f"/responses/{r.id}", params={"include[]": "web_search_call.results"}).json()
    assert full["output"][0]["results"][0]["title"] == "Tomato Garden Guide"


def test_streamed_events_and_sources(web, upstream, fake):
    upstream.reply(call("web_search", query="tomatoes"), {"content": "See [1] for details."})
    client = web.client()
    events = [e.model_dump(exclude_none=True, by_alias=True) for e in client.responses.create(
        model="scripted", input="tomatoes?", tools=[{"type": "web_search_preview"}], stream=True,
        include=["web_search_call.action.sources"], tool_choice={"type": "web_search_preview"})]
    for ev in events:
        EVENT.validate_python(ev)
        if ev["type"] not in ("response.output_item.added", "response.output_item.done") and "response" not in ev:
            check_event(ev)
    types = [e["type"] for e in events]
    order = ["response.web_search_call.in_progress", "response.web_search_call.searching",
             "response.web_search_call.completed", "response.output_text.annotation.added", "response.completed"]
    assert [t for t in types if t in order] == order
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = next(e for e in events if e["type"] == "response.output_item.done")
    check_item(done["item"])
    assert done["item"]["action"]["sources"][0] == {"type": "url", "url": f"{fake.base}/pages/garden"}
    ann = next(e for e in events if e["type"] == "response.output_text.annotation.added")["annotation"]
    assert ann["url"] == f"{fake.base}/pages/garden" and (ann["start_index"], ann["end_index"]) == (4, 7)
    first = upstream.requests()[-2]
    assert first["tool_choice"]["function"]["name"] == "web_search"


def test_allowed_domains_and_location(web, upstream, fake):
    upstream.reply(call("web_search", query="tomato"), call("web_open_page", url=f"{fake.base}/pages/garden"),
                   {"content": "Nothing I may open."})
    client = web.client()
    before = len(fake.seen("/pages/garden"))
    r = client.responses.create(model="scripted", input="tomato?", include=["web_search_call.action.sources"],
                                tools=[{"type": "web_search", "filters": {"allowed_domains": ["example.com"]},
                                        "user_location": {"type": "approximate", "country": "FR",
                                                          "city": "Lyon"},
                                        "search_context_size": "low"}])
    sent = fake.seen("/search")[-1]["query"]
    assert sent["q"] == "tomato site:example.com" and sent["language"] == "fr-FR"
    search, opened, _ = r.output
    assert [s.url for s in search.action.sources] == ["https://docs.example.com/tomatoes",
                                                      "https://www.example.com/about"]
    assert opened.status == "failed" and len(fake.seen("/pages/garden")) == before  # never fetched
    first, last = upstream.requests()[-3], upstream.requests()[-1]
    assert "Lyon" in first["tools"][0]["function"]["description"]
    assert "allowed domains" in last["messages"][-1]["content"]


def test_context_size_and_bad_tools(web, upstream, fake):
    upstream.reply(call("web_search", query="tomato"), {"content": "ok"})
    r = web.client().responses.create(model="scripted", input="x", include=["web_search_call.action.sources"],
                                      tools=[{"type": "web_search", "search_context_size": "low"}])
    assert len(r.output[0].action.sources) == 3  # low: three results
    bad: list[tuple[dict[str, Any], str]] = [({"search_context_size": "huge"}, "tools[0].search_context_size"),
           ({"filters": {"blocked_domains": ["a.com"]}}, "tools[0].filters.blocked_domains"),
           ({"filters": {"allowed_domains": ["not a domain"]}}, "tools[0].filters.allowed_domains[0]"),
           ({"user_location": {"type": "approximate", "country": "France"}}, "tools[0].user_location.country"),
           ({"external_web_access": "yes"}, "tools[0].external_web_access"),
           ({"color": "blue"}, "tools[0].color")]
    for extra, param in bad:
        with pytest.raises(openai.BadRequestError) as err:
            web.client().responses.create(model="scripted", input="x", tools=[{"type": "web_search", **extra}])
        assert body_of(err)["param"] == param, extra
    with pytest.raises(openai.BadRequestError) as err:
        web.client().responses.create(model="scripted", input="x", tools=[
            {"type": "web_search_preview_2025_03_11", "search_content_types": ["image"]}])
    assert body_of(err)["param"] == "tools[0].search_content_types"


def test_offline_mode_offers_search_only(web, upstream, fake):
    upstream.reply({"content": "ok"})
    web.client().responses.create(model="scripted", input="x",
                                  tools=[{"type": "web_search_2025_08_26", "external_web_access": False}])
    assert [t["function"]["name"] for t in upstream.requests()[-1]["tools"]] == ["web_search"]


def test_background_and_chain(web, upstream, fake):
    upstream.reply(call("web_search", query="tomato"), {"content": "Twice a week."}, {"content": "Yes."})
    client = web.client()
    r = client.responses.create(model="scripted", input="tomato?", tools=[{"type": "web_search"}], background=True)
    deadline = time.monotonic() + 20
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.05)
        r = client.responses.retrieve(r.id)
    assert r.status == "completed" and [o.type for o in r.output] == ["web_search_call", "message"]
    assert r.output[1].content[0].annotations[0].type == "url_citation"
    # a later turn sees what the search found (a note), without the tool
    client.responses.create(model="scripted", input="sure?", previous_response_id=r.id)
    notes = [m["content"] for m in upstream.requests()[-1]["messages"] if m["role"] == "system"]
    assert any("Tomato Garden Guide" in n for n in notes)


@pytest.fixture(scope="module")
def public_only(module_app_factory, upstream_server, fake, tmp_path_factory):
    """No --web-allow/--mcp-allow: pages on private or loopback addresses are refused."""
    db = f"sqlite:///{tmp_path_factory.mktemp('pub') / 'r.db'}"
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--web-search-provider", "searxng", "--web-search-url", fake.base, database=db)


def test_policy_refuses_private_address(public_only, upstream, fake):
    before = len(fake.seen("/pages/garden"))
    upstream.reply(call("web_search", query="tomato"), call("web_open_page", url=f"{fake.base}/pages/garden"),
                   call("web_open_page", url="http://169.254.169.254/latest/meta-data/"), {"content": "Blocked."})
    r = public_only.client().responses.create(model="scripted", input="x", tools=[{"type": "web_search"}])
    search, local, metadata, _ = r.output
    assert search.status == "completed"  # the operator's SearxNG is configuration, not a model's choice
    assert local.status == "failed" and metadata.status == "failed"
    assert len(fake.seen("/pages/garden")) == before
    said = [m["content"] for m in upstream.requests()[-1]["messages"] if m["role"] == "tool"]
    assert "private, loopback or link-local" in said[1] and "--web-allow" in said[1]
    assert "169.254.169.254" in said[2]


@pytest.fixture(scope="module")
def narrow(module_app_factory, upstream_server, fake, tmp_path_factory):
    """Only /pages/* on the fake web is allowed; pages are read up to 4 KiB."""
    db = f"sqlite:///{tmp_path_factory.mktemp('narrow') / 'r.db'}"
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--web-search-provider", "searxng", "--web-search-url", fake.base,
                              "--web-allow", f"{fake.base}/pages/*", "--web-max-page-kb", "4", database=db)


def test_redirects_size_and_types(narrow, upstream, fake):
    base = fake.base
    upstream.reply(call("web_open_page", url=f"{base}/redirect?to={base}/pages/garden"),
                   call("web_open_page", url=f"{base}/pages/big"),
                   call("web_open_page", url=f"{base}/pages/image.png"),
                   call("web_open_page", url=f"{base}/pages/notes.txt"), {"content": "Done."})
    r = narrow.client().responses.create(model="scripted", input="x", tools=[{"type": "web_search"}])
    assert [o.status for o in r.output[:4]] == ["failed", "completed", "failed", "completed"]
    said = [m["content"] for m in upstream.requests()[-1]["messages"] if m["role"] == "tool"]
    assert "not allowed by this server's --web-allow" in said[0]
    assert "[... the page goes on]" in said[1] and len(said[1]) < 6000
    assert "image/png" in said[2] and "Plain notes: tomatoes like sun." in said[3]


def test_brave_provider(app_factory, upstream, fake, caplog):
    caplog.set_level(logging.DEBUG)  # every line the server logs, debug included
    key = "brave-key"
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--web-search-provider", "brave",
                      "--web-search-url", f"{fake.base}/res/v1/web/search", "--web-search-api-key", key)
    upstream.reply(call("web_search", query="tomato"), {"content": "Tomatoes [2]."})
    r = srv.client().responses.create(model="scripted", input="x", include=["web_search_call.action.sources"],
                                      tools=[{"type": "web_search", "search_context_size": "high",
                                              "user_location": {"country": "DE", "city": "Berlin",
                                                                "timezone": "Europe/Berlin"}}])
    seen = fake.seen("/res/v1/web/search")[-1]
    assert seen["headers"]["X-Subscription-Token"] == key and seen["query"]["country"] == "DE"
    assert seen["query"]["count"] == "10" and seen["headers"]["X-Loc-City"] == "Berlin"
    assert seen["headers"]["X-Loc-Timezone"] == "Europe/Berlin"
    assert len(r.output[0].action.sources) == 4
    assert r.output[1].content[0].annotations[0].url == "https://docs.example.com/tomatoes"
    assert key not in srv.http().get(f"/responses/{r.id}").text and key not in caplog.text


def test_no_provider_warns(app_factory, upstream, caplog):
    app_factory("--upstream", upstream.base_url, "--embedded", "off")
    assert "web_search: no search provider configured" in caplog.text
