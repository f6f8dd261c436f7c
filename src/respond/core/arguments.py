"""A tool call's `arguments` text, read one way everywhere (engine, hosted tools, backends).

Models send JSON objects, but also nothing (a tool without parameters), a bare value, or the text
itself (some models send code or a query unquoted): `loads_arguments` says which, and each caller
keeps its own fallback for text that is not JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

from respond.protocol.shapes.values import JSONObject


class NotJSON(ValueError):
    """The arguments are not JSON text."""


def loads_arguments(arguments: str | None) -> Any:
    """The JSON value of `arguments`; {} when they are empty or blank; `NotJSON` when they are not JSON."""
    if not arguments or not arguments.strip():
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise NotJSON(str(exc)) from None


def arguments_object(arguments: str | None) -> JSONObject | None:
    """`arguments` as a JSON object ({} when empty); None when they are not one."""
    try:
        value = loads_arguments(arguments)
    except NotJSON:
        return None
    return value if isinstance(value, dict) else None
