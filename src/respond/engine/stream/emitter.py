"""The one emitter: typed operations in, numbered stream events out (engine/stream/operations.py).

It owns the response snapshot and the `sequence_number` counter, so that a streamed response, a
drained one and every replay of a stored one follow one grammar and can never disagree.  What an
event shows of an item or of the response goes through `include` here, the same way for all of them.
`copies=False` is for a run nobody watches (a non-streaming request drains its events): they may
then share the live response instead of carrying a copy each.  `as_json=True` is for a run whose
events are only ever serialized (an SSE or WebSocket stream, a background run's stored events): what
an event shows of the response, an item or a part is then its JSON, made once (`orjson.Fragment`,
written as is by the `orjson.dumps` that frames or stores the event), instead of a copy.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import orjson

from respond.engine.stream.operations import (
    AddItem,
    AddPart,
    Annotate,
    AppendText,
    CloseInput,
    ClosePart,
    DoneItem,
    ItemEvent,
    Operation,
)
from respond.protocol.shapes import (
    LifecycleType,
    Logprob,
    OutputItem,
    OutputTextPart,
    ResponseDict,
    ResponseLifecycleEvent,
    StreamEvent,
    ToolItem,
)
from respond.protocol.vocabulary import CORE, Stripper

if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def copy_json(value: T) -> T:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    return cast("T", orjson.loads(orjson.dumps(value)))


def frozen(value: Any) -> Any:
    """`value` as JSON made now: what it is at this moment, whatever happens to it later."""
    return orjson.Fragment(orjson.dumps(value))


def _raw(item: OutputItem | ToolItem) -> dict[str, Any]:
    """The item as the generic JSON object the emitter edits by key (the operations say which key)."""
    return cast("dict[str, Any]", item)


class TextAt(NamedTuple):
    """An open output_text part: its item's id and output index, its index and the part itself."""

    item_id: str
    output_index: int
    part_index: int
    part: OutputTextPart


