"""Attribute filters of vector store search and the file_search tool: comparison and compound.

`check(filters)` validates (a 400 that names the parameter); `matches(filters, attributes)`
evaluates them against one file's attributes (a missing key never matches, except `ne`/`nin`).
"""

from __future__ import annotations

from typing import Any

from respond.protocol.errors import invalid
from respond.protocol.shapes import JSON, JSONObject

Attributes = dict[str, str | int | float | bool]
"""A vector store file's attributes (at most 16; strings, numbers and booleans)."""

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
COMPOUNDS = ("and", "or")


def check(f: Any, param: str = "filters") -> None:
    if not isinstance(f, dict):
        raise invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    kind = f.get("type")
    if kind in COMPOUNDS:
        subs = f.get("filters")
        if not isinstance(subs, list):
            raise invalid(f"Missing required parameter: '{param}.filters'.", f"{param}.filters",
                          "missing_required_parameter")
        for i, sub in enumerate(subs):
            check(sub, f"{param}.filters[{i}]")
        return
    if kind not in COMPARISONS:
        raise invalid(f"Invalid value: '{kind}'. Supported values are: {', '.join(COMPARISONS + COMPOUNDS)}.",
                      f"{param}.type", "invalid_value")
    if not isinstance(f.get("key"), str):
        raise invalid(f"Missing required parameter: '{param}.key'.", f"{param}.key", "missing_required_parameter")
    if "value" not in f:
        raise invalid(f"Missing required parameter: '{param}.value'.", f"{param}.value",
                      "missing_required_parameter")
    if kind in ("in", "nin") and not isinstance(f["value"], list):
        raise invalid(f"'{param}.value' must be an array for '{kind}'.", f"{param}.value", "invalid_type")


def _compare(op: str, have: JSON, want: JSON) -> bool:
    if op == "eq":
        return bool(have == want)
    if op == "ne":
        return bool(have != want)
    if op == "in":
        return isinstance(want, list) and have in want
    if op == "nin":
        return not isinstance(want, list) or have not in want
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    if isinstance(have, int | float) and isinstance(want, int | float):
        return _order(op, float(have), float(want))
    if isinstance(have, str) and isinstance(want, str):
        return _order(op, have, want)
    return False


def _order(op: str, have: Any, want: Any) -> bool:
    return bool({"gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want}[op])


def matches(f: JSONObject, attributes: Attributes | None) -> bool:
    """Whether one file's `attributes` pass `f` (a filter `check` accepted)."""
    kind, subs, key = f.get("type"), f.get("filters"), f.get("key")
    if kind == "and":
        return all(matches(sub, attributes) for sub in subs if isinstance(sub, dict)) if isinstance(subs, list) else False
    if kind == "or":
        return any(matches(sub, attributes) for sub in subs if isinstance(sub, dict)) if isinstance(subs, list) else False
    attrs = attributes or {}
    if not isinstance(key, str) or not isinstance(kind, str) or key not in attrs:
        return kind in ("ne", "nin")
    return _compare(kind, attrs[key], f.get("value"))
