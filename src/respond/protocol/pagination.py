"""List endpoints: the one place for their query parameters and the one page shape.

Every list (`/responses/{id}/input_items`, `/conversations/{id}/items`, `/files`,
`/vector_stores`, their files) takes `after`, `limit` and `order` (and `before` where the API
has it), checked here with the same messages, and answers `page(data, has_more)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from respond.protocol.errors import invalid
from respond.protocol.shapes import ListPage

ORDERS = ("asc", "desc")


class Cursor(TypedDict):
    """A cursor-paged listing's keyword arguments (`**params.cursor()`)."""

    after: str | None
    limit: int
    order: str


class Window(Cursor):
    """A windowed listing's keyword arguments (vector stores: `before` too)."""

    before: str | None


def int_param(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Invalid type for '{name}': expected an integer, but got '{raw}'.", name,
                      "invalid_type") from None
    if not lo <= value <= hi:
        raise invalid(f"Invalid '{name}': expected a value from {lo} to {hi}, but got {value} instead.", name,
                      "invalid_value")
    return value


def order_param(query: Mapping[str, str], default: str = "desc") -> str:
    order = query.get("order", default)
    if order not in ORDERS:
        raise invalid(f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", "order",
                      "invalid_value")
    return order


@dataclass(frozen=True, slots=True)
class ListParams:
    after: str | None
    before: str | None
    limit: int
    order: str

    @classmethod
    def parse(cls, query: Mapping[str, str], *, limit: int = 20, max_limit: int = 100) -> ListParams:
        return cls(after=query.get("after"), before=query.get("before"),
                   limit=int_param(query, "limit", limit, 1, max_limit), order=order_param(query))

    def cursor(self) -> Cursor:
        """after, limit, order (the lists with no `before`)."""
        return {"after": self.after, "limit": self.limit, "order": self.order}

    def window(self) -> Window:
        """after, before, limit, order."""
        return {"after": self.after, "before": self.before, "limit": self.limit, "order": self.order}


Listed = TypeVar("Listed", bound=Mapping[str, Any])


def page(data: list[Listed], more: bool) -> ListPage[Listed]:
    return {"object": "list", "data": data, "first_id": str(data[0]["id"]) if data else None,
            "last_id": str(data[-1]["id"]) if data else None, "has_more": more}
