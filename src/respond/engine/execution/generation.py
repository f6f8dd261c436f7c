"""From Responses API items to a `Generation`: chat messages, tools, tool choice, output format.

`items_to_messages` turns each item into chat messages by its role in `protocol.item_types`
(message, call, output, hosted, reasoning, compaction); the tools offered come from
`client_tools`, narrowed by `tool_choice`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from respond.core.types import Generation, Message
from respond.engine.intake.client_tools import ClientTools, HostedTypes, client_tools
from respond.engine.intake.tool_choice import read_choice
from respond.protocol.errors import invalid
from respond.protocol.item_types import ITEM_TYPES, call_as_function, output_images, output_text
from respond.protocol.items import UPSTREAM_STATE
from respond.protocol.params import PromptCacheOptionsParam, TextParam
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes.values import JSONObject

Item = dict[str, Any]


def _part_to_chat(part: JSONObject) -> JSONObject | None:
    chat = _chat_part(part)
    if chat is not None and part.get("prompt_cache_breakpoint") is not None:
        chat["prompt_cache_breakpoint"] = part["prompt_cache_breakpoint"]  # the chat parts take it as is
    return chat


def _chat_part(part: JSONObject) -> JSONObject | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal", "")}
    if kind == "input_image":
        url = part.get("image_url") or part.get("file_id")
        return {"type": "image_url", "image_url": {"url": url, "detail": part.get("detail", "auto")}}
    if kind == "input_file":
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
        return {"type": "file", "file": file}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio", {})}
    return None


def _content(parts: list[JSONObject]) -> str | list[JSONObject]:
    chat = [c for c in (_part_to_chat(p) for p in parts) if c is not None]
    if all(c["type"] == "text" and "prompt_cache_breakpoint" not in c for c in chat):
        return "".join(str(c["text"]) for c in chat)  # (validated input: a text part's text is a string)
    return chat


@dataclass(frozen=True, slots=True)
class History:
    """The items a response continues (its chain or conversation), with their chat messages when
    already known (from the context cache): then only the new items are converted."""

    items: list[Item] = field(default_factory=list)
    messages: list[Message] | None = None
    epoch: int | None = None  # the store's deletion epoch read before these items were (none: not read)


def _message(item: Item, messages: list[Message]) -> None:
    role = item["role"]
    messages.append({"role": "system" if role == "developer" else role,
                     "content": _content(item.get("content") or [])})


class _Context:
    """Chat messages being built; a note (a hosted tool's item) never goes between a call and its
    output (a `tool` message must follow its call), nor do the images an output showed."""

    def __init__(self, prefix: list[Message] | None) -> None:
        self.messages: list[Message] = list(prefix or [])
        self.shared = len(self.messages)  # the prefix's messages: shared, copied before a change
        self.waiting: set[str] = set()  # calls without their output yet
        self.open_at = -1  # the assistant message holding them
        self.images: list[JSONObject] = []
        self.thought: str | None = None  # a reasoning item's text, for the assistant message that follows it
        self.thought_item: Item | None = None  # that reasoning item (for a /v1/responses upstream)

    def reason(self, item: Item) -> None:
        text = reasoning_text(item)
        if text or item.get(UPSTREAM_STATE):
            self.thought = text or self.thought
            self.thought_item = {k: item[k] for k in ("summary", "content", UPSTREAM_STATE) if k in item}

    def think(self, message: Message) -> None:
        if self.thought:
            message["reasoning_content"], self.thought = self.thought, None
        if self.thought_item is not None:
            message["reasoning_item"], self.thought_item = self.thought_item, None

    def call(self, item: Item) -> None:
        """A call the model made: a `tool_calls` entry, merged into the assistant message just before."""
        call_id, name, arguments = call_as_function(item)
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        messages = self.messages
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and (
                "tool_calls" in last or isinstance(last.get("content"), str)):
            if len(messages) == self.shared:  # the prefix's message: extend a copy
                last = messages[-1] = {**last, "tool_calls": list(last.get("tool_calls", []))}
                self.shared -= 1
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            self.think(messages[-1])
        self.waiting.add(call_id)
        self.open_at = len(messages) - 1

    def output(self, item: Item) -> None:
        call_id, text = output_text(item)
        self.waiting.discard(call_id)
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        self.images += [c for c in map(_part_to_chat, output_images(item)) if c]
        if not self.waiting:
            self.flush()

    def flush(self) -> None:
        """Chat tool messages hold text only: what the tools showed follows as user content."""
        self.waiting.clear()
        if self.images:
            self.messages.append({"role": "user", "content": self.images})
            self.images = []

    def note(self, extra: list[Message]) -> None:
        if self.waiting:
            self.messages[self.open_at:self.open_at] = extra
            self.shared += len(extra) if self.open_at < self.shared else 0
            self.open_at += len(extra)
        else:
            self.messages.extend(extra)


def _hosted_note(item: Item) -> list[Message]:
    """A hosted tool's item that no configured tool reads: what it did, as a note."""
    shown = {k: v for k, v in item.items() if k not in ("id", "status", "encrypted_content") and v}
    return [{"role": "system", "content": f"Earlier tool activity ({item['type']}): {dumps(shown)[:4000]}"}]


def compaction_messages(summary: str | None) -> list[Message]:
    return [{"role": "system", "content": f"Summary of the earlier conversation:\n{summary}"}] if summary else []


def reasoning_text(item: Item) -> str:
    """A reasoning item's text: its reasoning_text content, else its summary."""
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list):
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            if text:
                return text
    return ""


