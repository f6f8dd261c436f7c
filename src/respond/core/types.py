"""The internal vocabulary shared by the engine and every adapter.

A generation is described by a :class:`Generation` (chat-shaped messages, tools, sampling) and
answered by a stream of :data:`Delta` values.  Backends translate these to and from their own
world (an HTTP chat-completions upstream, an embedded llama.cpp model, a script); the engine
turns deltas into Responses API items and events.  Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from respond.protocol.params import AccessProgramsParam, PromptCacheOptionsParam
from respond.protocol.shapes import JSONObject, Logprob
from respond.protocol.shapes.items import UpstreamState
from respond.protocol.shapes.parts import ReasoningTextPart, SummaryTextPart

Message = dict[str, Any]
"""One chat message in OpenAI chat-completions shape: role, content (str or parts), tool_calls, ...

An assistant message may also carry `reasoning_content` (the reasoning before it, as text) and
`reasoning_item` (that reasoning as a Responses `reasoning` item: summary, content and, when a
Responses upstream made it, that upstream's item id and `encrypted_content`).  Backends that speak
chat completions rename or drop both; one that speaks /v1/responses sends the item back."""


class ReasoningContext(TypedDict):
    """An assistant message's `reasoning_item`: the reasoning before it, as a Responses `reasoning`
    item holds it (the upstream's state when a /v1/responses upstream made it)."""

    summary: list[SummaryTextPart]
    content: list[ReasoningTextPart]
    _upstream: NotRequired[UpstreamState]


class ReasoningFields(TypedDict, total=False):
    """What an assistant message carries of the reasoning before it (backends rename or drop it)."""

    reasoning_item: ReasoningContext
    reasoning_content: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call (chat-completions `function` shape); every client-run tool
    type is offered as one (engine/intake/client_tools.py)."""

    name: str
    parameters: JSONObject | None = None  # a JSON schema
    description: str | None = None
    strict: bool | None = None
    # A custom tool's grammar ({"syntax": "lark"|"regex", "definition"}): its `input` must match it
    # (the embedded backend decodes a forced call of it under the grammar).
    grammar: JSONObject | None = None
    # "custom": a client's custom tool (its `input` offered as {"input": str}); a backend whose
    # upstream takes custom tools natively may offer it as one (its grammar as the format).
    kind: str = "function"


@dataclass(slots=True)
class Generation:
    """Everything a backend needs to produce one assistant turn."""

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    # "none" | "auto" | "required" | a tool name (forced call of that function)
    tool_choice: str = "auto"
    forced_tool: str | None = None
    # With tool_choice "none": the tools stay in the prompt as the model saw them on the turns before,
    # but no call may be made (the repeat guard asking again; the embedded backend uses a grammar).
    calls_ruled_out: bool = False
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # None (plain text), {"type": "json_object"} or {"type": "json_schema", "name", "schema", "strict"}
    response_format: JSONObject | None = None
    # "auto" lets a backend drop the oldest non-system messages to fit its context window.
    truncation: Literal["auto", "disabled"] = "disabled"
    # The upstream's `user` (Responses' safety_identifier, else the deprecated user).
    user: str | None = None
    # Per-token logprobs of the output text (include "message.output_text.logprobs" or top_logprobs).
    logprobs: bool = False
    # Passed on to upstreams that understand them (chat-completions names):
    reasoning_effort: str | None = None  # none|minimal|low|medium|high|xhigh|max
    reasoning_summary: str | None = None  # auto|concise|detailed (a /v1/responses upstream's own summary)
    verbosity: str | None = None  # low|medium|high
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    # Prompt caching (issue 19), each passed on to an upstream that takes it, else the backend
    # answers a 400 naming it: `prompt_cache_options` without comparison_response_id (mode, ttl,
    # prewarm: the keys the client set) and the deprecated `prompt_cache_retention`.  Content parts
    # may carry `prompt_cache_breakpoint` ({"mode": "explicit", "ttl"?}) as the chat parts take it.
    prompt_cache: PromptCacheOptionsParam | None = None
    prompt_cache_retention: str | None = None
    # `prompt_cache_options.prewarm`: fill the prompt cache, generate nothing (no output tokens).
    prewarm: bool = False
    # The request's `access_programs` ({"cyber": ...}): only a /v1/responses upstream takes it.
    access_programs: AccessProgramsParam | None = None
    # `reasoning.mode` other than "standard" (only a /v1/responses upstream takes it) and
    # `reasoning.context` (applied to the messages by the engine, passed on to a /v1/responses upstream).
    reasoning_mode: str | None = None
    reasoning_context: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    # [{"token", "logprob", "bytes", "top_logprobs": [...]}] when logprobs were asked for
    logprobs: list[Logprob] | None = None  # the wire's shape (output_text.logprobs)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call; `index` tells calls apart, the first piece carries id and name."""

    index: int
    arguments: str = ""
    call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (chat `reasoning_content`, or `<think>` text).

    From a /v1/responses upstream: `summary` is the index of the summary part the text belongs to
    (None: the reasoning text itself), and the upstream's finished reasoning item arrives as a delta
    with `encrypted` (its opaque `encrypted_content`) and `item_id`, to be sent back next turn.
    """

    text: str
    summary: int | None = None
    encrypted: str | None = None
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """A piece of a refusal (chat `delta.refusal`)."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    """The last delta: why generation stopped ("stop", "length", "tool_calls") and the usage."""

    reason: str = "stop"
    usage: Usage | None = None


Delta = TextDelta | ToolCallDelta | ReasoningDelta | RefusalDelta | Finish


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    owned_by: str = "respond"  # the backend, or the configured upstream's name, that serves it
    created: int = 0
    alias_for: str | None = None  # an alias ([aliases] of the configuration): the model it names
