"""The live event builder: backend deltas in, operations out, through the one emitter.

`EventBuilder` keeps what is open while a response streams (the assistant message and its last
part, the model's calls, the reasoning item) and turns each delta into operations
(engine/stream/operations.py); the `Emitter` (engine/stream/emitter.py) numbers and shapes the events.  `replay`
drives the same emitter with the operations of a stored response, so a stream rebuilt from storage
follows the live grammar and shows `include` the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from respond.core.types import ReasoningDelta, RefusalDelta, TextDelta, ToolCallDelta
from respond.engine.assemble.reasoning import ReasoningStream
from respond.engine.intake.client_tools import ClientTools
from respond.engine.stream.emitter import Emitter, TextAt, copy_json
from respond.engine.stream.operations import (
    AddItem,
    AddPart,
    Annotate,
    AnnotateText,
    AppendText,
    CloseInput,
    ClosePart,
    DoneItem,
    HostedReplay,
    Operation,
    replay_item,
    shell_commands,
)
from respond.engine.tooling.call_items import InputStream, Offer, call_item
from respond.protocol.ids import new_id
from respond.protocol.shapes import (
    LifecycleType,
    Logprob,
    OutputItem,
    OutputMessage,
    OutputTextPart,
    RefusalPart,
    ResponseDict,
    ResponseLifecycleEvent,
    Status,
    StreamEvent,
)
from respond.protocol.vocabulary import CORE, Vocabulary

Event = StreamEvent


@dataclass(slots=True)
class _Call:
    """A call being streamed: its pieces so far and, once added, its item."""

    name: str
    call_id: str
    kind: str = "function"
    arguments: str = ""
    item: OutputItem | None = None
    stream: InputStream | None = None  # a custom tool's input, decoded as its arguments arrive


class EventBuilder:
    """`copies=False` is for a run nobody watches (a non-streaming request), `as_json=True` for one
    whose events are only serialized (streamed, background): see `Emitter`."""

    def __init__(self, response: ResponseDict, want_logprobs: bool = False, copies: bool = True,
                 include: Collection[str] | None = None, reasoning: ReasoningStream | None = None,
                 tools: ClientTools | None = None, vocabulary: Vocabulary = CORE, as_json: bool = False) -> None:
        self.emitter = Emitter(response, include=include, copies=copies,
                               want_logprobs=want_logprobs, strip=vocabulary.strip, as_json=as_json)
        self.want_logprobs = want_logprobs
        self._message: OutputMessage | None = None  # the open assistant message item
        self._part_open = False  # the message's last content part is still streaming
        # the open output_text part while nothing else is open (a call or reasoning opening closes the
        # message first): where a token's text goes without an operation (`Emitter.output_text`)
        self._hot: TextAt | None = None
        self.reasoning = reasoning or ReasoningStream()
        self.tools = tools  # what each offered function is: calls become its item type
        self._calls: dict[int, _Call] = {}  # backend index -> the call
        self._open_calls: list[int] = []

    @property
    def response(self) -> ResponseDict:
        return self.emitter.response

    @property
    def output(self) -> list[Any]:
        return self.emitter.output

    def lifecycle(self, type_: LifecycleType) -> ResponseLifecycleEvent:
        return self.emitter.lifecycle(type_)

    def _do(self, *ops: Operation) -> list[Event]:
        return self.emitter.apply_all(list(ops)) if ops else []

    def operation(self, op: Operation) -> list[Event]:
        """An operation from elsewhere (a hosted tool's item): a new item first closes what is open."""
        if isinstance(op, AnnotateText):
            return self._annotate(op)
        events = self.close_all() if isinstance(op, AddItem) else []
        return events + self._do(op)

    # -- the assistant message -------------------------------------------------------------------
    def _open_message(self) -> tuple[OutputMessage, list[Event]]:
        if self._message is not None and not self._open_calls and not self.reasoning.open:
            return self._message, []  # the hot path: nothing to close, the message is open
        events = self.close_calls() + self._do(*self.reasoning.close())
        if self._message is None:
            self._message = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress",
                             "content": []}
            events += self._do(AddItem(self._message))
        return self._message, events

    def _open_part(self, kind: str) -> tuple[OutputMessage, int, list[Event]]:
        """The open message's last part if it is of `kind`, else a new part of that kind (the
        other one is closed: a refusal after text, or text after a refusal, is its own part)."""
        msg, events = self._open_message()
        parts = msg["content"]
        if self._part_open and parts[-1]["type"] == kind:
            self._heat(msg, parts[-1])
            return msg, len(parts) - 1, events
        events += self._close_part()
        part: OutputTextPart | RefusalPart = ({"type": "refusal", "refusal": ""} if kind == "refusal"
                                              else {"type": "output_text", "text": "", "annotations": []})
        if part["type"] == "output_text" and self.want_logprobs:
            part["logprobs"] = []
        self._part_open = True
        events += self._do(AddPart(msg["id"], part))
        self._heat(msg, part)
        return msg, len(parts) - 1, events

    def _heat(self, msg: OutputMessage, part: OutputTextPart | RefusalPart) -> None:
        if part["type"] == "output_text":
            self._hot = TextAt(msg["id"], self.emitter.index_of(msg["id"]), len(msg["content"]) - 1, part)

    def _close_part(self) -> list[Event]:
        msg = self._message
        if msg is None or not self._part_open:
            return []
        self._part_open = False
        self._hot = None
        return self._do(ClosePart(msg["id"], len(msg["content"]) - 1))

    def text(self, delta: TextDelta) -> list[Event]:
        logprobs: Sequence[Logprob] = delta.logprobs or ()  # the backend's, in the wire's shape
        if self._hot is not None:  # the hot path (one per token): the text part is open
            return [self.emitter.output_text(self._hot, delta.text, logprobs)]
        msg, j, events = self._open_part("output_text")
        return events + self._do(AppendText(msg["id"], delta.text, j, logprobs=logprobs))

    def refusal(self, delta: RefusalDelta) -> list[Event]:
        msg, j, events = self._open_part("refusal")
        return events + self._do(AppendText(msg["id"], delta.text, j))

    def reason(self, delta: ReasoningDelta) -> list[Event]:
        events = self._close_message() + self.close_calls()
        return events + self._do(*self.reasoning.delta(delta))

    def _annotate(self, op: AnnotateText) -> list[Event]:
        """Annotations (a hosted tool's citations) on the open message's text."""
        msg = self._message
        if msg is None or not self._part_open:
            return []
        j = len(msg["content"]) - 1
        part = msg["content"][j]
        if part["type"] != "output_text":
            return []
        return self._do(*[Annotate(msg["id"], j, a) for a in op.annotator(part["text"])])

    def close_message(self, status: Status = "completed") -> list[Event]:
        """Close the open message, or the open reasoning item (before a hosted tool's item, say)."""
        return self._do(*self.reasoning.close(status)) + self._close_message(status)

    def _close_message(self, status: Status = "completed") -> list[Event]:
        msg = self._message
        if msg is None:
            return []
        events = self._close_part()
        self._message = None
        return events + self._do(DoneItem(msg["id"], status))

    # -- the model's calls -----------------------------------------------------------------------
    def tool_call(self, delta: ToolCallDelta) -> list[Event]:
        """A piece of a call.  A function call (or custom tool call) is added at once and streams;
        a built-in client tool's call (shell, apply_patch, ...) is added whole when it is complete,
        since its item's fields are parsed from the finished arguments."""
        events = self._do(*self.reasoning.close())
        if delta.index not in self._calls:
            events += self.close_message()
            call = _Call(delta.name or "", delta.call_id or new_id("call"))
            offer = self.tools.offers.get(call.name) if self.tools is not None else None
            call.kind = offer.kind if offer is not None else "function"
            self._calls[delta.index] = call
            self._open_calls.append(delta.index)
            if call.kind in ("function", "custom"):
                item: Any = self._call_item(call, "in_progress")
                if call.kind == "custom":
                    item["input"], call.stream = "", InputStream()
                else:
                    item["arguments"] = ""
                call.item = item
                events += self._do(AddItem(item))
        call = self._calls[delta.index]
        if delta.name and not call.name:
            call.name = delta.name
            if call.item is not None and call.item["type"] == "function_call":
                call.item["name"] = delta.name
        if delta.arguments:
            call.arguments += delta.arguments
            if call.item is not None and call.kind == "function":
                events += self._do(AppendText(call.item["id"], delta.arguments))
            elif call.item is not None and call.stream is not None:
                text = call.stream.feed(delta.arguments)
                events += self._do(AppendText(call.item["id"], text)) if text else []
        return events

    def _call_item(self, call: _Call, status: Status) -> OutputItem:
        if self.tools is None:
            return call_item(Offer("function", call.name), call.call_id, call.arguments, status)
        return self.tools.item(call.name, call.call_id, call.arguments, status)

    def close_calls(self, status: Status = "completed") -> list[Event]:
        events: list[Event] = []
        for key in self._open_calls:
            call = self._calls[key]
            item = call.item
            if item is None:  # a built-in tool's call: added now that it is complete
                item = call.item = self._call_item(call, "in_progress")
                events += self._do(AddItem(item))
                if item["type"] == "shell_call":
                    events += self._do(*shell_commands(item["id"], item["action"]["commands"]))
            elif item["type"] == "custom_tool_call":
                text, streamed = cast(Any, self._call_item(call, status))["input"], item["input"]
                # What streamed is the start of the input unless the arguments were not {"input": ...}
                # JSON (then the whole input goes in one delta, and the item says what it is).
                rest = text[len(streamed):] if text.startswith(streamed) else text
                if not text.startswith(streamed):
                    item["input"] = ""
                events += self._do(AppendText(item["id"], rest)) if rest else []
                events += self._do(CloseInput(item["id"]))
            else:
                events += self._do(CloseInput(item["id"]))
            events += self._do(DoneItem(item["id"], status))
        self._open_calls = []
        return events

    def close_all(self, status: Status = "completed") -> list[Event]:
        return self.close_message(status) + self.close_calls(status)


