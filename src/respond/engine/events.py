"""The event builder: backend deltas in, Responses API stream events out.

One object owns the response snapshot and the `sequence_number` counter, so a streaming
request and a non-streaming one (which drains the same events) can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from respond.core.types import TextDelta, ToolCallDelta
from respond.engine.client_tools import ClientTools, Offer, call_item
from respond.protocol.ids import new_id
from respond.protocol.items import strip_for_include

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


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (several times faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(value))


class EventBuilder:
    """`copies=False` is for a run nobody watches (a non-streaming request): its events are only
    drained, so they may share the live response instead of each carrying a copy of it."""

    def __init__(self, response: dict[str, Any], want_logprobs: bool = False, copies: bool = True,
                 include: set[str] | None = None, tools: ClientTools | None = None) -> None:
        self.response = response
        self.copies = copies
        self.include = include  # what response snapshots show (file_search results only if asked)
        self.seq = -1
        self.want_logprobs = want_logprobs
        self._message: dict[str, Any] | None = None  # the open assistant message item
        self._message_index = -1
        self.tools = tools  # what each offered function is: calls become its item type
        self._calls: dict[int, _Call] = {}  # backend index -> the call
        self._open_calls: list[int] = []

    # -- one place that numbers events -----------------------------------------------------------
    def emit(self, type_: str, **fields: Any) -> Event:
        self.seq += 1
        return {"type": type_, "sequence_number": self.seq, **fields}

    def _copy(self, value: Any) -> Any:
        return _copy(value) if self.copies else value

    def snapshot(self) -> dict[str, Any]:
        return _copy(self.response)

    def lifecycle(self, type_: str) -> Event:
        snapshot = self._copy(self.response)
        if self.include is not None and self.copies:
            snapshot["output"] = [strip_for_include(it, self.include) for it in snapshot["output"]]
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
        return self.emit("response.output_item.done", output_index=index, item=self._copy(self.output[index]))

    def text(self, delta: TextDelta) -> list[Event]:
        events = self.close_calls()
        if self._message is None:
            self._message = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress",
                             "content": []}
            self._message_index, ev = self.add_item(self._message)
            events.append(ev)
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            if self.want_logprobs:
                part["logprobs"] = []
            self._message["content"].append(part)
            events.append(self.emit("response.content_part.added", item_id=self._message["id"],
                                    output_index=self._message_index, content_index=0,
                                    part=self._copy(part)))
        part = self._message["content"][0]
        part["text"] += delta.text
        logprobs = delta.logprobs or []
        if self.want_logprobs and logprobs:
            part["logprobs"].extend(logprobs)
        events.append(self.emit("response.output_text.delta", item_id=self._message["id"],
                                output_index=self._message_index, content_index=0, delta=delta.text,
                                logprobs=logprobs if self.want_logprobs else []))
        return events

    def open_text_length(self) -> int:
        return len(self._message["content"][0]["text"]) if self._message is not None else 0

    def annotate(self, annotation: dict[str, Any]) -> list[Event]:
        """Add an annotation (a hosted tool's citation) to the open message's text."""
        msg = self._message
        if msg is None:
            return []
        annotations = msg["content"][0]["annotations"]
        annotations.append(annotation)
        return [self.emit("response.output_text.annotation.added", item_id=msg["id"],
                          output_index=self._message_index, content_index=0,
                          annotation_index=len(annotations) - 1, annotation=_copy(annotation))]

    def close_message(self, status: str = "completed") -> list[Event]:
        msg = self._message
        if msg is None:
            return []
        self._message = None
        part = msg["content"][0]
        item_id, index = msg["id"], self._message_index
        events = [
            self.emit("response.output_text.done", item_id=item_id, output_index=index, content_index=0,
                      text=part["text"], logprobs=part.get("logprobs", [])),
            self.emit("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
                      part=self._copy(part)),
        ]
        msg["status"] = status
        events.append(self.item_done(index))
        return events

    def tool_call(self, delta: ToolCallDelta) -> list[Event]:
        """A piece of a call.  A function call (or custom tool call) is added at once and streams;
        a built-in client tool's call (shell, apply_patch, ...) is added whole when it is complete,
        since its item's fields are parsed from the finished arguments."""
        events: list[Event] = []
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
                    call.item["input"] = ""
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
        return events

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
                text = self._call_item(call, status)["input"]
                call.item["input"] = text
                if text:
                    events.append(self.emit("response.custom_tool_call_input.delta", item_id=call.item["id"],
                                            output_index=call.index, delta=text))
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


def replay(response: dict[str, Any]) -> list[Event]:
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
                empty = {**part, "text": ""} if "text" in part else part
                events.append(b.emit("response.content_part.added", item_id=iid, output_index=index,
                                     content_index=j, part=empty))
                if part.get("type") == "output_text":
                    events.append(b.emit("response.output_text.delta", item_id=iid, output_index=index,
                                         content_index=j, delta=part["text"], logprobs=part.get("logprobs", [])))
                    events.append(b.emit("response.output_text.done", item_id=iid, output_index=index,
                                         content_index=j, text=part["text"], logprobs=part.get("logprobs", [])))
                events.append(b.emit("response.content_part.done", item_id=iid, output_index=index,
                                     content_index=j, part=part))
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
        events.append(b.emit("response.output_item.done", output_index=index, item=item))
    if response.get("status") in ("completed", "failed", "incomplete"):
        events.append(b.emit(f"response.{response['status']}", response=_copy(response)))
    return events
