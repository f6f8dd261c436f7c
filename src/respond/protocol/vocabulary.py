"""The wire vocabulary of one server: the core API's item types and `include` values, plus what each
hosted tool declares (`Wire`), collected once by the composition root into a `Vocabulary`.

Protocol names no hosted tool.  A hosted tool (respond.core.hosted) declares a `Wire`: the `tools[]`
types it owns, its output item types (each an `ItemType` with its required fields and its id
prefix: items of it sent back as input are validated like any other), its `include` values and how
`include` hides parts of its items, the `tool_choice` field that picks one of its `tools[]` entries,
and whether its `tools[]` are accepted (and not offered) while the server has not configured it.
Bootstrap builds one `Vocabulary` from every known tool (configured or not) and hands it to the
engine, which passes it to every parse and every read path: no registry, nothing filled at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.item_types import ITEM_TYPES, ItemType
from respond.protocol.items import normalize_item, strip_core

Item = dict[str, Any]
Stripper = Callable[[Item, frozenset[str]], Item]

# Include values of the core API; hosted tools declare theirs (`Wire.includes`).
CORE_INCLUDES = (
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


@dataclass(frozen=True, slots=True)
class Wire:
    """What one hosted tool puts on the wire (declared by the tool, whether configured or not)."""

    tool_types: tuple[str, ...]  # the `tools[]` types it owns
    items: tuple[ItemType, ...] = ()  # its output item types (context "hosted"), accepted back as input
    includes: tuple[str, ...] = ()  # `include` values revealing parts of its items
    strip: Stripper | None = None  # its item as a client that asked for `include` sees it (a copy when changed)
    choice_key: str | None = None  # the `tool_choice` field naming one of its tools[] entries (None: any)
    unconfigured: str | None = None  # when set, its tools[] are accepted and not offered while the server has
    # not configured it, and the log says why: "<type> has <unconfigured> on this server"


class IncludeError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Vocabulary:
    """The core vocabulary plus the declared `wires`; a clash (two declarations of one name) is an error."""

    def __init__(self, wires: Iterable[Wire] = ()) -> None:
        self.wires = tuple(wires)
        types: dict[str, ItemType] = dict(ITEM_TYPES)
        tool_types: dict[str, Wire] = {}
        includes = list(CORE_INCLUDES)
        strippers: dict[str, Stripper] = {}
        for wire in self.wires:
            for kind in wire.tool_types:
                if kind in tool_types:
                    raise ValueError(f"Two hosted tools declare the tools[] type '{kind}'.")
                tool_types[kind] = wire
            for spec in wire.items:
                if spec.type in types:
                    raise ValueError(f"The item type '{spec.type}' is declared twice.")
                if spec.context != "hosted":
                    raise ValueError(f"A hosted tool's item type '{spec.type}' must have the context 'hosted'.")
                types[spec.type] = spec
                if wire.strip is not None:
                    strippers[spec.type] = wire.strip
            for value in wire.includes:
                if value in includes:
                    raise ValueError(f"The include value '{value}' is declared twice.")
                includes.append(value)
        self.item_types: Mapping[str, ItemType] = types
        self.tool_types: Mapping[str, Wire] = tool_types
        self.includes: tuple[str, ...] = tuple(sorted(includes))
        self._strippers = strippers
        self._accepted = sorted([t.type for t in types.values() if t.context != "reject"] + ["item_reference"])

    # -- input items --------------------------------------------------------------------------------
    def item_type(self, kind: Any, param: str) -> ItemType:
        """The type of an input item, or a 400 naming it."""
        spec = self.item_types.get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise invalid(f"Invalid value: '{kind}'. Supported values are: {', '.join(self._accepted)}.",
                          f"{param}.type", "invalid_value")
        if spec.context == "reject":
            raise invalid(f"Input items of type '{kind}' are not supported by this server.", f"{param}.type",
                          "unsupported_value")
        return spec

    def normalize_item(self, raw: Any, index: int) -> Item:
        return normalize_item(raw, index, self.item_type)

    def normalize_input(self, value: str | list[Any] | None) -> list[Item]:
        """A request's `input` as stored items (a string: one user message)."""
        if value is None:
            return []
        if isinstance(value, str):
            return [{"id": new_id("msg"), "type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": value}], "status": "completed"}]
        return [self.normalize_item(raw, i) for i, raw in enumerate(value)]

    # -- include ------------------------------------------------------------------------------------
    def check_include(self, values: list[str] | None, param: str = "include") -> None:
        known = self.includes
        for i, v in enumerate(values or []):
            if v not in known:
                listed = ", ".join(repr(k) for k in known[:-1]) + f" or {known[-1]!r}"
                raise IncludeError(f"Invalid value: '{v}'. Supported values are: {listed}.", f"{param}[{i}]")

    def strip(self, item: Item, include: frozenset[str] | set[str]) -> Item:
        """`item` as a client that asked for `include` sees it (a copy when something is hidden): the
        core types' rules (image URLs, logprobs, reasoning state), else its hosted tool's."""
        stripper = self._strippers.get(str(item.get("type")))
        if stripper is not None:
            return stripper(item, frozenset(include))
        return strip_core(item, include)


CORE = Vocabulary()
"""A server without hosted tools (a test, an embedding program that adds none)."""
