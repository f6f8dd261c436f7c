"""The /v1/responses wire for `openai_responses.py`: a `Generation` as a stateless request body, and
the upstream's stream events as deltas.

The request is stateless by construction: `store: false`, no `previous_response_id`, the whole
input Respond built (its chat messages turned back into Responses items: messages, reasoning,
function calls and their outputs).  A reasoning item goes back with the upstream's own id and
`encrypted_content` when the upstream made it (`Message["reasoning_item"]`), so reasoning
round-trips; `include: ["reasoning.encrypted_content"]` asks for that state.

The stream is read by `StreamReader`: deltas of text, refusals, reasoning text and summaries,
function-call arguments; the upstream's finished reasoning item becomes a `ReasoningDelta`
carrying its state; an item that arrives only whole (a server that streams no deltas) is sent as
one delta; `response.completed/incomplete/failed` end it with the usage (cached and reasoning
tokens) or an error.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import orjson

from respond.backends.upstream_base import logprobs_of
from respond.core.arguments import NotJSON, loads_arguments
from respond.core.errors import BackendError
from respond.core.types import (
    Delta,
    Finish,
    Generation,
    Message,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from respond.protocol.params import AccessProgramsParam, PromptCacheOptionsParam
from respond.protocol.shapes import JSON, JSONObject

Item = dict[str, Any]
UPSTREAM_STATE = "_upstream"  # protocol.items.UPSTREAM_STATE (adapters import core only)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _part(part: JSONObject) -> JSONObject:
    out = _input_part(part)
    if part.get("prompt_cache_breakpoint") is not None:
        out["prompt_cache_breakpoint"] = part["prompt_cache_breakpoint"]
    return out


def _object(value: JSON) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _input_part(part: JSONObject) -> JSONObject:
    """A chat content part as a Responses input part."""
    kind = part.get("type")
    if kind == "image_url":
        image = _object(part.get("image_url"))
        url, detail = image.get("url"), image.get("detail")
        url = url if isinstance(url, str) else ""
        return {"type": "input_image", "detail": detail if isinstance(detail, str) else "auto",
                "file_id" if url.startswith("file-") else "image_url": url}
    if kind == "file":
        return {"type": "input_file", **_object(part.get("file"))}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": _object(part.get("input_audio"))}
    text = part.get("text", "")
    return {"type": "input_text", "text": text if isinstance(text, str) else str(text)}


def _reasoning(m: Message) -> Item | None:
    source = m.get("reasoning_item")
    if not isinstance(source, dict):
        text = m.get("reasoning_content")
        return {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": text}]} \
            if text else None
    item: Item = {"type": "reasoning", "summary": source.get("summary") or []}
    if source.get("content"):
        item["content"] = source["content"]
    state = source.get(UPSTREAM_STATE)
    if isinstance(state, dict):
        if state.get("id"):
            item["id"] = state["id"]
        if state.get("encrypted_content"):
            item["encrypted_content"] = state["encrypted_content"]
    return item


def _input_of(arguments: str) -> str:
    """A custom tool's `input` from its function-shaped arguments ({"input": str})."""
    try:
        value = loads_arguments(arguments)
    except NotJSON:
        return arguments
    return value["input"] if isinstance(value, dict) and isinstance(value.get("input"), str) else arguments


def input_items(messages: list[Message], native: frozenset[str] = frozenset()) -> list[Item]:
    """Chat messages back as Responses input items, in order (`native`: the names of custom tools
    the upstream takes natively: their calls and outputs go as custom_tool_call items)."""
    items: list[Item] = []
    custom_calls: set[str] = set()
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer", "user"):
            if isinstance(content, list) and (role == "user" or any("prompt_cache_breakpoint" in p for p in content)):
                items.append({"type": "message", "role": role, "content": [_part(p) for p in content]})
            else:
                items.append({"type": "message", "role": role, "content": _text_of(content)})
        elif role == "assistant":
            thought = _reasoning(m)
            if thought is not None:
                items.append(thought)
            if _text_of(content):
                items.append({"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": _text_of(content), "annotations": []}]})
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                if fn.get("name") in native:
                    custom_calls.add(call.get("id"))
                    items.append({"type": "custom_tool_call", "call_id": call.get("id"), "name": fn.get("name"),
                                  "input": _input_of(fn.get("arguments") or "")})
                else:
                    items.append({"type": "function_call", "call_id": call.get("id"), "name": fn.get("name"),
                                  "arguments": fn.get("arguments") or "{}"})
        elif role == "tool":
            kind = "custom_tool_call_output" if m.get("tool_call_id") in custom_calls else "function_call_output"
            items.append({"type": kind, "call_id": m.get("tool_call_id"),
                          "output": content if isinstance(content, str) else _text_of(content)})
    return items


def _format(fmt: JSONObject, structured: str) -> JSONObject | None:
    """text.format in the upstream's own form (profiles.py); Respond validates what it cannot enforce."""
    if structured == "none":
        return None
    if fmt["type"] == "json_schema" and structured == "json_object_schema":
        return {"type": "json_object", "schema": fmt["schema"]}
    if fmt["type"] == "json_schema" and structured == "json_object":
        return {"type": "json_object"}
    return {k: v for k, v in fmt.items() if v is not None}


