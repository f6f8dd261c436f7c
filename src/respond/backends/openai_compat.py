"""`ModelBackend` for any OpenAI-compatible chat-completions upstream (vLLM, Ollama, llama.cpp's
server, hosted APIs).  Every request streams, so the engine sees deltas as they come and a closed
iterator drops the upstream connection at once.  The transport (timeouts, the bounded pool,
releasing connections, status mapping, reply checks) lives in `upstream_http.py`; this module
builds the chat body and turns the stream into deltas.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Literal, NotRequired, TypedDict

import orjson

from respond.backends.http1 import HTTPError
from respond.backends.options import check_chat_cache
from respond.backends.profiles import as_bool
from respond.backends.upstream_base import UpstreamBackend, error_message, logprobs_of
from respond.backends.upstream_http import (
    Exchange,
    UpstreamLimits,
    bad_reply,
    sse_json,
    status_error,
)
from respond.core.errors import BackendError
from respond.core.truncation import drop_oldest
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
from respond.protocol.params import PromptCacheOptionsParam
from respond.protocol.shapes import JSON, JSONObject, Logprob

log = logging.getLogger("respond.upstream")

REASONING_FIELDS = ("reasoning_content", "reasoning", "none")


def with_reasoning_field(messages: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Earlier reasoning (`reasoning_content` on assistant messages) under the name the upstream
    reads: `reasoning_content` (vLLM, DeepSeek, llama.cpp's server), `reasoning` (Ollama,
    OpenRouter), or dropped (`none`, for upstreams that reject unknown message keys).  The
    Responses-shaped `reasoning_item` is for /v1/responses upstreams only: always dropped here."""
    items = contents = False  # (one loop over the messages, not two `any` over generators: every turn reads them all)
    for m in messages:
        if "reasoning_item" in m:
            items = True
        if "reasoning_content" in m:
            contents = True
    if items:
        messages = [{k: v for k, v in m.items() if k != "reasoning_item"} if "reasoning_item" in m else m
                    for m in messages]
    if field == "reasoning_content" or not contents:
        return messages
    out: list[dict[str, Any]] = []
    for m in messages:
        if "reasoning_content" in m:
            m = {k: v for k, v in m.items() if k != "reasoning_content"}
            if field != "none":
                m[field] = messages[len(out)]["reasoning_content"]
        out.append(m)
    return out


class ChatFunction(TypedDict):
    name: str
    parameters: JSONObject
    description: NotRequired[str]
    strict: NotRequired[bool]


class ChatTool(TypedDict):
    type: Literal["function"]
    function: ChatFunction


class ChatRequest(TypedDict):
    """A streamed chat-completions request, as sent upstream (a key is left out when it has no value)."""

    model: str
    messages: list[Message]
    stream: Literal[True]
    stream_options: dict[Literal["include_usage"], bool]
    tools: NotRequired[list[ChatTool]]
    tool_choice: NotRequired[str | JSONObject]
    parallel_tool_calls: NotRequired[bool]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    max_tokens: NotRequired[int]
    presence_penalty: NotRequired[float]
    frequency_penalty: NotRequired[float]
    user: NotRequired[str]
    reasoning_effort: NotRequired[str]
    verbosity: NotRequired[str]
    service_tier: NotRequired[str]
    prompt_cache_key: NotRequired[str]
    prompt_cache_options: NotRequired[PromptCacheOptionsParam]  # with the profile setting `prompt_cache` (backends/options.py)
    prompt_cache_retention: NotRequired[str]
    logprobs: NotRequired[bool]
    top_logprobs: NotRequired[int]
    response_format: NotRequired[JSONObject]


def _chat_tool(t: ToolSpec) -> ChatTool:
    function: ChatFunction = {"name": t.name, "parameters": t.parameters or {"type": "object", "properties": {}}}
    if t.description is not None:
        function["description"] = t.description
    if t.strict is not None:
        function["strict"] = t.strict
    return {"type": "function", "function": function}


