"""JSON values whose shape the API leaves open (a tool's parameters, metadata, an action's fields).

`JSONObject` is what a field the SDK types as `Dict[str, object]` (or a model Respond passes through
unread) holds: it says "any JSON object", and unlike a dict of `Any` it makes the reader check a
value's type before using it.
"""

from __future__ import annotations

from typing import TypeAlias

JSON: TypeAlias = "str | int | float | bool | None | list[JSON] | dict[str, JSON]"
JSONObject: TypeAlias = "dict[str, JSON]"