def _tool(t: ToolSpec, native: frozenset[str]) -> JSONObject:
    if t.name in native:
        custom: JSONObject = {"type": "custom", "name": t.name, "format": {"type": "text"}}
        if t.grammar is not None:
            custom["format"] = {"type": "grammar", "syntax": t.grammar["syntax"],
                                "definition": t.grammar["definition"]}
        return {**custom, **({"description": t.description} if t.description else {})}
    return {"type": "function", **{k: v for k, v in (
        ("name", t.name), ("description", t.description),
        ("parameters", t.parameters or {"type": "object", "properties": {}}), ("strict", t.strict))
        if v is not None}}


class TextOptions(TypedDict, total=False):
    format: JSONObject
    verbosity: str


class ResponsesRequest(TypedDict):
    """A streamed, stateless /v1/responses request, as sent upstream (a key is left out when it has no value)."""

    model: str
    input: list[Item]
    stream: Literal[True]
    store: Literal[False]
    tools: NotRequired[list[JSONObject]]
    tool_choice: NotRequired[str | JSONObject]
    parallel_tool_calls: NotRequired[bool]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    max_output_tokens: NotRequired[int]
    top_logprobs: NotRequired[int]
    presence_penalty: NotRequired[float]
    frequency_penalty: NotRequired[float]
    user: NotRequired[str]
    service_tier: NotRequired[str]
    prompt_cache_key: NotRequired[str]
    truncation: NotRequired[Literal["auto"]]
    prompt_cache_options: NotRequired[PromptCacheOptionsParam]
    prompt_cache_retention: NotRequired[str]
    access_programs: NotRequired[AccessProgramsParam]
    reasoning: NotRequired[dict[str, str]]  # effort, summary
    text: NotRequired[TextOptions]
    include: NotRequired[list[str]]


def _sampling(body: ResponsesRequest, gen: Generation) -> None:
    if gen.temperature is not None:
        body["temperature"] = gen.temperature
    if gen.top_p is not None:
        body["top_p"] = gen.top_p
    if gen.max_output_tokens is not None:
        body["max_output_tokens"] = gen.max_output_tokens
    if gen.top_logprobs is not None:
        body["top_logprobs"] = gen.top_logprobs
    if gen.presence_penalty is not None:
        body["presence_penalty"] = gen.presence_penalty
    if gen.frequency_penalty is not None:
        body["frequency_penalty"] = gen.frequency_penalty
    if gen.user is not None:
        body["user"] = gen.user
    if gen.service_tier is not None:
        body["service_tier"] = gen.service_tier
    if gen.prompt_cache_key is not None:
        body["prompt_cache_key"] = gen.prompt_cache_key


def native_names(gen: Generation, native_tools: frozenset[str]) -> frozenset[str]:
    """The offered tools that go upstream as their native type (custom tools, when it takes them)."""
    return frozenset(t.name for t in gen.tools if t.kind in native_tools)


