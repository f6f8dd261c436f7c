"""JSON values whose shape the API leaves open (a tool's parameters, metadata, an action's fields).

`JSONObject` is what a field the SDK types as `Dict[str, object]` (or a model Respond passes through
unread) holds: it says "any JSON object", and unlike a dict of `Any` it makes the reader check a
value's type before using it.

`ParsedJSON` is `JSON` in a pydantic model's field (a request body's `tools`, `input` ...): the type
checker sees `JSON`, pydantic takes the value as it is (an any-schema, as for `Any`: the body was
parsed from JSON, so it is JSON already; walking it again would cost every request a second pass,
and the engine checks each value it reads).  The field's JSON Schema stays that of `Any`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from typing_extensions import TypeAliasType

# A TypeAliasType (not a string alias) so that pydantic can build it too.
JSON = TypeAliasType("JSON", "str | int | float | bool | None | list[JSON] | dict[str, JSON]")
JSONObject: TypeAlias = "dict[str, JSON]"


class _AsParsed:
    """pydantic: take the value as is (see the module's docstring)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.any_schema()


ParsedJSON: TypeAlias = Annotated[JSON, _AsParsed]
