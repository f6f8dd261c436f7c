"""One request's use of the web search tool: the functions offered, each call run as a
`web_search_call` item, and the `url_citation` annotations of the answer.

Pages opened in the request are kept (by URL) so that `web_find_in_page` on an opened page does
not fetch it again.  `filters.allowed_domains` is applied twice: passed to the provider and
enforced on what comes back and on every page the model asks to open.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any, Literal, NotRequired, TypedDict
from urllib.parse import urlsplit

from respond.core.arguments import NotJSON, loads_arguments
from respond.core.hosted import Added, Context, Done, HostedCall, Item, Progress, Step, ToolContext, no_steps
from respond.core.types import ToolSpec
from respond.protocol.ids import new_id
from respond.protocol.shapes import Annotation, JSONObject
from respond.tools.web_search import citations
from respond.tools.web_search.config import TYPES, WebConfig
from respond.tools.web_search.fetch import FetchError, Page, PageFetcher
from respond.tools.web_search.providers import ProviderError, SearchProvider, SearchQuery, SearchResult

log = logging.getLogger("respond.web_search")

SEARCH, OPEN, FIND = "web_search", "web_open_page", "web_find_in_page"
CITE = "Cite the sources you use as markdown links to their URLs, e.g. [Title](https://example.com/page)."


def _string(description: str) -> JSONObject:
    return {"type": "string", "description": description}


def specs_for(cfg: WebConfig) -> list[ToolSpec]:
    where = ""
    if cfg.location:
        shown = ", ".join(cfg.location[k] for k in ("city", "region", "country") if k in cfg.location)
        where = f" The user is approximately in {shown or 'an unspecified place'}" + (
            f" (time zone {cfg.location['timezone']})." if "timezone" in cfg.location else ".")
    only = f" Only these sites are searched: {', '.join(cfg.allowed_domains)}." if cfg.allowed_domains else ""
    specs = [ToolSpec(name=SEARCH, description="Search the web and return the top results (title, URL, snippet). "
                      "Use it for recent events or facts you are not sure of." + only + where,
                      parameters={"type": "object", "properties": {"query": _string("The search query.")},
                                  "required": ["query"]})]
    if cfg.external:
        specs += [
            ToolSpec(name=OPEN, description="Open a web page (usually a search result) and read its main text.",
                     parameters={"type": "object", "properties": {"url": _string("The page's http(s) URL.")},
                                 "required": ["url"]}),
            ToolSpec(name=FIND, description="Find a word or phrase in a web page and return the passages around it.",
                     parameters={"type": "object", "properties": {
                         "url": _string("The page's http(s) URL."), "pattern": _string("The text to look for.")},
                         "required": ["url", "pattern"]})]
    return specs


class Source(TypedDict):
    type: Literal["url"]
    url: str


class SearchAction(TypedDict):
    type: Literal["search"]
    query: str
    queries: list[str]
    sources: NotRequired[list[Source]]  # shown only with include web_search_call.action.sources


class OpenPageAction(TypedDict):
    type: Literal["open_page"]
    url: str


class FindInPageAction(TypedDict):
    type: Literal["find_in_page"]
    url: str
    pattern: str


Action = SearchAction | OpenPageAction | FindInPageAction
"""`web_search_call.action`: what one call did."""


def _args(arguments: str) -> JSONObject:
    try:
        args = loads_arguments(arguments)
    except NotJSON:
        return {"query": arguments.strip(), "url": arguments.strip()}
    return args if isinstance(args, dict) else {"query": str(args)}


def _action(name: str, args: JSONObject) -> Action:
    if name == SEARCH:
        query = str(args.get("query") or args.get("q") or "").strip()
        return {"type": "search", "query": query, "queries": [query]}
    if name == OPEN:
        return {"type": "open_page", "url": str(args.get("url") or "").strip()}
    return {"type": "find_in_page", "url": str(args.get("url") or "").strip(),
            "pattern": str(args.get("pattern") or args.get("query") or "").strip()}


def passages(text: str, pattern: str, limit: int, width: int = 300) -> list[str]:
    """Up to `limit` passages of `text` around case-insensitive matches of `pattern` (merged when close)."""
    spans: list[list[int]] = []
    for m in re.finditer(re.escape(pattern), text, re.IGNORECASE):
        start, end = max(0, m.start() - width), min(len(text), m.end() + width)
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        elif len(spans) < limit:
            spans.append([start, end])
        else:
            break
    return [text[s:e].strip() for s, e in spans]


class WebSearchBinding:
    def __init__(self, provider: SearchProvider, fetcher: PageFetcher, cfg: WebConfig, ctx: ToolContext) -> None:
        self.provider = provider
        self.fetcher = fetcher
        self.cfg = cfg
        self.ctx = ctx
        self.sources: dict[str, str] = {}  # url -> title, every source the model was given
        self.numbered: list[str] = []  # the numbers the model saw: [n] is numbered[n - 1]
        self.used: list[str] = []  # opened pages first, then search results: default citations
        self.pages: dict[str, Page] = {}
        self._specs = specs_for(cfg)

    @property
    def specs(self) -> list[ToolSpec]:
        return self._specs

    def claims(self, name: str) -> bool:
        return any(s.name == name for s in self._specs)

    def forced(self, tool_choice: Any) -> str | None:
        return SEARCH if isinstance(tool_choice, dict) and tool_choice.get("type") in TYPES else None

    def start(self) -> AsyncIterator[Step]:
        return no_steps()

    async def run(self, call: HostedCall) -> AsyncIterator[Step]:
        action = _action(call.name, _args(call.arguments))
        item: Item = {"id": new_id("ws"), "type": "web_search_call", "status": "in_progress", "action": action}
        yield Added(item)
        yield Progress(item, "response.web_search_call.in_progress")
        item["status"] = "searching"
        yield Progress(item, "response.web_search_call.searching")
        try:
            if action["type"] == "search":
                output = await self._search(item, action)
            elif action["type"] == "open_page":
                output = await self._open(action["url"])
            else:
                output = await self._find(action["url"], action["pattern"])
        except (ProviderError, FetchError, ValueError) as exc:
            log.info("web_search %s failed: %s", action["type"], exc)
            item["status"] = "failed"
            output = f"The {action['type']} action failed: {exc}"
        except Exception:  # a bug here: the model is told, the response goes on
            log.exception("web_search %s failed", action["type"])
            item["status"] = "failed"
            output = f"The {action['type']} action failed (an internal error; it was logged)."
        else:
            item["status"] = "completed"
        yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": output}])
        yield Progress(item, "response.web_search_call.completed")
        yield Done(item)

    def _source(self, url: str, title: str) -> int:
        """Remember a source; its number as the model sees it."""
        self.sources.setdefault(url, title)
        if url not in self.numbered:
            self.numbered.append(url)
        return self.numbered.index(url) + 1

    async def _search(self, item: Item, action: SearchAction) -> str:
        if not action["query"]:
            raise ValueError("the search query is empty")
        budget = self.cfg.budget
        # ask for more when results outside the allowed domains will be dropped (not every engine honours site:)
        count = budget.results * 3 if self.cfg.allowed_domains else budget.results
        query = SearchQuery(action["query"], count, self.cfg.allowed_domains, self.cfg.location)
        found = [r for r in await self.provider.search(query) if self.cfg.allows(urlsplit(r.url).hostname or "")]
        results = found[: budget.results]
        action["sources"] = [{"type": "url", "url": r.url} for r in results]
        item["results"] = [{"url": r.url, "title": r.title, "text": r.snippet} for r in results]
        for r in results:
            if r.url not in self.used:
                self.used.append(r.url)
        if not results:
            return f"No web results were found for {action['query']!r}."
        return "\n\n".join(self._show(r, budget.snippet) for r in results) + "\n\n" + CITE

    def _show(self, r: SearchResult, limit: int) -> str:
        n = self._source(r.url, r.title)
        return f"[{n}] {r.title}\nURL: {r.url}\n{r.snippet[:limit]}"

    async def _page(self, url: str) -> Page:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{url}' is not an http(s) URL")
        if not self.cfg.allows(parts.hostname):
            raise ValueError(f"{parts.hostname} is not one of this request's allowed domains "
                             f"({', '.join(self.cfg.allowed_domains)})")
        page = self.pages.get(url)
        if page is None:
            page = await self.fetcher.fetch(url)
            if not self.cfg.allows(urlsplit(page.url).hostname or ""):
                raise ValueError(f"{url} redirected to {page.url}, outside this request's allowed domains")
            self.pages[url] = self.pages[page.url] = page
        return page

    async def _open(self, url: str) -> str:
        page = await self._page(url)
        n = self._source(page.url, page.title)
        self.used.insert(0, page.url)
        limit = self.cfg.budget.page
        cut = " [... the page goes on]" if len(page.text) > limit or page.truncated else ""
        return f"[{n}] {page.title}\nURL: {page.url}\n\n{page.text[:limit] or '(no text)'}{cut}\n\n{CITE}"

    async def _find(self, url: str, pattern: str) -> str:
        if not pattern:
            raise ValueError("the pattern is empty")
        page = await self._page(url)
        n = self._source(page.url, page.title)
        found = passages(page.text, pattern, self.cfg.budget.matches)
        if not found:
            return f"[{n}] {page.title} ({page.url}): {pattern!r} was not found on the page."
        self.used.insert(0, page.url)
        shown = "\n---\n".join(found)
        return f"[{n}] {page.title}\nURL: {page.url}\n{len(found)} passage(s) with {pattern!r}:\n{shown}\n\n{CITE}"

    def annotations(self, text: str) -> list[Annotation]:
        return [*citations.cite(text, self.sources, self.numbered, self.used)]

    async def close(self) -> None:
        return None
