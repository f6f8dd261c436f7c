"""The event builder: backend deltas in, Responses API stream events out.

One object owns the response snapshot and the `sequence_number` counter, so a streaming
request and a non-streaming one (which drains the same events) can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from respond.core.types import ReasoningDelta, RefusalDelta, TextDelta, ToolCallDelta
from respond.engine.client_tools import ClientTools, InputStream, Offer, call_item
from respond.engine.reasoning import ReasoningStream, replay_reasoning
from respond.protocol.ids import new_id
from respond.protocol.vocabulary import CORE, Vocabulary

Event = dict[str, Any]


@dataclass(slots=True)
class _Call:
    """A call being streamed: its pieces so far and, once added, its item and output index."""

    name: str
    call_id: str
    kind: str = "function"
    arguments: str = ""
    item: dict[str, Any] | None = None
    index: int = -1
    stream: InputStream | None = None  # a custom tool's input, decoded as its arguments arrive


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(value))


class EventBuilder:
    """`copies=False` is for a run nobody watches (a non-streaming request): its events are only
    drained, so they may share the live response instead of each carrying a copy of it."""

    def __init__(self, response: dict[str, Any], want_logprobs: bool = False, copies: bool = True,
                 include: set[str] | None = None, reasoning: ReasoningStream | None = None,
                 tools: ClientTools | None = None, vocabulary: Vocabulary = CORE) -> None:
        self.response = response
        self.vocabulary = vocabulary  # how `include` hides parts of items (the server's)
        self.copies = copies
        self.include = include  # what response snapshots show (hosted tools' results only if asked)
        self.seq = -1
        self.want_logprobs = want_logprobs
        self._message: dict[str, Any] | None = None  # the open assistant message item
        self._message_index = -1
        self._part_open = False  # the message's last content part is still streaming
        self.reasoning = reasoning or ReasoningStream()
        self.tools = tools  # what each offered function is: calls become its item type
        self._calls: dict[int, _Call] = {}  # backend index -> the call
        self._open_calls: list[int] = []

    # -- one place that numbers events -----------------------------------------------------------
    def emit(self, type_: str, **fields: Any) -> Event:
        self.seq += 1
        return {"type": type_, "sequence_number": self.seq, **fields}

    def _copy(self, value: Any) -> Any:
        return _copy(value) if self.copies else value

    def lifecycle(self, type_: str) -> Event:
        snapshot = self._copy(self.response)
        if self.include is not None and self.copies:
            snapshot["output"] = [self.vocabulary.strip(it, self.include) for it in snapshot["output"]]
        return self.emit(type_, response=snapshot)

    @property
    def output(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.response["output"]
        return out

    # -- items -----------------------------------------------------------------------------------
    def add_item(self, item: dict[str, Any]) -> tuple[int, Event]:
        self.output.append(item)
        index = len(self.output) - 1
        return index, self.emit("response.output_item.added", output_index=index, item=self._copy(item))

    def item_done(self, index: int) -> Event:
        item = self._copy(self.output[index])
        if self.copies and item.get("type") == "reasoning":  # what the client did not ask for, hidden
            item = self.vocabulary.strip(item, self.include or set())
        return self.emit("response.output_item.done", output_index=index, item=item)

    def _open_message(self) -> list[Event]:
        events = self.close_calls() + self.reasoning.close(self)
        if self._message is None:
            self._message = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress",
                             "content": []}
            self._message_index, ev = self.add_item(self._message)
            events.append(ev)
        return events

    def _open_part(self, kind: str) -> tuple[dict[str, Any], int, list[Event]]:
        """The open message's last part if it is of `kind`, else a new part of that kind (the
        other one is closed: a refusal after text, or text after a refusal, is its own part)."""
        events = self._open_message()
        msg = self._message
        assert msg is not None
        parts = msg["content"]
        if self._part_open and parts[-1]["type"] == kind:
            return parts[-1], len(parts) - 1, events
        events.extend(self._close_part())
        part: dict[str, Any] = ({"type": "refusal", "refusal": ""} if kind == "refusal"
                                else {"type": "output_text", "text": "", "annotations": []})
        if kind == "output_text" and self.want_logprobs:
            part["logprobs"] = []
        parts.append(part)
        self._part_open = True
        events.append(self.emit("response.content_part.added", item_id=msg["id"], output_index=self._message_index,
                                content_index=len(parts) - 1, part=self._copy(part)))
        return part, len(parts) - 1, events

    def _close_part(self) -> list[Event]:
        msg = self._message
        if msg is None or not self._part_open:
            return []
        self._part_open = False
        j = len(msg["content"]) - 1
        part = msg["content"][j]
        where = {"item_id": msg["id"], "output_index": self._message_index, "content_index": j}
        if part["type"] == "refusal":
            done = self.emit("response.refusal.done", **where, refusal=part["refusal"])
        else:
            done = self.emit("response.output_text.done", **where, text=part["text"],
                             logprobs=part.get("logprobs", []))
        return [done, self.emit("response.content_part.done", **where, part=self._copy(part))]

    def text(self, delta: TextDelta) -> list[Event]:
        part, j, events = self._open_part("output_text")
        assert self._message is not None
        part["text"] += delta.text
        logprobs = delta.logprobs or []
        if self.want_logprobs and logprobs:
            part["logprobs"].extend(logprobs)
        events.append(self.emit("response.output_text.delta", item_id=self._message["id"],
                                output_index=self._message_index, content_index=j, delta=delta.text,
                                logprobs=logprobs if self.want_logprobs else []))
        return events

    def refusal(self, delta: RefusalDelta) -> list[Event]:
        part, j, events = self._open_part("refusal")
        assert self._message is not None
        part["refusal"] += delta.text
        events.append(self.emit("response.refusal.delta", item_id=self._message["id"],
                                output_index=self._message_index, content_index=j, delta=delta.text))
        return events

    def reason(self, delta: ReasoningDelta) -> list[Event]:
        events = self._close_message() + self.close_calls()
        return events + self.reasoning.delta(self, delta)

    def _text_part(self) -> tuple[int, dict[str, Any]] | None:
        msg = self._message
        if msg is None or not self._part_open or msg["content"][-1]["type"] != "output_text":
            return None
        return len(msg["content"]) - 1, msg["content"][-1]

    def open_text(self) -> str:
        found = self._text_part()
        return str(found[1]["text"]) if found is not None else ""

    def annotate(self, annotation: dict[str, Any]) -> list[Event]:
        """Add an annotation (a hosted tool's citation) to the open message's text."""
        found = self._text_part()
        if found is None or self._message is None:
            return []
        j, part = found
        annotations = part["annotations"]
        annotations.append(annotation)
        return [self.emit("response.output_text.annotation.added", item_id=self._message["id"],
                          output_index=self._message_index, content_index=j,
                          annotation_index=len(annotations) - 1, annotation=_copy(annotation))]

    def close_message(self, status: str = "completed") -> list[Event]:
        """Close the open message, or the open reasoning item (before a hosted tool's item, say)."""
        return self.reasoning.close(self, status) + self._close_message(status)

    def _close_message(self, status: str = "completed") -> list[Event]:
        msg = self._message
        if msg is None:
            return []
        events = self._close_part()
        self._message = None
        msg["status"] = status
        events.append(self.item_done(self._message_index))
        return events

    def tool_call(self, delta: ToolCallDelta) -> list[Event]:
        """A piece of a call.  A function call (or custom tool call) is added at once and streams;
        a built-in client tool's call (shell, apply_patch, ...) is added whole when it is complete,
        since its item's fields are parsed from the finished arguments."""
        events: list[Event] = self.reasoning.close(self)
        if delta.index not in self._calls:
            events.extend(self.close_message())
            call = _Call(delta.name or "", delta.call_id or new_id("call"))
            offer = self.tools.offers.get(call.name) if self.tools is not None else None
            call.kind = offer.kind if offer is not None else "function"
            self._calls[delta.index] = call
            self._open_calls.append(delta.index)
            if call.kind in ("function", "custom"):
                call.item = self._call_item(call, "in_progress")
                if call.kind == "custom":
                    call.item["input"], call.stream = "", InputStream()
                else:
                    call.item["arguments"] = ""
                call.index, ev = self.add_item(call.item)
                events.append(ev)
        call = self._calls[delta.index]
        if delta.name and not call.name:
            call.name = delta.name
            if call.item is not None and call.kind == "function":
                call.item["name"] = delta.name
        if delta.arguments:
            call.arguments += delta.arguments
            if call.kind == "function" and call.item is not None:
                call.item["arguments"] = call.arguments
                events.append(self.emit("response.function_call_arguments.delta", item_id=call.item["id"],
                                        output_index=call.index, delta=delta.arguments))
            elif call.stream is not None and call.item is not None:
                events.extend(self._input_delta(call, call.stream.feed(delta.arguments)))
        return events

    def _input_delta(self, call: _Call, text: str) -> list[Event]:
        if not text or call.item is None:
            return []
        call.item["input"] += text
        return [self.emit("response.custom_tool_call_input.delta", item_id=call.item["id"], output_index=call.index,
                          delta=text)]

    def _call_item(self, call: _Call, status: str) -> dict[str, Any]:
        if self.tools is None:
            return call_item(Offer("function", call.name), call.call_id, call.arguments, status)
        return self.tools.item(call.name, call.call_id, call.arguments, status)

    def close_calls(self, status: str = "completed") -> list[Event]:
        events: list[Event] = []
        for key in self._open_calls:
            call = self._calls[key]
            if call.item is None:  # a built-in tool's call: added now that it is complete
                call.item = self._call_item(call, "in_progress")
                call.index, ev = self.add_item(call.item)
                events.append(ev)
                events.extend(self._call_details(call))
            elif call.kind == "custom":
                text, streamed = self._call_item(call, status)["input"], call.item["input"]
                # What streamed is the start of the input unless the arguments were not {"input": ...}
                # JSON (then the whole input goes in one delta, and the item says what it is).
                events.extend(self._input_delta(call, text[len(streamed):] if text.startswith(streamed) else text))
                call.item["input"] = text
                events.append(self.emit("response.custom_tool_call_input.done", item_id=call.item["id"],
                                        output_index=call.index, input=text))
            else:
                events.append(self.emit("response.function_call_arguments.done", item_id=call.item["id"],
                                        output_index=call.index, name=call.item["name"],
                                        arguments=call.item["arguments"]))
            call.item["status"] = status
            events.append(self.item_done(call.index))
        self._open_calls = []
        return events

    def _call_details(self, call: _Call) -> list[Event]:
        """The events a shell call's commands have (response.shell_call_command.*)."""
        assert call.item is not None
        if call.item["type"] != "shell_call":
            return []
        events = []
        for j, command in enumerate(call.item["action"]["commands"]):
            events += [self.emit("response.shell_call_command.added", output_index=call.index, command_index=j,
                                 command=""),
                       self.emit("response.shell_call_command.delta", output_index=call.index, command_index=j,
                                 delta=command),
                       self.emit("response.shell_call_command.done", output_index=call.index, command_index=j,
                                 command=command)]
        return events

    def close_all(self, status: str = "completed") -> list[Event]:
        return self.close_message(status) + self.close_calls(status)


Replayer = Callable[[dict[str, Any]], "list[tuple[str, dict[str, Any]]]"]
"""A hosted tool's item -> the (type, fields) events between its output_item.added and .done."""


def replay(response: dict[str, Any], hosted: Replayer | None = None) -> list[Event]:
    """The events of a stored response that was not streamed (so none were stored): what a stream
    of it would have carried, one delta per content part, with the stored ids."""
    shell = {**_copy(response), "output": [], "status": "in_progress"}
    b = EventBuilder(shell)
    events = [b.lifecycle("response.created"), b.lifecycle("response.in_progress")]
    for index, item in enumerate(response.get("output", [])):
        item = _copy(item)
        kind, iid = item.get("type"), item.get("id")
        if kind == "message":
            events.append(b.emit("response.output_item.added", output_index=index,
                                 item={**item, "status": "in_progress", "content": []}))
            for j, part in enumerate(item.get("content", [])):
                key = "refusal" if part.get("type") == "refusal" else "text"
                empty = {**part, key: ""} if key in part else part
                where = {"item_id": iid, "output_index": index, "content_index": j}
                events.append(b.emit("response.content_part.added", **where, part=empty))
                if part.get("type") == "output_text":
                    events.append(b.emit("response.output_text.delta", **where, delta=part["text"],
                                         logprobs=part.get("logprobs", [])))
                    events.append(b.emit("response.output_text.done", **where, text=part["text"],
                                         logprobs=part.get("logprobs", [])))
                elif part.get("type") == "refusal":
                    events.append(b.emit("response.refusal.delta", **where, delta=part["refusal"]))
                    events.append(b.emit("response.refusal.done", **where, refusal=part["refusal"]))
                events.append(b.emit("response.content_part.done", **where, part=part))
        elif kind == "reasoning":
            events.extend(replay_reasoning(b, index, item))
        elif kind == "compaction":  # as it streamed live; one compacting event for the pieces (not stored)
            events.append(b.emit("response.output_item.added", output_index=index,
                                 item={**item, "encrypted_content": ""}))
            events.append(b.emit("response.compaction.compacting", item_id=iid, output_index=index))
        elif kind == "function_call":
            events.append(b.emit("response.output_item.added", output_index=index,
                                 item={**item, "status": "in_progress", "arguments": ""}))
            events.append(b.emit("response.function_call_arguments.delta", item_id=iid, output_index=index,
                                 delta=item.get("arguments", "")))
            events.append(b.emit("response.function_call_arguments.done", item_id=iid, output_index=index,
                                 name=item.get("name"), arguments=item.get("arguments", "")))
        elif kind == "custom_tool_call":
            events.append(b.emit("response.output_item.added", output_index=index,
                                 item={**item, "status": "in_progress", "input": ""}))
            events.append(b.emit("response.custom_tool_call_input.delta", item_id=iid, output_index=index,
                                 delta=item.get("input", "")))
            events.append(b.emit("response.custom_tool_call_input.done", item_id=iid, output_index=index,
                                 input=item.get("input", "")))
        else:
            events.append(b.emit("response.output_item.added", output_index=index, item=item))
            for type_, fields in hosted(item) if hosted is not None else []:
                events.append(b.emit(type_, item_id=iid, output_index=index, **fields))
        events.append(b.emit("response.output_item.done", output_index=index, item=item))
    if response.get("status") in ("completed", "failed", "incomplete"):
        events.append(b.emit(f"response.{response['status']}", response=_copy(response)))
    return events