def request_body(gen: Generation, *, encrypted_reasoning: bool = True, structured: str = "json_schema",
                 native_tools: frozenset[str] = frozenset()) -> ResponsesRequest:
    native = native_names(gen, native_tools)
    body: ResponsesRequest = {"model": gen.model, "input": input_items(gen.messages, native), "stream": True,
                              "store": False}
    include = ["reasoning.encrypted_content"] if encrypted_reasoning else []
    if gen.tools and (gen.tool_choice != "none" or gen.calls_ruled_out):  # ruled out: tools kept, choice none
        body["tools"] = [_tool(t, native) for t in gen.tools]
        forced = gen.forced_tool
        body["tool_choice"] = ({"type": "custom" if forced in native else "function", "name": forced}
                               if forced else gen.tool_choice)
        body["parallel_tool_calls"] = gen.parallel_tool_calls
    _sampling(body, gen)
    if gen.truncation == "auto":
        body["truncation"] = "auto"
    # a /v1/responses upstream takes these as the client sent them
    if gen.prompt_cache is not None:
        body["prompt_cache_options"] = gen.prompt_cache
    if gen.prompt_cache_retention is not None:
        body["prompt_cache_retention"] = gen.prompt_cache_retention
    if gen.access_programs is not None:
        body["access_programs"] = gen.access_programs
    reasoning: dict[str, str] = {k: v for k, v in (("effort", gen.reasoning_effort), ("summary", gen.reasoning_summary),
                                                   ("mode", gen.reasoning_mode), ("context", gen.reasoning_context))
                                 if v}
    if reasoning:
        body["reasoning"] = reasoning
    text: TextOptions = {}
    fmt = gen.response_format
    if fmt is not None and (form := _format(fmt, structured)) is not None:
        text["format"] = form
    if gen.verbosity:
        text["verbosity"] = gen.verbosity
    if text:
        body["text"] = text
    if gen.logprobs or gen.top_logprobs:
        include.append("message.output_text.logprobs")
    if include:
        body["include"] = include
    return body


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(input_tokens=raw.get("input_tokens") or 0, output_tokens=raw.get("output_tokens") or 0,
                 cached_tokens=(raw.get("input_tokens_details") or {}).get("cached_tokens") or 0,
                 reasoning_tokens=(raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)


def _str(value: JSON) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: JSON, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _objects(value: JSON) -> list[JSONObject]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _escaped(text: str) -> str:
    """Text as the inside of a JSON string."""
    return orjson.dumps(text).decode()[1:-1]


class StreamReader:
    """One upstream stream's events -> deltas (feed each event; `end` says how it finished)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.calls: dict[int, int] = {}  # output_index -> the call's delta index
        self.streamed: set[int] = set()  # output indexes whose content came as deltas
        self.finish: Finish | None = None

    def _call(self, output_index: int) -> int:
        return self.calls.setdefault(output_index, len(self.calls))

    def feed(self, ev: JSONObject) -> list[Delta]:
        """The deltas of one upstream event (what the upstream sent is narrowed, never trusted)."""
        kind = ev.get("type")
        at = _int(ev.get("output_index"), -1)
        delta = _str(ev.get("delta"))
        if kind == "response.output_text.delta":
            self.streamed.add(at)
            return [TextDelta(delta, logprobs_of(ev.get("logprobs")))]
        if kind == "response.refusal.delta":
            self.streamed.add(at)
            return [RefusalDelta(delta)]
        if kind == "response.reasoning_text.delta":
            self.streamed.add(at)
            return [ReasoningDelta(delta)]
        if kind == "response.reasoning_summary_text.delta":
            self.streamed.add(at)
            return [ReasoningDelta(delta, summary=_int(ev.get("summary_index"), 0))]
        if kind == "response.function_call_arguments.delta":
            self.streamed.add(at)
            return [ToolCallDelta(self._call(at), arguments=delta)]
        if kind == "response.output_item.added":
            item = _object(ev.get("item"))
            call_id, name = _opt_str(item.get("call_id")), _opt_str(item.get("name"))
            if item.get("type") == "function_call":
                if item.get("arguments"):
                    self.streamed.add(at)
                return [ToolCallDelta(self._call(at), arguments=_str(item.get("arguments")), call_id=call_id,
                                      name=name)]
            if item.get("type") == "custom_tool_call":  # as function-shaped arguments, {"input": "..."}
                if item.get("input"):
                    self.streamed.add(at)
                return [ToolCallDelta(self._call(at), arguments='{"input": "' + _escaped(_str(item.get("input"))),
                                      call_id=call_id, name=name)]
            return []
        if kind == "response.custom_tool_call_input.delta":
            self.streamed.add(at)
            return [ToolCallDelta(self._call(at), arguments=_escaped(delta))]
        if kind == "response.output_item.done":
            return self._done(at, _object(ev.get("item")))
        if kind in ("response.completed", "response.incomplete"):
            resp = _object(ev.get("response"))
            reason = "tool_calls" if self.calls else "stop"
            if kind == "response.incomplete":
                why = _object(resp.get("incomplete_details")).get("reason")
                reason = "content_filter" if why == "content_filter" else "length"
            self.finish = Finish(reason=reason, usage=usage_of(resp.get("usage")))
            return []
        if kind in ("response.failed", "error"):
            err = _object(_object(ev.get("response")).get("error") if kind == "response.failed" else ev)
            raise BackendError(f"The upstream at {self.base_url} failed the response: "
                               f"{err.get('message') or 'no reason given'}", status=502,
                               code=str(err.get("code") or "upstream_error"))
        return []

    def _done(self, at: int, item: JSONObject) -> list[Delta]:
        kind = item.get("type")
        whole = at not in self.streamed
        out: list[Delta] = []
        call_id, name = _opt_str(item.get("call_id")), _opt_str(item.get("name"))
        if kind == "reasoning":
            if whole:
                out += [ReasoningDelta(_str(p.get("text")), summary=j) for j, p in enumerate(_objects(item.get("summary")))]
                out += [ReasoningDelta(_str(p.get("text"))) for p in _objects(item.get("content"))]
            sealed = _opt_str(item.get("encrypted_content"))
            if sealed:
                out.append(ReasoningDelta("", encrypted=sealed, item_id=_opt_str(item.get("id"))))
        elif kind == "message" and whole:
            for p in _objects(item.get("content")):
                if p.get("type") == "refusal":
                    out.append(RefusalDelta(_str(p.get("refusal"))))
                elif p.get("text"):
                    out.append(TextDelta(_str(p.get("text")), logprobs_of(p.get("logprobs"))))
        elif kind == "custom_tool_call":
            if at not in self.calls:
                out.append(ToolCallDelta(self._call(at), arguments='{"input": "', call_id=call_id, name=name))
            out.append(ToolCallDelta(self._call(at), arguments=(_escaped(_str(item.get("input"))) if whole else "")
                                     + '"}'))
        elif kind == "function_call":
            if at not in self.calls:
                out.append(ToolCallDelta(self._call(at), call_id=call_id, name=name))
            if whole:
                out.append(ToolCallDelta(self._call(at), arguments=_str(item.get("arguments"))))
        return [d for d in out if not isinstance(d, (TextDelta, RefusalDelta)) or d.text]
