"""From Responses API items to a `Generation`: chat messages, tools, tool choice, output format."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

from respond.core.types import Generation, Message, ToolSpec
from respond.engine.compaction import decode
from respond.protocol.errors import invalid
from respond.protocol.requests import CreateResponse

Item = dict[str, Any]


def _part_to_chat(part: dict[str, Any]) -> dict[str, Any] | None:
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


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    chat = [c for c in (_part_to_chat(p) for p in parts) if c is not None]
    if all(c["type"] == "text" for c in chat):
        return "".join(c["text"] for c in chat)
    return chat


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    return "".join(p.get("text", "") for p in output if isinstance(p, dict))


@dataclass(frozen=True, slots=True)
class History:
    """The items a response continues (its chain or conversation), with their chat messages when
    already known (from the context cache): then only the new items are converted."""

    items: list[Item] = field(default_factory=list)
    messages: list[Message] | None = None


HostedContext = Callable[[Item], "list[Message] | None"]
"""A stored hosted-tool item -> its chat messages on later turns (None: not a hosted item)."""


def items_to_messages(items: list[Item], prefix: list[Message] | None = None,
                      hosted: HostedContext | None = None) -> list[Message]:
    """Chat messages for a list of items, in order.

    Consecutive function calls become one assistant message with several `tool_calls` (merged
    into the assistant message just before them, if any), their outputs become `tool` messages.
    A reasoning item's text rides on the next assistant message as `reasoning_content` (backends
    rename or drop it for their upstream); a hosted tool's items are what `hosted` makes of them.
    `prefix` (the messages of earlier items, shared, never modified) goes first.  A hosted item
    met while function calls wait for their outputs goes before the assistant message holding
    them (a tool message must follow its call).
    """
    messages: list[Message] = list(prefix or [])
    shared = len(messages)
    waiting: set[str] = set()  # call ids of function calls without an output yet
    open_at = -1  # the assistant message holding them
    thought: str | None = None  # a reasoning item's text, for the assistant message that follows it
    for item in items:
        kind = item.get("type")
        if kind == "message":
            waiting.clear()
            role = item["role"]
            content = _content(item.get("content") or [])
            messages.append({"role": "system" if role == "developer" else role, "content": content})
            if role == "assistant" and thought:
                messages[-1]["reasoning_content"], thought = thought, None
        elif kind == "reasoning":
            thought = reasoning_text(item) or thought
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments", "")}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and (
                    "tool_calls" in last or isinstance(last.get("content"), str)):
                if len(messages) == shared:  # the prefix's message: extend a copy
                    last = messages[-1] = {**last, "tool_calls": list(last.get("tool_calls", []))}
                    shared -= 1
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                if thought:
                    messages[-1]["reasoning_content"], thought = thought, None
            waiting.add(item["call_id"])
            open_at = len(messages) - 1
        elif hosted is not None and (extra := hosted(item)) is not None:
            if waiting:
                messages[open_at:open_at] = extra
                shared += len(extra) if open_at < shared else 0
                open_at += len(extra)
            else:
                messages.extend(extra)
        elif kind == "compaction":
            summary = decode(item.get("encrypted_content", ""))
            if summary is not None:
                messages.append({"role": "system", "content": f"Summary of the earlier conversation:\n{summary}"})
        elif kind == "function_call_output":
            waiting.discard(item["call_id"])
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": _output_text(item.get("output", ""))})
    return messages


def reasoning_text(item: Item) -> str:
    """A reasoning item's text: its reasoning_text content, else its summary."""
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list):
            text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
            if text:
                return text
    return ""


def tool_specs(tools: list[dict[str, Any]] | None, hosted_types: Collection[str] = ()) -> list[ToolSpec]:
    specs = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or "type" not in tool:
            raise invalid(f"Missing required parameter: 'tools[{i}].type'.", f"tools[{i}].type",
                          "missing_required_parameter")
        if tool["type"] == "function":
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise invalid(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name",
                              "missing_required_parameter")
            params = tool.get("parameters")
            if params is not None and not isinstance(params, dict):
                raise invalid(f"Invalid type for 'tools[{i}].parameters': expected an object.",
                              f"tools[{i}].parameters", "invalid_type")
            specs.append(ToolSpec(name=tool["name"], parameters=params, description=tool.get("description"),
                                  strict=tool.get("strict")))
        elif tool["type"] not in hosted_types:
            supported = ", ".join(repr(t) for t in ["function", *sorted(hosted_types)])
            raise invalid(f"Invalid value: '{tool['type']}'. Supported values are: {supported}.",
                          f"tools[{i}].type", "invalid_value")
    return specs


def tool_choice(choice: str | dict[str, Any] | None, specs: list[ToolSpec]) -> tuple[str, str | None]:
    """("none"|"auto"|"required", forced function name or None)."""
    if choice is None:
        return "auto", None
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto' and 'required'.",
                          "tool_choice", "invalid_value")
        if choice == "required" and not specs:
            raise invalid("Tool choice 'required' needs at least one tool in 'tools'.", "tool_choice",
                          "invalid_value")
        return choice, None
    if choice.get("type") == "function":
        name = choice.get("name")
        if name not in {s.name for s in specs}:
            raise invalid(f"Tool choice '{name}' is not one of the functions in 'tools'.", "tool_choice.name",
                          "invalid_value")
        return "required", name
    if choice.get("type") == "allowed_tools":
        return ("required" if choice.get("mode") == "required" else "auto"), None
    return "auto", None


def response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
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


def build_generation(req: CreateResponse, model: str, history: History, new_items: list[Item],
                     hosted_types: Collection[str] = (), hosted: HostedContext | None = None) -> Generation:
    specs = tool_specs(req.tools, hosted_types)
    # Hosted tools count as tools for tool_choice "required" (engine/hosted.py adds their functions).
    offered = [ToolSpec(name=t["type"]) for t in req.tools or []
               if isinstance(t, dict) and t.get("type") in hosted_types]
    choice, forced = tool_choice(req.tool_choice, specs + offered)
    messages: list[Message] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    if history.messages is not None:
        messages.extend(items_to_messages(new_items, prefix=history.messages, hosted=hosted))
    else:
        messages.extend(items_to_messages(history.items + new_items, hosted=hosted))
    return Generation(
        model=model, messages=messages, tools=specs, tool_choice=choice, forced_tool=forced,
        parallel_tool_calls=req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        temperature=req.temperature, top_p=req.top_p, max_output_tokens=req.max_output_tokens,
        top_logprobs=req.top_logprobs, presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty, response_format=response_format(req.text),
        truncation=req.truncation or "disabled", user=req.safety_identifier or req.user,
        logprobs="message.output_text.logprobs" in (req.include or []),
        reasoning_effort=(req.reasoning or {}).get("effort"), verbosity=(req.text or {}).get("verbosity"),
        service_tier=req.service_tier, prompt_cache_key=req.prompt_cache_key,
    )


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