class Emitter:
    def __init__(self, response: ResponseDict, *, include: Collection[str] | None = None, copies: bool = True,
                 want_logprobs: bool = False, strip: Stripper = CORE.strip, as_json: bool = False) -> None:
        self.response = response
        self.strip = strip  # what `include` hides of an item (the server's `Vocabulary.strip`)
        self.include = frozenset(include or ())
        self.copies = copies
        self._copy = frozen if as_json and copies else copy_json  # how an event keeps what it shows
        self.want_logprobs = want_logprobs  # output_text deltas carry their logprobs
        self.seq = -1
        self._index: dict[str, int] = {}  # item id -> output index

    @property
    def output(self) -> list[OutputItem | ToolItem]:
        return self.response["output"]

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def index_of(self, item_id: str) -> int:
        return self._index[item_id]

    def shown(self, item: OutputItem | ToolItem) -> OutputItem | ToolItem:
        """An item as an event shows it: a copy, without what `include` did not ask for."""
        if not self.copies:
            return item
        if self._copy is frozen:  # stripping makes a new item when it hides something: no copy first
            return cast("OutputItem | ToolItem", frozen(self.strip(_raw(item), self.include)))
        return cast("OutputItem | ToolItem", self.strip(_raw(copy_json(item)), self.include))

    def lifecycle(self, type_: LifecycleType, response: ResponseDict | None = None) -> ResponseLifecycleEvent:
        snapshot = response if response is not None else self.response
        if self.copies:  # a copy of its top level and of each item (without what `include` hides): the
            # rest (tools, text, reasoning, metadata, usage...) is set whole, never changed in place
            if self._copy is frozen:
                snapshot = frozen({**snapshot, "output": [self.strip(_raw(it), self.include)
                                                          for it in snapshot["output"]]})
            else:
                snapshot = {**snapshot, "output": [self.shown(it) for it in snapshot["output"]]}
        return {"type": type_, "sequence_number": self._next(), "response": snapshot}

    def apply_all(self, ops: list[Operation]) -> list[StreamEvent]:
        if len(ops) == 1:
            return self.apply(ops[0])
        return [ev for op in ops for ev in self.apply(op)]

    def apply(self, op: Operation) -> list[StreamEvent]:
        if type(op) is AppendText:  # the hot path: one per token
            index = self._index[op.item_id]
            item: Any = self.response["output"][index]
            return [self._append(op, item, index)]
        if isinstance(op, AddItem):
            self.output.append(op.item)
            index = self._index[op.item["id"]] = len(self.output) - 1
            return [{"type": "response.output_item.added", "sequence_number": self._next(), "output_index": index,
                     "item": self.shown(op.item)}]
        if not isinstance(op, (AddPart, Annotate, ClosePart, CloseInput, ItemEvent, DoneItem)):
            raise TypeError(f"not an operation the emitter applies: {op!r}")
        index = self._index[op.item_id]
        item = _raw(self.output[index])
        if isinstance(op, AddPart):
            parts = item.setdefault("summary" if op.summary else "content", [])
            parts.append(op.part)
            part = self._copy(op.part) if self.copies else op.part
            if op.summary and op.part["type"] == "summary_text":
                return [{"type": "response.reasoning_summary_part.added", "sequence_number": self._next(),
                         "item_id": op.item_id, "output_index": index, "summary_index": len(parts) - 1, "part": part}]
            assert op.part["type"] != "summary_text"
            return [{"type": "response.content_part.added", "sequence_number": self._next(), "item_id": op.item_id,
                     "output_index": index, "content_index": len(parts) - 1, "part": part}]
        if isinstance(op, ClosePart):
            return self._close_part(op, item, index)
        if isinstance(op, Annotate):
            annotations = item["content"][op.part]["annotations"]
            annotations.append(op.annotation)
            return [{"type": "response.output_text.annotation.added", "sequence_number": self._next(),
                     "item_id": op.item_id, "output_index": index, "content_index": op.part,
                     "annotation_index": len(annotations) - 1, "annotation": self._copy(op.annotation)}]
        if isinstance(op, CloseInput):
            if item["type"] == "function_call":
                return [{"type": "response.function_call_arguments.done", "sequence_number": self._next(),
                         "item_id": op.item_id, "output_index": index, "name": item["name"],
                         "arguments": item["arguments"]}]
            return [{"type": "response.custom_tool_call_input.done", "sequence_number": self._next(),
                     "item_id": op.item_id, "output_index": index, "input": item["input"]}]
        if isinstance(op, ItemEvent):
            where: dict[str, object] = {"item_id": op.item_id} if op.names_item else {}
            event = {"type": op.type, "sequence_number": self._next(), **where, "output_index": index, **op.fields}
            return [cast("StreamEvent", event)]
        if op.final is not None:  # DoneItem
            self.output[index] = op.final
            item = _raw(op.final)
        if op.status is not None:
            item["status"] = op.status
        item.update(op.fields)
        return [{"type": "response.output_item.done", "sequence_number": self._next(), "output_index": index,
                 "item": self.shown(self.output[index])}]

    def output_text(self, at: TextAt, text: str, logprobs: Sequence[Logprob]) -> StreamEvent:
        """`AppendText(at.item_id, text, at.part_index, logprobs=logprobs)` on an open output_text part,
        without making the operation: the same event, for the one path that runs per token."""
        self.seq += 1
        part = at.part
        part["text"] += text
        if logprobs and "logprobs" in part:
            part["logprobs"].extend(logprobs)
        return {"type": "response.output_text.delta", "sequence_number": self.seq, "item_id": at.item_id,
                "output_index": at.output_index, "content_index": at.part_index, "delta": text,
                "logprobs": list(logprobs) if self.want_logprobs else []}

    def _append(self, op: AppendText, item: dict[str, Any], index: int) -> StreamEvent:
        self.seq += 1
        seq, iid = self.seq, op.item_id
        if op.part is None:  # a call's own text
            if item["type"] == "function_call":
                item["arguments"] += op.text
                return {"type": "response.function_call_arguments.delta", "sequence_number": seq, "item_id": iid,
                        "output_index": index, "delta": op.text}
            item["input"] += op.text
            return {"type": "response.custom_tool_call_input.delta", "sequence_number": seq, "item_id": iid,
                    "output_index": index, "delta": op.text}
        part = item["summary" if op.summary else "content"][op.part]
        kind = part["type"]
        if kind == "summary_text":
            part["text"] += op.text
            return {"type": "response.reasoning_summary_text.delta", "sequence_number": seq, "item_id": iid,
                    "output_index": index, "summary_index": op.part, "delta": op.text}
        if kind == "reasoning_text":
            part["text"] += op.text
            return {"type": "response.reasoning_text.delta", "sequence_number": seq, "item_id": iid,
                    "output_index": index, "content_index": op.part, "delta": op.text}
        if kind == "refusal":
            part["refusal"] += op.text
            return {"type": "response.refusal.delta", "sequence_number": seq, "item_id": iid, "output_index": index,
                    "content_index": op.part, "delta": op.text}
        part["text"] += op.text
        if op.logprobs and "logprobs" in part:
            part["logprobs"].extend(op.logprobs)
        return {"type": "response.output_text.delta", "sequence_number": seq, "item_id": iid, "output_index": index,
                "content_index": op.part, "delta": op.text,
                "logprobs": list(op.logprobs) if self.want_logprobs else []}

    def _close_part(self, op: ClosePart, item: dict[str, Any], index: int) -> list[StreamEvent]:
        iid, j = op.item_id, op.part
        part = item["summary" if op.summary else "content"][j]
        shown = self._copy(part) if self.copies else part
        kind = part["type"]
        if kind == "summary_text":
            return [{"type": "response.reasoning_summary_text.done", "sequence_number": self._next(), "item_id": iid,
                     "output_index": index, "summary_index": j, "text": part["text"]},
                    {"type": "response.reasoning_summary_part.done", "sequence_number": self._next(), "item_id": iid,
                     "output_index": index, "summary_index": j, "part": shown}]
        events: list[StreamEvent] = []
        if kind == "reasoning_text":
            events.append({"type": "response.reasoning_text.done", "sequence_number": self._next(), "item_id": iid,
                           "output_index": index, "content_index": j, "text": part["text"]})
        elif kind == "refusal":
            events.append({"type": "response.refusal.done", "sequence_number": self._next(), "item_id": iid,
                           "output_index": index, "content_index": j, "refusal": part["refusal"]})
        elif kind == "output_text":
            events.append({"type": "response.output_text.done", "sequence_number": self._next(), "item_id": iid,
                           "output_index": index, "content_index": j, "text": part["text"],
                           "logprobs": part.get("logprobs", [])})
        events.append({"type": "response.content_part.done", "sequence_number": self._next(), "item_id": iid,
                       "output_index": index, "content_index": j, "part": shown})
        return events