HostedContext = Callable[[Item], "list[Message] | None"]
"""A stored hosted-tool item -> its chat messages on later turns (None: not that tool's item)."""


def items_to_messages(items: list[Item], prefix: list[Message] | None = None,
                      hosted: HostedContext | None = None) -> list[Message]:
    """Chat messages for a list of items, in order (each item's role in `item_types.ITEM_TYPES`; a
    type the core does not know is a hosted tool's: input validation refused any other).

    Consecutive calls (functions and client-run tools) become one assistant message with several
    `tool_calls` (merged into the assistant message just before them, if any), their outputs
    become `tool` messages.  A reasoning item's text rides on the next assistant message as
    `reasoning_content` (backends rename or drop it for their upstream).  Hosted tools' items and
    compaction items are what `hosted` makes of them (else a note, and nothing of a compaction
    item: only the server's key opens it), never between a call and its output.  `prefix` (the
    messages of earlier items, shared, never modified) goes first.
    """
    items, prefix = compacted_window(items, prefix)
    ctx = _Context(prefix)
    for item in items:
        spec = ITEM_TYPES.get(item.get("type", ""))
        role = spec.context if spec is not None else "hosted"
        if role == "message":
            ctx.flush()
            _message(item, ctx.messages)
            if item["role"] == "assistant":
                ctx.think(ctx.messages[-1])
        elif role == "reasoning":
            ctx.reason(item)
        elif role == "call":
            ctx.call(item)
        elif role == "output":
            ctx.output(item)
        elif role in ("hosted", "compaction"):
            extra = hosted(item) if hosted is not None else None
            ctx.note(extra if extra is not None else [] if role == "compaction" else _hosted_note(item))
    ctx.flush()
    return ctx.messages


def compacted_window(items: list[Item], prefix: list[Message] | None = None
                     ) -> tuple[list[Item], list[Message] | None]:
    """What a context holding a compaction item reads: the latest compaction item summarises all
    that came before it, of which only the user's own messages stay (the window
    `/responses/compact` and server-side compaction return); so a chain or an input that carries
    the earlier items as well reads the same."""
    last = next((i for i in range(len(items) - 1, -1, -1) if items[i].get("type") == "compaction"), None)
    if last is None:
        return items, prefix
    kept = [it for it in items[:last] if it.get("type") == "message" and it.get("role") == "user"]
    return kept + items[last:], None if prefix is None else [m for m in prefix if m.get("role") == "user"]


