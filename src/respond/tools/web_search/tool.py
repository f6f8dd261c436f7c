"""The hosted `web_search` tool on the hosted-tool port (respond.core.hosted).

One `WebSearchTool` per server holds the operator's search provider and page fetcher; it owns
the `web_search`, `web_search_preview` and dated `tools[]` types.  A request's binding
(binding.py) offers the model up to three functions, one per action of `web_search_call.action`:

    web_search(query)                 -> action {type: "search", query, queries, sources}
    web_open_page(url)                -> action {type: "open_page", url}
    web_find_in_page(url, pattern)    -> action {type: "find_in_page", url, pattern}

Each call is a `web_search_call` item with the in_progress / searching / completed events (a
failed call ends with `.completed` too and the item says `failed`: the API has no `.failed`
event).  `action.sources` is stored and shown only with `include:
["web_search_call.action.sources"]`; the results given to the model (url, title, text) only with
`include: ["web_search_call.results"]`.  On later turns a stored call reaches the model as a note.

With no provider configured the factory returns None: the tool is not offered (a warning at
start-up says how to configure one).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from respond.core.hosted import (
    BaseTool,
    Binding,
    HostedKind,
    HostedTool,
    Item,
    ItemType,
    ToolContext,
    ToolServices,
    Wire,
)
from respond.core.netpolicy import NetworkPolicy
from respond.core.types import Message
from respond.protocol.errors import invalid
from respond.protocol.shapes import JSONObject
from respond.tools.web_search import config

if TYPE_CHECKING:  # imported by the tool when a provider is configured: aiohttp and babel are not loaded before
    from respond.tools.web_search.fetch import PageFetcher
    from respond.tools.web_search.providers import SearchProvider

log = logging.getLogger("respond.web_search")

SOURCES = "web_search_call.action.sources"
RESULTS = "web_search_call.results"


def web_search_tool(services: ToolServices) -> HostedTool | None:
    """The tool, from `services.options` (bootstrap fills them from Settings)."""
    opts = services.options
    name = opts.get("web_search_provider")
    if not name:
        log.warning("web_search: no search provider configured (--web-search-provider searxng "
                    "--web-search-url URL, or brave with --web-search-api-key): the tool is not offered")
        return None
    from respond.tools.web_search.fetch import PageFetcher
    from respond.tools.web_search.providers import create_provider

    timeout = float(opts.get("web_search_timeout", 15.0))
    provider = create_provider(name, opts.get("web_search_url"), opts.get("web_search_api_key"), timeout)
    network = opts.get("web_network") or services.network
    fetcher = PageFetcher(network if isinstance(network, NetworkPolicy) else services.network,
                          max_bytes=int(opts.get("web_max_page_bytes", 2 * 1024 * 1024)), timeout=timeout)
    log.info("web_search: provider %s; page fetches %s", provider.name,
             f"limited to {fetcher.policy.flag} patterns" if fetcher.policy.allow else "to public addresses only")
    return WebSearchTool(provider, fetcher)


def _strip(item: Item, include: frozenset[str]) -> Item:
    out = item
    action = item.get("action")
    if SOURCES not in include and isinstance(action, dict) and "sources" in action:
        out = {**out, "action": {k: v for k, v in action.items() if k != "sources"}}
    if RESULTS not in include and "results" in item:
        out = {k: v for k, v in out.items() if k != "results"}
    return out


# Without a provider, web_search tools[] are accepted and not offered (agent clients send them on
# every request): a warning in the log, and a tool_choice naming one is a 400.
WIRE = Wire(config.TYPES, items=(ItemType("web_search_call", "ws", "hosted", ("action",)),),
            includes=(SOURCES, RESULTS), strip=_strip, unconfigured="no search provider")
KIND = HostedKind("web_search", WIRE, web_search_tool)


class WebSearchTool(BaseTool):
    wire = WIRE

    def __init__(self, provider: SearchProvider, fetcher: PageFetcher) -> None:
        self.provider = provider
        self.fetcher = fetcher

    async def aclose(self) -> None:
        await self.provider.close()
        await self.fetcher.close()

    async def bind(self, configs: list[tuple[int, JSONObject]], ctx: ToolContext) -> Binding:
        if len(configs) > 1:
            i = configs[1][0]
            raise invalid("Only one web search tool (web_search or web_search_preview) may be given per request.",
                          f"tools[{i}].type", "invalid_value")
        from respond.tools.web_search.binding import WebSearchBinding

        i, raw = configs[0]
        return WebSearchBinding(self.provider, self.fetcher, config.parse(i, raw), ctx)

    def messages(self, item: Item) -> list[Message]:
        action = item.get("action") or {}
        kind = action.get("type")
        if kind == "search":
            found = "\n".join(f"- {r.get('title') or r.get('url')}: {r.get('url')}" for r in item.get("results") or [])
            note = f"web_search for {action.get('query')!r} found:\n{found or '(no results)'}"
        elif kind == "open_page":
            note = f"web_open_page opened {action.get('url')}"
        elif kind == "find_in_page":
            note = f"web_find_in_page looked for {action.get('pattern')!r} in {action.get('url')}"
        else:
            return []
        return [{"role": "system", "content": note}]

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        return [(f"response.web_search_call.{s}", {}) for s in ("in_progress", "searching", "completed")]
