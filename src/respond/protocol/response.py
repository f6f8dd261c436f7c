"""The Response object: every field of the SDK's `Response` and of Open Responses' ResponseResource."""

from __future__ import annotations

from respond.protocol.lifecycle import TERMINAL
from respond.protocol.params import PromptCacheOptionsParam, ReasoningParam, TextParam
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes import JSONObject, ResponseDict, ResponseStatus, TextConfig, UsageDict
from respond.protocol.shapes.response import ImageConfig, PromptCacheOptionsConfig, ReasoningConfig

__all__ = ["TERMINAL", "echo_cache_options", "echo_image", "echo_text", "echo_tools", "new_response",
           "usage_object"]


def echo_tools(tools: list[JSONObject] | None) -> list[JSONObject]:
    out: list[JSONObject] = []
    for tool in tools or []:
        if tool.get("type") == "function":
            out.append({"type": "function", "name": tool.get("name"), "description": tool.get("description"),
                        "parameters": tool.get("parameters"), "strict": tool.get("strict", True)})
        else:
            out.append(tool)
    return out


def echo_text(text: TextParam | None) -> TextConfig:
    text = text or {}
    fmt = text.get("format") or {"type": "text"}
    if fmt.get("type") == "json_schema":  # every key the Response carries, as the hosted API echoes it
        fmt = {"type": "json_schema", "name": fmt.get("name"), "description": fmt.get("description"),
               "schema": fmt.get("schema"), "strict": fmt.get("strict") is True}
    return {"format": fmt, "verbosity": text.get("verbosity", "medium")}


def echo_cache_options(options: PromptCacheOptionsParam | None) -> PromptCacheOptionsConfig | None:
    """The prompt-caching options as applied: the API's defaults (`implicit`, `30m`) for what was not set."""
    if options is None:
        return None
    return {"mode": options.get("mode") or "implicit", "ttl": options.get("ttl") or "30m",
            "comparison_response_id": options.get("comparison_response_id")}


def echo_image(req: CreateResponse) -> ImageConfig | None:
    """`image` as a Response (and a CompactedResponse) carries it, the effective policy: `enabled` for
    `enabled`; `auto` starts `disabled` and becomes `enabled` once an image was compressed (engine/resolve/images.py)."""
    image = req.image
    if image is None:
        return None
    return {"context_compression": "enabled" if image.get("context_compression") == "enabled" else "disabled"}


def new_response(req: CreateResponse, *, response_id: str, created_at: int, model: str,
                 status: ResponseStatus = "in_progress", conversation_id: str | None = None) -> ResponseDict:
    reasoning = req.reasoning or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(req.background),
        "completed_at": None,
        "conversation": {"id": conversation_id} if conversation_id else None,
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "metadata": req.metadata or {},
        "model": model,
        "output": [],
        "parallel_tool_calls": req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        "presence_penalty": req.presence_penalty if req.presence_penalty is not None else 0.0,
        "frequency_penalty": req.frequency_penalty if req.frequency_penalty is not None else 0.0,
        "previous_response_id": req.previous_response_id,
        "prompt": req.prompt,
        "prompt_cache_key": req.prompt_cache_key,
        "prompt_cache_retention": req.prompt_cache_retention,
        "reasoning": echo_reasoning(reasoning),
        "safety_identifier": req.safety_identifier,
        "service_tier": req.service_tier or "default",
        "store": req.store if req.store is not None else True,
        "temperature": req.temperature if req.temperature is not None else 1.0,
        "text": echo_text(req.text),
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": echo_tools(req.tools),
        "top_logprobs": req.top_logprobs if req.top_logprobs is not None else 0,
        "top_p": req.top_p if req.top_p is not None else 1.0,
        "truncation": req.truncation or "disabled",
        "usage": None,
        "user": req.user,
        # The options of issue 19, each applied or passed on (or the request was a 400), echoed in the
        # shapes the SDK's Response types: a cyber program only when one was named (null: the default).
        "access_programs": {"cyber": programs["cyber"]} if (programs := req.access_programs or {}).get("cyber")
        else None,
        "image": echo_image(req),
        "input_transformations": None,
        "moderation": None,  # the moderation results, when the request asked for moderation (engine/intake/moderation.py)
        "prompt_cache_diagnostics": None,  # with comparison_response_id (engine/intake/prompt_cache.py)
        "prompt_cache_options": echo_cache_options(req.prompt_cache_options),
        "tool_usage": None,
    }


def echo_reasoning(reasoning: ReasoningParam) -> ReasoningConfig:
    """The reasoning configuration the response used: `context` and `mode` as effective (Respond renders
    every turn's reasoning back unless asked for `current_turn`; `auto` is therefore `all_turns`)."""
    out: ReasoningConfig = {"effort": reasoning.get("effort"),
                            "summary": reasoning.get("summary") or reasoning.get("generate_summary")}
    if reasoning.get("context") is not None:
        out["context"] = "current_turn" if reasoning["context"] == "current_turn" else "all_turns"
    if (mode := reasoning.get("mode")) is not None:
        out["mode"] = mode
    return out


def usage_object(input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0) -> UsageDict:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
