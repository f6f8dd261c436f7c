"""A fake web for tests and benchmarks: a SearxNG JSON API, a Brave Search API and web pages.

One aiohttp server on 127.0.0.1 answers:

- ``GET /search?q=...&format=json`` as SearxNG does: ``{"query", "number_of_results", "results":
  [{"url", "title", "content", "engine"}], "answers", "suggestions", "infoboxes"}``;
- ``GET /res/v1/web/search?q=...`` as Brave does (``X-Subscription-Token`` required, else 401):
  ``{"type": "search", "query": {"original"}, "web": {"type": "search", "results": [{"title",
  "url", "description"}]}}``;
- ``GET /pages/<name>`` the pages given to the constructor (``{name: (content_type, body)}``);
  ``GET /redirect?to=URL`` a 302 to URL.

The results of a search are ``results`` (a list of ``{"url", "title", "content"}``, ``{base}`` in a
url replaced by the server's own base URL).  Every request is recorded in ``.seen`` (path, query
parameters, headers) for tests to check what the providers sent.

Run it alone (a demo result set and page, for benchmarks): ``python -m respond.testing.web --port 9200``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TypedDict

from aiohttp import web

DEMO_PAGE = ("<html><head><title>Tomato Garden Guide</title></head><body><nav>Home | Shop</nav><article>"
             "<h1>Watering tomatoes</h1>" + "<p>Water tomatoes deeply twice a week in summer, early in the morning; "
             "mulch keeps the soil moist and wet leaves invite blight.</p>" * 40 + "</article><footer>(c) 2026"
             "</footer></body></html>")
DEMO_RESULTS = [{"url": "{base}/pages/garden", "title": "Tomato Garden Guide", "content": "How often to water."}] + [
    {"url": f"https://site{i}.example.com/tomatoes", "title": f"Tomatoes {i}", "content": "Tomato facts. " * 8}
    for i in range(1, 10)]


class SeenRequest(TypedDict):
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeWeb:
    def __init__(self, results: list[dict[str, str]] | None = None,
                 pages: dict[str, tuple[str, str | bytes]] | None = None, brave_key: str = "brave-key") -> None:
        self.results = results or []
        self.pages = pages or {}
        self.brave_key = brave_key
        self.seen: list[SeenRequest] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def _results(self) -> list[dict[str, str]]:
        return [{k: v.replace("{base}", self.base_url) for k, v in r.items()} for r in self.results]

    def _record(self, request: web.Request) -> None:
        self.seen.append({"path": request.path, "query": dict(request.query), "headers": dict(request.headers)})

    async def searxng(self, request: web.Request) -> web.Response:
        self._record(request)
        if request.query.get("format") != "json":
            return web.Response(status=403, text="format not allowed")
        rows = [{**r, "engine": "fake", "score": 1.0} for r in self._results()]
        return web.json_response({"query": request.query.get("q", ""), "number_of_results": len(rows),
                                  "results": rows, "answers": [], "suggestions": [], "infoboxes": []})

    async def brave(self, request: web.Request) -> web.Response:
        self._record(request)
        if request.headers.get("X-Subscription-Token") != self.brave_key:
            return web.json_response({"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}},
                                     status=401)
        rows = [{"title": r["title"], "url": r["url"], "description": r.get("content", "")} for r in self._results()]
        count = int(request.query.get("count", "20"))
        return web.json_response({"type": "search", "query": {"original": request.query.get("q", "")},
                                  "web": {"type": "search", "results": rows[:count]}})

    async def page(self, request: web.Request) -> web.Response:
        self._record(request)
        name = request.match_info["name"]
        if name not in self.pages:
            return web.Response(status=404, text="not found")
        ctype, body = self.pages[name]
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def redirect(self, request: web.Request) -> web.Response:
        self._record(request)
        raise web.HTTPFound(request.query["to"].replace("{base}", self.base_url))

    async def start(self, port: int = 0) -> FakeWeb:
        app = web.Application()
        app.add_routes([web.get("/search", self.searxng), web.get("/res/v1/web/search", self.brave),
                        web.get("/pages/{name}", self.page), web.get("/redirect", self.redirect)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()

    async def run() -> None:
        fake = FakeWeb(DEMO_RESULTS, {"garden": ("text/html; charset=utf-8", DEMO_PAGE)})
        await fake.start(args.port)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
