"""The search-provider port and its adapters: SearxNG (self-hosted, its JSON API) and Brave Search.

A provider answers one `SearchQuery` with `SearchResult`s (url, title, snippet).  The request's
options reach it as far as its API can take them: the result count (`search_context_size`), the
allowed domains (as `site:` operators in the query; the tool also filters what comes back, as no
engine honours them all) and the user's approximate location (Brave: `country` and its `X-Loc-*`
headers; SearxNG: a `language` locale derived from the country, e.g. `fr-FR`).

The provider's endpoint is the operator's configuration, so it is not subject to the outbound
network policy (a SearxNG on localhost is the usual set-up); the pages the model opens are.
An API key is sent in a header only, never logged nor put in an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from babel import Locale, UnknownLocaleError

log = logging.getLogger("respond.web_search")

BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
BRAVE_MAX_COUNT = 20


class ProviderError(Exception):
    """The search engine could not answer; the message is safe to show the model and the client."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    count: int = 5
    allowed_domains: tuple[str, ...] = ()
    location: Mapping[str, str] = field(default_factory=dict)  # city, region, country, timezone


@dataclass(frozen=True, slots=True)
class SearchResult:
    url: str
    title: str
    snippet: str = ""


class SearchProvider(Protocol):
    name: str

    async def search(self, query: SearchQuery) -> list[SearchResult]: ...

    async def close(self) -> None: ...


def site_query(query: SearchQuery) -> str:
    """The query text with the allowed domains as `site:` operators (most engines understand them)."""
    if not query.allowed_domains:
        return query.query
    sites = " OR ".join(f"site:{d}" for d in query.allowed_domains)
    return f"{query.query} ({sites})" if len(query.allowed_domains) > 1 else f"{query.query} {sites}"


def locale_for(country: str | None) -> str | None:
    """The most likely locale of a country (`FR` -> `fr-FR`), from CLDR's likely subtags (babel)."""
    if not country or country.upper() == "ZZ" or country.upper() not in Locale("en").territories:
        return None
    try:
        likely = Locale.parse(f"und_{country.upper()}")
    except (UnknownLocaleError, ValueError):
        return None
    return f"{likely.language}-{country.upper()}" if likely.language else None


class _HTTPProvider:
    name = "base"

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _get(self, params: dict[str, str], headers: dict[str, str]) -> Any:
        try:
            async with self.session().get(self.url, params=params, headers=headers) as resp:
                if resp.status != 200:
                    raise ProviderError(f"the {self.name} search engine answered HTTP {resp.status}")
                return await resp.json(content_type=None)
        except ProviderError:
            raise
        except TimeoutError:
            raise ProviderError(f"the {self.name} search engine did not answer in time") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise ProviderError(f"the {self.name} search engine could not be reached "
                                f"({type(exc).__name__})") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SearxngProvider(_HTTPProvider):
    """SearxNG's `GET /search?q=...&format=json` (the instance must enable the json format)."""

    name = "searxng"

    def __init__(self, url: str, timeout: float = 10.0, api_key: str | None = None) -> None:
        base = url.rstrip("/")
        super().__init__(base if base.endswith("/search") else f"{base}/search", timeout)
        self.api_key = api_key  # optional: sent as a bearer token to a SearxNG behind an auth proxy

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params = {"q": site_query(query), "format": "json", "pageno": "1", "safesearch": "1"}
        language = locale_for(query.location.get("country"))
        if language:
            params["language"] = language
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = await self._get(params, headers)
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ProviderError("the searxng search engine sent no result list (is its json format enabled?)")
        return [SearchResult(str(r["url"]), str(r.get("title") or r["url"]), str(r.get("content") or ""))
                for r in rows if isinstance(r, dict) and isinstance(r.get("url"), str)][: query.count]


class BraveProvider(_HTTPProvider):
    """Brave Search's web search API: `X-Subscription-Token` key, `country`, `X-Loc-*` location headers."""

    name = "brave"
    LOCATION_HEADERS = {"city": "X-Loc-City", "region": "X-Loc-State-Name", "country": "X-Loc-Country",
                        "timezone": "X-Loc-Timezone"}

    def __init__(self, url: str | None, timeout: float = 10.0, api_key: str | None = None) -> None:
        if not api_key:
            raise ValueError("The brave web search provider needs an API key (--web-search-api-key).")
        super().__init__(url or BRAVE_URL, timeout)
        self._key = api_key

    def __repr__(self) -> str:  # never show the key
        return f"BraveProvider(url={self.url!r})"

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params = {"q": site_query(query), "count": str(min(query.count, BRAVE_MAX_COUNT)), "safesearch": "moderate"}
        headers = {"Accept": "application/json", "X-Subscription-Token": self._key}
        country = query.location.get("country")
        if country:
            params["country"] = country.upper()
        for key, header in self.LOCATION_HEADERS.items():
            if query.location.get(key):
                headers[header] = query.location[key]
        data = await self._get(params, headers)
        web = data.get("web") if isinstance(data, dict) else None
        rows = web.get("results") if isinstance(web, dict) else []
        return [SearchResult(str(r["url"]), str(r.get("title") or r["url"]), str(r.get("description") or ""))
                for r in rows or [] if isinstance(r, dict) and isinstance(r.get("url"), str)][: query.count]


Factory = Callable[..., SearchProvider]
PROVIDERS: dict[str, Factory] = {"searxng": SearxngProvider, "brave": BraveProvider}


def create_provider(name: str, url: str | None, api_key: str | None, timeout: float) -> SearchProvider:
    """The provider named by the operator; an unknown name is an error listing the known ones."""
    if name not in PROVIDERS:
        raise ValueError(f"Unknown web search provider '{name}'. Known providers: {', '.join(sorted(PROVIDERS))}.")
    if name == "searxng" and not url:
        raise ValueError("The searxng web search provider needs the URL of a SearxNG instance (--web-search-url).")
    return PROVIDERS[name](url, timeout=timeout, api_key=api_key)