def response_format(text: TextParam | None) -> JSONObject | None:
    if text is not None and not isinstance(text, dict):
        raise invalid("Invalid type for 'text': expected an object.", "text", "invalid_type")
    fmt = (text or {}).get("format")
    if fmt is not None and not isinstance(fmt, dict):
        raise invalid("Invalid type for 'text.format': expected an object such as {\"type\": \"json_schema\", ...}.",
                      "text.format", "invalid_type")
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        for key in ("name", "schema"):
            if key not in fmt:
                raise invalid(f"Missing required parameter: 'text.format.{key}'.", f"text.format.{key}",
                              "missing_required_parameter")
        return {"type": "json_schema", "name": fmt["name"], "schema": fmt["schema"],
                "strict": fmt.get("strict"), "description": fmt.get("description")}
    raise invalid(f"Invalid value: '{fmt.get('type')}'. Supported values are: 'text', 'json_object' and "
                  f"'json_schema'.", "text.format.type", "invalid_value")


@dataclass(slots=True)
class Prepared:
    gen: Generation
    tools: ClientTools  # what each offered function is (the event builder names call items by it)
    hosted_tools: list[JSONObject]  # the request's tools left for hosted tools (after allowed_tools)


def prepare(req: CreateResponse, model: str, history: History, new_items: list[Item],
            hosted_types: HostedTypes | None = None, hosted: HostedContext | None = None) -> Prepared:
    tools = client_tools(req.tools, hosted_types)
    choice = read_choice(req.tool_choice, tools, req.tools)
    messages: list[Message] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    if history.messages is not None:
        messages.extend(items_to_messages(new_items, prefix=history.messages, hosted=hosted))
    else:
        messages.extend(items_to_messages(history.items + new_items, hosted=hosted))
    reasoning = req.reasoning or {}
    if reasoning.get("context") == "current_turn":
        messages = current_turn_reasoning(messages)
    gen = Generation(
        model=model, messages=messages, tools=tools.specs, tool_choice=choice.mode, forced_tool=choice.forced,
        parallel_tool_calls=req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        temperature=req.temperature, top_p=req.top_p, max_output_tokens=req.max_output_tokens,
        top_logprobs=req.top_logprobs, presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty, response_format=response_format(req.text),
        truncation=req.truncation or "disabled", user=req.safety_identifier or req.user,
        logprobs="message.output_text.logprobs" in (req.include or []),
        reasoning_effort=(req.reasoning or {}).get("effort"),
        reasoning_summary=(req.reasoning or {}).get("summary") or (req.reasoning or {}).get("generate_summary"),
        verbosity=(req.text or {}).get("verbosity"),
        service_tier=req.service_tier, prompt_cache_key=req.prompt_cache_key,
        prompt_cache=_upstream_cache_options(req.prompt_cache_options),
        prompt_cache_retention=req.prompt_cache_retention,
        prewarm=bool((req.prompt_cache_options or {}).get("prewarm")), access_programs=req.access_programs,
        reasoning_mode=reasoning.get("mode") if reasoning.get("mode") not in (None, "standard") else None,
        reasoning_context=reasoning.get("context"),
    )
    return Prepared(gen, tools, choice.hosted or [])


def _upstream_cache_options(options: PromptCacheOptionsParam | None) -> PromptCacheOptionsParam | None:
    """The prompt-caching options a backend sees: all but `comparison_response_id`, Respond's own
    (engine/intake/prompt_cache.py); None when that leaves none."""
    if not options:
        return None
    kept = options.copy()
    kept.pop("comparison_response_id", None)
    return kept or None


def current_turn_reasoning(messages: list[Message]) -> list[Message]:
    """`reasoning.context: "current_turn"`: the reasoning of earlier turns (before the last user message) is
    not rendered back to the model; the reasoning of this turn's tool rounds is. Shared messages are copied."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    return [{k: v for k, v in m.items() if k not in ("reasoning_content", "reasoning_item")}
            if i < last_user and ("reasoning_content" in m or "reasoning_item" in m) else m
            for i, m in enumerate(messages)]


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
