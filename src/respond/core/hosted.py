"""The hosted-tool port: a tool the server runs itself inside a response (file_search, mcp, ...).

A hosted tool is a `HostedKind` (what it is, known whether the server configured it or not) and two
objects:

- the kind's `Wire` (protocol/vocabulary.py): what it puts on the wire, its `tools[]` types, item
  types (with their required fields and id prefix), `include` values and how `include` hides parts
  of its items, the `tool_choice` field that picks one of its tools.  Bootstrap collects every
  kind's wire into the server's one `Vocabulary`: engine and protocol name no hosted tool.
- a `HostedTool`, one per server, built by the kind's `build` from `ToolServices` (None: not
  configured).  It knows its items *at rest*: how a stored item becomes chat context on later
  turns (`messages`), the events a stream of it carried (`replay`) and what of its config may be
  stored and echoed (`echo`: secrets dropped, kept aside by `secrets` for a background run).
- a `Binding`, one per request, returned by `HostedTool.bind` after validating every `tools[i]` of
  its types (a 400 `APIError` naming `tools[i].field`).  It offers the model functions (`specs`),
  claims the model's calls to them (`claims`), may act before the first model turn (`start`: list
  a remote server's tools, run a call approved in this request's input), runs a call (`run`), adds
  annotations to the final answer (`annotations`) and is closed with the response (`close`).

`start` and `run` yield `Step`s, never events: the engine numbers and sends events.  A step
names the output item it is about (the dict itself, which the engine appends to `output`):

    Added(item)                    output_item.added
    Progress(item, "response.x.y", **fields)   an event with item_id and output_index filled in
    Done(item)                     output_item.done (the item as `include` shows it)
    Context(messages)              chat messages appended for the model's next turn
    Halt()                         end the response after this round (e.g. an approval request)

A call's `Context` must answer the call id with a `tool` message (the engine has already put the
model's call in an assistant message).  A new hosted tool is its own package under `respond/tools/`
(its `HostedKind`) plus its name in bootstrap's `HOSTED_TOOLS`, or an entry point of the
`respond.tools` group (docs/hosted-tools.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from respond.core.netpolicy import NetworkPolicy
from respond.core.retrieval import Retriever
from respond.core.types import Message, ToolSpec
from respond.protocol.item_types import ItemType
from respond.protocol.shapes import Annotation, JSONObject
from respond.protocol.vocabulary import Wire

__all__ = ["ItemType", "Wire"]  # re-exported: a tool declares its wire with them

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class HostedCall:
    """One model call to a function a binding claims."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Added:
    item: Item


@dataclass(frozen=True, slots=True)
class Progress:
    item: Item
    type: str
    fields: JSONObject = field(default_factory=dict)  # the event's own fields


@dataclass(frozen=True, slots=True)
class Done:
    item: Item


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[Message]


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop after this round: the response ends without asking the model again."""


Step = Added | Progress | Done | Context | Halt


@dataclass(slots=True)
class ToolContext:
    """What a binding may see of its request."""

    owner: str
    include: frozenset[str]
    tool_choice: Any  # the request's raw tool_choice
    history: Sequence[Item] = ()  # the chain's earlier items (previous_response_id or conversation)
    new_items: Sequence[Item] = ()  # this request's input items
    secrets: Mapping[str, JSONObject] = field(default_factory=dict)  # tools[i] secrets kept out of storage, by i


@dataclass(slots=True)
class ToolServices:
    """What a tool factory may be given by the composition root."""

    retriever: Retriever | None = None
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    options: dict[str, Any] = field(default_factory=dict)


class Binding(Protocol):
    """One request's use of a hosted tool."""

    @property
    def specs(self) -> list[ToolSpec]:
        """The functions offered to the model (read each turn: `start` may change them)."""
        ...

    def claims(self, name: str) -> bool: ...

    def forced(self, tool_choice: Any) -> str | None:
        """The function to force for a `tool_choice` naming this tool ({type: file_search}, ...), else None."""
        ...

    def start(self) -> AsyncIterator[Step]: ...

    def run(self, call: HostedCall) -> AsyncIterator[Step]: ...

    def annotations(self, text: str) -> list[Annotation]:
        """Annotations for the final answer `text` (citations), once the model is done."""
        ...

    async def close(self) -> None: ...


class HostedTool(Protocol):
    """A configured hosted tool; one instance serves every request."""

    wire: Wire  # its kind's: the tools[] types it owns, its item types, ...

    async def bind(self, configs: list[tuple[int, JSONObject]], ctx: ToolContext) -> Binding:
        """Validate `tools[i]` (index, config) of its types; raise a 400 naming `tools[i].field`."""
        ...

    def messages(self, item: Item) -> list[Message]:
        """Chat context for one of its stored items on a later turn ([] for none)."""
        ...

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        """The events between output_item.added and .done a stream of the item carried: (type, fields)."""
        ...

    def echo(self, config: JSONObject) -> JSONObject:
        """`tools[i]` as stored and echoed on the response: without secrets."""
        ...

    def secrets(self, config: JSONObject) -> JSONObject:
        """The parts of `tools[i]` that `echo` drops but a later (background) run needs."""
        ...


@runtime_checkable
class AnswersCalls(Protocol):
    """A hosted tool whose stored items answered model calls: the repeat guard (engine/tooling/repeat_guard.py)
    does not let a later turn make them again."""

    def calls(self, item: Item) -> list[tuple[str, str]]:
        """The calls (function name, arguments as JSON) one of its items answered ([] for none)."""
        ...


@runtime_checkable
class ClosesTool(Protocol):
    """A hosted tool holding server-wide resources (HTTP sessions): closed when the server stops."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HostedKind:
    """A kind of hosted tool: its name (for errors and logs), its wire vocabulary, and how the
    composition root builds it (None: not configured on this server; its wire still holds)."""

    name: str
    wire: Wire
    build: Callable[[ToolServices], HostedTool | None]


class BaseTool:
    """Defaults for a `HostedTool`: no context, no extra events, no secrets."""

    wire: Wire

    def messages(self, item: Item) -> list[Message]:
        return []

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        return []

    def echo(self, config: JSONObject) -> JSONObject:
        return config

    def secrets(self, config: JSONObject) -> JSONObject:
        return {}


class OneFunctionBinding:
    """Defaults for a `Binding` that offers the model one function, `spec`, forced by a `tool_choice`
    naming `tool_type`, with nothing to do before the first turn."""

    spec: ToolSpec
    tool_type: str

    @property
    def specs(self) -> list[ToolSpec]:
        return [self.spec]

    def claims(self, name: str) -> bool:
        return name == self.spec.name

    def forced(self, tool_choice: Any) -> str | None:
        if isinstance(tool_choice, dict) and tool_choice.get("type") == self.tool_type:
            return self.spec.name
        return None

    def start(self) -> AsyncIterator[Step]:
        return no_steps()


async def no_steps() -> AsyncIterator[Step]:
    """An empty `start` (most tools do nothing before the first turn)."""
    return
    yield  # pragma: no cover