_SET_AT_THE_END = ("completed_at", "usage", "error", "incomplete_details")  # protocol/lifecycle.py TerminalFields


def replay(stored: ResponseDict, hosted: HostedReplay | None = None,
           include: Collection[str] | None = None, vocabulary: Vocabulary = CORE) -> list[Event]:
    """The events of a stored foreground response (none of whose events were stored): what its stream
    carried, with the stored ids, as `include` shows it.  What a stored response cannot say is how
    its text was chunked: a replay carries each part's text (a call's arguments) in one delta, where
    its first delta went live, so the sequence numbers after a part of several deltas differ."""
    shell: ResponseDict = {**copy_json(stored), "output": [], "status": "in_progress"}
    for key in _SET_AT_THE_END:  # as the stream's first events showed them
        if key in shell:
            shell[key] = None  # type: ignore[literal-required]
    emitter = Emitter(shell, include=include, want_logprobs=True, strip=vocabulary.strip)
    events: list[Event] = [emitter.lifecycle("response.created"), emitter.lifecycle("response.in_progress")]
    for item in copy_json(stored.get("output", [])):
        events += emitter.apply_all(replay_item(item, hosted))
    status = stored.get("status")
    if status in ("completed", "failed", "incomplete"):
        events.append(emitter.lifecycle(cast(LifecycleType, f"response.{status}"), stored))
    return events