def chat_body(gen: Generation, reasoning_field: str = "reasoning_content",
              structured: str = "json_schema") -> ChatRequest:
    """The streamed chat request; `structured`: the upstream's form of structured output (profiles.py)."""
    body: ChatRequest = {"model": gen.model, "messages": with_reasoning_field(gen.messages, reasoning_field),
                         "stream": True, "stream_options": {"include_usage": True}}
    if gen.tools and (gen.tool_choice != "none" or gen.calls_ruled_out):
        body["tools"] = [_chat_tool(t) for t in gen.tools]
        body["tool_choice"] = ({"type": "function", "function": {"name": gen.forced_tool}}
                               if gen.forced_tool else gen.tool_choice)
        body["parallel_tool_calls"] = gen.parallel_tool_calls
    if gen.temperature is not None:
        body["temperature"] = gen.temperature
    if gen.top_p is not None:
        body["top_p"] = gen.top_p
    if gen.max_output_tokens is not None:
        body["max_tokens"] = gen.max_output_tokens
    if gen.presence_penalty is not None:
        body["presence_penalty"] = gen.presence_penalty
    if gen.frequency_penalty is not None:
        body["frequency_penalty"] = gen.frequency_penalty
    if gen.user is not None:
        body["user"] = gen.user
    if gen.reasoning_effort is not None:
        body["reasoning_effort"] = gen.reasoning_effort
    if gen.verbosity is not None:
        body["verbosity"] = gen.verbosity
    if gen.service_tier is not None:
        body["service_tier"] = gen.service_tier
    if gen.prompt_cache_key is not None:
        body["prompt_cache_key"] = gen.prompt_cache_key
    if gen.logprobs or gen.top_logprobs:
        body["logprobs"] = True
        if gen.top_logprobs:
            body["top_logprobs"] = gen.top_logprobs
    fmt = gen.response_format
    if fmt is not None and structured != "none":
        if fmt["type"] == "json_schema" and structured == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": fmt["schema"]}
        elif fmt["type"] == "json_schema" and structured == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                k: v for k, v in (("name", fmt["name"]), ("schema", fmt["schema"]), ("strict", fmt.get("strict")),
                                  ("description", fmt.get("description"))) if v is not None}}
        else:
            body["response_format"] = {"type": "json_object"}
    return body


def _count(raw: JSON, key: str, detail: str | None = None) -> int:
    """A token count of a usage object (`detail`: inside that nested object); 0 when absent or not a number."""
    if detail is not None:
        raw = raw.get(detail) if isinstance(raw, dict) else None
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(raw: JSON) -> Usage | None:
    if not raw or not isinstance(raw, dict):
        return None
    return Usage(
        input_tokens=_count(raw, "prompt_tokens"),
        output_tokens=_count(raw, "completion_tokens"),
        cached_tokens=_count(raw, "cached_tokens", "prompt_tokens_details"),
        reasoning_tokens=_count(raw, "reasoning_tokens", "completion_tokens_details"),
    )


def _logprobs(choice: JSONObject) -> list[Logprob] | None:
    """A chat-completions choice's `logprobs.content`, in the Responses wire's shape."""
    found = choice.get("logprobs")
    return logprobs_of(found.get("content") if isinstance(found, dict) else None)


