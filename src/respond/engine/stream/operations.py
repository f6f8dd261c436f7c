"""A response as a sequence of typed operations: the one grammar of its stream.

Every stream of a response, live or replayed, is a list of these operations applied by one
`engine.emitter.Emitter`, which numbers the events, shapes them and applies `include`:

    AddItem(item)                    output_item.added (the item joins `output`)
    AddPart(item_id, part)           content_part.added, or reasoning_summary_part.added (summary=True)
    AppendText(item_id, text, part)  output_text / refusal / reasoning_text / reasoning_summary_text .delta;
                                     part=None: function_call_arguments / custom_tool_call_input .delta
    Annotate(item_id, part, a)       output_text.annotation.added
    ClosePart(item_id, part)         the part's .done events, then content_part.done (or summary_part.done)
    CloseInput(item_id)              function_call_arguments.done / custom_tool_call_input.done
    ItemEvent(item_id, type, fields) an event of the item's own (a hosted tool's progress, a shell command)
    DoneItem(item_id, status)        output_item.done

Who makes them: the live `EventBuilder` from the model's deltas (with `ReasoningStream` for reasoning
items and the client tools' call items), the hosted-tool loop from a tool's steps, and `replay_item`
from a stored item (what a stream of it carried, one delta per part).  None of them sees an event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from respond.protocol.shapes import Annotation, JSONObject, Logprob

Item = Any  # an output item: a TypedDict of protocol.shapes (OutputItem | ToolItem), read by its type
Part = Any  # a content or summary part of protocol.shapes
HostedReplay = Callable[[Any], Sequence[tuple[str, Mapping[str, object]]]]
"""A hosted tool's item (the tool reads its own item type) -> the (type, fields) of its own events
between output_item.added and .done."""


class Operation:
    """One step of a response's stream (not frozen: a frozen dataclass costs twice as much to make,
    and one is made per token; nothing changes an operation once made)."""

    __slots__ = ()


@dataclass(slots=True)
class AddItem(Operation):
    item: Item  # appended to `output` as is: the emitter owns it from now on


@dataclass(slots=True)
class AddPart(Operation):
    item_id: str
    part: Part
    summary: bool = False  # a reasoning item's summary part, not a content part


@dataclass(slots=True)
class AppendText(Operation):
    item_id: str
    text: str
    part: int | None = None  # None: the call item's arguments (function) or input (custom tool)
    summary: bool = False
    logprobs: Sequence[Logprob] = ()


@dataclass(slots=True)
class Annotate(Operation):
    item_id: str
    part: int
    annotation: Annotation


@dataclass(slots=True)
class ClosePart(Operation):
    item_id: str
    part: int
    summary: bool = False


@dataclass(slots=True)
class CloseInput(Operation):
    item_id: str


@dataclass(slots=True)
class ItemEvent(Operation):
    item_id: str
    type: str
    fields: Mapping[str, object] = field(default_factory=dict)
    names_item: bool = True  # False: the event has no item_id (response.shell_call_command.*)


@dataclass(slots=True)
class DoneItem(Operation):
    item_id: str
    status: str | None = None  # set on the item first (None: the item's own)
    fields: Mapping[str, object] = field(default_factory=dict)  # set on the item first (encrypted_content)
    final: Item | None = None  # replaces the item (a replay ends with the stored item itself)


@dataclass(slots=True)
class AnnotateText(Operation):
    """Live only: annotate the open message's text with what `annotator` finds for it (a hosted
    tool's citations); the builder turns it into `Annotate`s."""

    annotator: Callable[[str], list[Annotation]]


def replay_item(item: Item, hosted: HostedReplay | None = None) -> list[Operation]:
    """The operations a stream of a stored item carried, one delta per part, with its stored ids."""
    kind, iid = item.get("type"), item.get("id")
    ops: list[Operation] = []
    if kind == "message":
        ops.append(AddItem({**item, "status": "in_progress", "content": []}))
        for j, part in enumerate(item.get("content") or []):
            ops.extend(_replay_part(iid, j, part))
    elif kind == "reasoning":
        shell = {k: v for k, v in item.items() if k != "encrypted_content"}
        ops.append(AddItem({**shell, "status": "in_progress", "content": [], "summary": []}))
        content, summary = item.get("content") or [], item.get("summary") or []
        ops += [AddPart(iid, {**p, "text": ""}) for p in content]
        ops += [AddPart(iid, {**p, "text": ""}, summary=True) for p in summary]
        ops += [AppendText(iid, p.get("text", ""), j) for j, p in enumerate(content)]
        ops += [AppendText(iid, p.get("text", ""), j, summary=True) for j, p in enumerate(summary)]
        ops += [ClosePart(iid, j) for j in range(len(content))]
        ops += [ClosePart(iid, j, summary=True) for j in range(len(summary))]
    elif kind in ("function_call", "custom_tool_call"):
        key = "arguments" if kind == "function_call" else "input"
        ops += [AddItem({**item, "status": "in_progress", key: ""}), AppendText(iid, item.get(key, "")),
                CloseInput(iid)]
    elif kind == "compaction":  # as it streamed live; one compacting event for the pieces (not stored)
        ops += [AddItem({**item, "encrypted_content": ""}), ItemEvent(iid, "response.compaction.compacting")]
    elif kind in ("shell_call", "local_shell_call", "apply_patch_call", "computer_call"):
        ops.append(AddItem({**item, "status": "in_progress"}))  # a client tool's call: added whole
        if kind == "shell_call":
            ops += shell_commands(iid, item.get("action", {}).get("commands") or [])
    else:
        ops.append(AddItem(item))
        ops += [ItemEvent(iid, type_, fields) for type_, fields in (hosted(item) if hosted is not None else [])]
    ops.append(DoneItem(iid, final=item))
    return ops


def _replay_part(iid: str, j: int, part: JSONObject) -> list[Operation]:
    kind = part.get("type")
    if kind == "output_text":
        empty = {**part, "text": "", "annotations": [], **({"logprobs": []} if "logprobs" in part else {})}
        annotations: Any = part.get("annotations") or []
        logprobs: Any = part.get("logprobs") or ()
        return [AddPart(iid, empty), AppendText(iid, str(part.get("text", "")), j, logprobs=logprobs),
                *[Annotate(iid, j, a) for a in annotations], ClosePart(iid, j)]
    if kind == "refusal":
        return [AddPart(iid, {**part, "refusal": ""}), AppendText(iid, str(part.get("refusal", "")), j),
                ClosePart(iid, j)]
    return [AddPart(iid, part), ClosePart(iid, j)]


def shell_commands(iid: str, commands: Sequence[str]) -> list[Operation]:
    """A shell call's commands, each as response.shell_call_command.added/delta/done."""
    ops: list[Operation] = []
    for j, command in enumerate(commands):
        ops += [ItemEvent(iid, "response.shell_call_command.added", {"command_index": j, "command": ""}, False),
                ItemEvent(iid, "response.shell_call_command.delta", {"command_index": j, "delta": command}, False),
                ItemEvent(iid, "response.shell_call_command.done", {"command_index": j, "command": command}, False)]
    return ops
