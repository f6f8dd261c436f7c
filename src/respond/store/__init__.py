"""Stores, registered by URL scheme: `create(url)` picks the adapter for `--database URL`.

The built-in SQL store serves `sqlite` and `postgresql` URLs (any driver suffix, e.g.
`sqlite+aiosqlite`); third-party packages add schemes through the `respond.stores`
entry-point group (a callable taking the URL).  An unknown scheme is an error listing the known.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

Factory = Callable[[str], Any]
_REGISTRY: dict[str, Factory] = {}


def register(scheme: str, factory: Factory) -> None:
    _REGISTRY[scheme] = factory


def _sql(url: str) -> Any:
    from respond.store.sql import SqlStore

    return SqlStore(url)


def known() -> list[str]:
    if not _REGISTRY:
        for scheme in ("sqlite", "postgresql", "postgres"):
            register(scheme, _sql)
        for ep in entry_points(group="respond.stores"):
            register(ep.name, ep.load())
    return sorted(_REGISTRY)


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    if not sep:
        head, sep, _ = url.partition(":")
    return head.split("+", 1)[0].lower() if sep else ""


def create(url: str) -> Any:
    names = known()
    scheme = scheme_of(url)
    if scheme not in _REGISTRY:
        raise ValueError(f"Unknown store URL scheme '{scheme}' in --database {url!r}. "
                         f"Known schemes: {', '.join(names)}.")
    return _REGISTRY[scheme](url)
