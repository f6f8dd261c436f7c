"""Wire vocabulary that hosted tools add: their item types, their `include` values, how `include`
hides parts of their items.

The protocol layer knows the core of the API (messages, function calls, ...); each hosted tool
registers the rest of what it puts on the wire when the server composes its tool set (see
`respond.tools.load`), so that the request parser accepts its items and include values and every
read path (GET, input_items, conversation items, stream snapshots) strips its items the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Item = dict[str, Any]
Stripper = Callable[[Item, frozenset[str]], Item]

_ITEM_TYPES: set[str] = set()
_INCLUDES: set[str] = set()
_STRIPPERS: dict[str, Stripper] = {}


def register(item_types: Iterable[str], includes: Iterable[str] = (), strip: Stripper | None = None) -> None:
    for kind in item_types:
        _ITEM_TYPES.add(kind)
        if strip is not None:
            _STRIPPERS[kind] = strip
    _INCLUDES.update(includes)


def item_types() -> frozenset[str]:
    return frozenset(_ITEM_TYPES)


def includes() -> frozenset[str]:
    return frozenset(_INCLUDES)


def strip(item: Item, include: frozenset[str]) -> Item:
    fn = _STRIPPERS.get(str(item.get("type")))
    return fn(item, include) if fn is not None else item