class OpenAICompatBackend(UpstreamBackend):
    name = "openai_compat"
    vision = True  # image parts are passed on (an upstream without vision answers for itself)

    def __init__(self, base_url: str, api_key: str | None = None, models: list[str] | str | None = None,
                 reasoning_field: str = "reasoning_content", file_parts: bool | str = False,
                 limits: UpstreamLimits | None = None, profile: str | None = None, **settings: Any) -> None:
        # True: input files go upstream as chat-completions `file` parts; False: as extracted text.
        self.file_parts = as_bool("file_parts", file_parts)
        if reasoning_field not in REASONING_FIELDS:
            raise ValueError(f"reasoning_field must be one of {', '.join(REASONING_FIELDS)}, got {reasoning_field!r}")
        self.reasoning_field = reasoning_field
        self._connect(base_url, api_key, models, limits, profile, settings)  # what the upstream supports

    async def _open(self, gen: Generation) -> Exchange:
        """Send the request; with `truncation: auto`, drop the oldest messages (1, 2, 4, ... at a time,
        never a system message) while the upstream says the input is too long."""
        messages = gen.messages
        drop = 1
        while True:
            body = chat_body(gen, self.reasoning_field, self.profile.structured_output)
            if self.profile.prompt_cache and gen.prompt_cache:  # checked by check_chat_cache: what it takes
                body["prompt_cache_options"] = gen.prompt_cache
            if self.profile.prompt_cache and gen.prompt_cache_retention:
                body["prompt_cache_retention"] = gen.prompt_cache_retention
            if messages is not gen.messages:
                body["messages"] = with_reasoning_field(messages, self.reasoning_field)
            ex = await self.http.send("POST", "/chat/completions", orjson.dumps(body))
            if ex.resp.status < 400:
                return ex
            try:
                raw = await ex.read()
            finally:
                ex.close()
            message, code, param = error_message(ex.resp.status, raw)
            too_long = ex.resp.status == 400 and (code == "context_length_exceeded" or any(
                w in message.lower() for w in ("context length", "context window", "maximum context", "too long")))
            if too_long and gen.truncation == "auto":
                shorter = drop_oldest(messages, drop)
                if shorter is not None:
                    messages, drop = shorter, drop * 2
                    continue
            if too_long:
                code, param = "context_length_exceeded", "input"
            raise status_error(self.base_url, ex.resp.status, message, code, param)

    def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        return self._generate(gen)

    async def _generate(self, gen: Generation) -> AsyncIterator[Delta]:
        """The upstream's chunks as deltas: one generator from the socket's lines to the deltas (each
        layer of generators costs a step per delta), the profile's checks (`adapt.Tally`) kept inline."""
        check_chat_cache(gen, self.profile.prompt_cache, f"the upstream at {self.base_url} (profile {self.profile.name})")
        tally = self.profiled.adapter.tally(gen)
        text, other = tally.text, tally.other
        ex = await self._open(gen)
        finish: str | None = None
        usage: Usage | None = None
        try:
            ex.check_event_stream()
            try:  # (the connection's errors mapped here: no generator layer between it and this one)
                async for batch in ex.lines():
                    for raw in batch:
                        if not raw.startswith(b"data:"):
                            continue
                        data = raw[5:].strip()
                        if data == b"[DONE]":
                            # Read on to the end of the body: a fully read response returns its connection to
                            # the pool; a closed one costs a new connection next time.
                            continue
                        try:  # (sse_json's checks inline: this runs per chunk)
                            chunk = orjson.loads(data)
                        except orjson.JSONDecodeError:
                            chunk = None
                        if type(chunk) is not dict:
                            chunk = sse_json(self.base_url, data)  # raises, naming what came
                        if chunk.get("error"):
                            err = chunk["error"]
                            raise BackendError(str(err.get("message", err)) if isinstance(err, dict) else str(err))
                        if chunk.get("usage"):
                            usage = _usage(chunk["usage"])
                        for choice in chunk.get("choices") or []:
                            delta = choice.get("delta") or {}
                            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                            if reasoning:
                                other.append(reasoning)
                                yield ReasoningDelta(reasoning)
                            if delta.get("refusal"):
                                other.append(delta["refusal"])
                                yield RefusalDelta(delta["refusal"])
                            content = delta.get("content")
                            if content:
                                text.append(content)
                                yield TextDelta(content, _logprobs(choice) if choice.get("logprobs") else None)
                            for call in delta.get("tool_calls") or []:
                                fn = call.get("function") or {}
                                piece = ToolCallDelta(index=call.get("index", 0), arguments=fn.get("arguments") or "",
                                                      call_id=call.get("id"), name=fn.get("name"))
                                tally.call(piece)
                                yield piece
                            if choice.get("finish_reason"):
                                finish = choice["finish_reason"]
            except (HTTPError, OSError) as exc:  # (a timeout is an OSError)
                raise ex.failed(exc) from (None if isinstance(exc, TimeoutError) else exc)
            if finish is None:
                raise bad_reply(self.base_url, "the stream ended without a finish_reason")
        finally:
            # Fully read: the connection goes back to the pool; cut short (client gone, cancel,
            # error): it is closed, which tells the upstream to stop generating.
            ex.close()
        yield await tally.end(Finish(reason=finish, usage=usage))
