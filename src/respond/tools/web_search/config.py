"""`tools[i]` of the web search types, validated: every option is applied or refused, none ignored.

    web_search / web_search_2025_08_26:                  filters.allowed_domains, user_location,
                                                         search_context_size, external_web_access
    web_search_preview / web_search_preview_2025_03_11:  user_location, search_context_size,
                                                         search_content_types (text only here)

`search_context_size` sets how much of the web reaches the model (`CONTEXT`: results per search,
characters of page text per open_page); `external_web_access: false` keeps the tool to the
search engine's own results (no page is fetched: open_page and find_in_page are not offered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from respond.protocol.errors import APIError, invalid
from respond.protocol.shapes import JSONObject

SEARCH_TYPES = ("web_search", "web_search_2025_08_26")
PREVIEW_TYPES = ("web_search_preview", "web_search_preview_2025_03_11")
TYPES = SEARCH_TYPES + PREVIEW_TYPES
SIZES = ("low", "medium", "high")
MAX_DOMAINS = 100
LOCATION_KEYS = ("city", "region", "country", "timezone")


@dataclass(frozen=True, slots=True)
class Budget:
    results: int  # results per search
    snippet: int  # characters of each result's snippet
    page: int  # characters of page text per open_page
    matches: int  # passages per find_in_page


CONTEXT = {"low": Budget(3, 200, 3000, 3), "medium": Budget(6, 400, 8000, 5),
           "high": Budget(10, 800, 20000, 10)}


@dataclass(frozen=True, slots=True)
class WebConfig:
    allowed_domains: tuple[str, ...] = ()
    location: dict[str, str] = field(default_factory=dict)
    context_size: str = "medium"
    external: bool = True

    @property
    def budget(self) -> Budget:
        return CONTEXT[self.context_size]

    def allows(self, host: str) -> bool:
        """Is `host` one of the allowed domains or a subdomain of one (all hosts when none are set)?"""
        host = host.lower().rstrip(".")
        return not self.allowed_domains or any(host == d or host.endswith("." + d) for d in self.allowed_domains)


def parse(index: int, raw: JSONObject) -> WebConfig:
    param = f"tools[{index}]"
    kind = raw["type"]
    known = {"type", "user_location", "search_context_size"}
    known |= {"filters", "external_web_access"} if kind in SEARCH_TYPES else {"search_content_types"}
    for key in raw:
        if key not in known:
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    size = raw.get("search_context_size") or "medium"
    if size not in SIZES:
        raise invalid(f"Invalid value: '{size}'. Supported values are: 'low', 'medium' and 'high'.",
                      f"{param}.search_context_size", "invalid_value")
    external = raw.get("external_web_access", True)
    if not isinstance(external, bool):
        raise _type(f"{param}.external_web_access", "a boolean")
    _content_types(raw.get("search_content_types"), f"{param}.search_content_types")
    return WebConfig(_domains(raw.get("filters"), f"{param}.filters"),
                     _location(raw.get("user_location"), f"{param}.user_location", kind in PREVIEW_TYPES),
                     size, external)


def _type(param: str, expected: str) -> APIError:
    return invalid(f"Invalid type for '{param}': expected {expected}.", param, "invalid_type")


def _domains(filters: Any, param: str) -> tuple[str, ...]:
    if filters is None:
        return ()
    if not isinstance(filters, dict):
        raise _type(param, "an object")
    for key in filters:
        if key != "allowed_domains":
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    domains = filters.get("allowed_domains")
    if domains is None:
        return ()
    param += ".allowed_domains"
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise _type(param, "an array of strings")
    if len(domains) > MAX_DOMAINS:
        raise invalid(f"Invalid '{param}': at most {MAX_DOMAINS} domains.", param, "array_above_max_length")
    out = []
    for i, d in enumerate(domains):
        host = (urlsplit(d if "://" in d else f"//{d}").hostname or "").rstrip(".")
        if not host or "." not in host:
            raise invalid(f"Invalid '{param}[{i}]': '{d}' is not a domain name such as 'example.com'.",
                          f"{param}[{i}]", "invalid_value")
        out.append(host.removeprefix("www."))
    return tuple(dict.fromkeys(out))


def _location(loc: Any, param: str, type_required: bool) -> dict[str, str]:
    if loc is None:
        return {}
    if not isinstance(loc, dict):
        raise _type(param, "an object")
    if loc.get("type", None if not type_required else "") != "approximate" and (type_required or "type" in loc):
        raise invalid(f"Invalid value for '{param}.type': expected 'approximate'.", f"{param}.type",
                      "invalid_value")
    out: dict[str, str] = {}
    for key, value in loc.items():
        if key == "type":
            continue
        if key not in LOCATION_KEYS:
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
        if value is None:
            continue
        if not isinstance(value, str):
            raise _type(f"{param}.{key}", "a string")
        out[key] = value
    country = out.get("country")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise invalid(f"Invalid '{param}.country': '{country}' is not a two-letter ISO country code such as 'US'.",
                      f"{param}.country", "invalid_value")
    return out


def _content_types(value: Any, param: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(v in ("text", "image") for v in value):
        raise invalid(f"Invalid '{param}': expected an array of 'text' and 'image'.", param, "invalid_value")
    if "image" in value:
        raise invalid(f"'{param}' may only be ['text'] on this server: its web search returns text results.",
                      param, "invalid_value")
