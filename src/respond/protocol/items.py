"""Input items: normalise what the client sent into the stored item shapes.

A string input becomes one user message; each item gets an id (kept when the client gave one)
and the shape the API lists under `input_items`: messages with `content` parts, function calls,
function call outputs; every other type by its `ItemType`, looked up in the server's vocabulary
(protocol/vocabulary.py: the core types and the hosted tools' own; a type it marks unsupported is a
400).  `item_reference`s are left for the engine to resolve from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.item_types import ItemType, normalize_typed
from respond.protocol.jsonvalue import JSONObject

Item = dict[str, Any]
TypeOf = Callable[[Any, str], ItemType]  # an item's type (`Vocabulary.item_type`), or a 400 naming `param`

ROLES = ("user", "assistant", "system", "developer")
INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
OUTPUT_PARTS = ("output_text", "refusal")
ID_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
# A stored reasoning item's private key: the state a /v1/responses upstream gave it ({"id",
# "encrypted_content"}), sent back to that upstream on later turns.  Never shown to a client (a
# client that keeps no state gets it inside Respond's own sealed `encrypted_content`), never taken
# from one (a client's reasoning item cannot inject state the upstream would trust).
UPSTREAM_STATE: Final = "_upstream"


def _content_parts(role: str, content: Any, param: str) -> list[JSONObject]:
    kind = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return [{"type": kind, "text": content, **({"annotations": []} if kind == "output_text" else {})}]
    if not isinstance(content, list):
        raise invalid(f"Invalid type for '{param}': expected a string or an array of content parts.",
                      param, "invalid_type")
    parts: list[JSONObject] = []
    allowed = OUTPUT_PARTS + INPUT_PARTS if role == "assistant" else INPUT_PARTS
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        if not isinstance(part, dict) or part.get("type") not in allowed:
            got = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise invalid(f"Invalid value: '{got}'. Supported values are: {', '.join(allowed)}.",
                          f"{p}.type", "invalid_value")
        kind_j = part["type"]
        if kind_j in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise invalid(f"Missing required parameter: '{p}.text'.", f"{p}.text", "missing_required_parameter")
        if kind_j == "input_image":
            if not part.get("image_url") and not part.get("file_id"):
                raise invalid(f"'{p}' needs an 'image_url' or a 'file_id'.", f"{p}.image_url",
                              "missing_required_parameter")
            part = {"detail": "auto", **part}
        if kind_j == "input_file" and not any(part.get(k) for k in ("file_id", "file_url", "file_data")):
            raise invalid(f"'{p}' needs a 'file_id', a 'file_url' or 'file_data'.", f"{p}.file_id",
                          "missing_required_parameter")
        if kind_j == "output_text":
            part = {"annotations": [], **part}
        if "prompt_cache_breakpoint" in part:
            _check_breakpoint(part, kind_j, f"{p}.prompt_cache_breakpoint")
        parts.append(part)
    return parts


BREAKPOINT_PARTS = ("input_text", "input_image", "input_file")  # where the SDK lets a part carry one


def _check_breakpoint(part: JSONObject, kind: str, param: str) -> None:
    """`prompt_cache_breakpoint`: {"mode": "explicit", "ttl"?: "30m"|"12h"} on an input part (passed on
    to the backend, which takes it or answers a 400 naming it)."""
    value = part["prompt_cache_breakpoint"]
    if value is None:
        return
    if kind not in BREAKPOINT_PARTS:
        raise invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    for key in value:
        if key not in ("mode", "ttl"):
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    if value.get("mode") != "explicit":
        raise invalid(f"Invalid value: '{value.get('mode')}'. Supported values are: 'explicit'.", f"{param}.mode",
                      "invalid_value")
    if value.get("ttl") not in (None, "30m", "12h"):
        raise invalid(f"Invalid value: '{value.get('ttl')}'. Supported values are: '30m' and '12h'.",
                      f"{param}.ttl", "invalid_value")


def normalize_item(raw: Any, index: int, item_type: TypeOf) -> Item:
    param = f"input[{index}]"
    if not isinstance(raw, dict):
        raise invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    kind = raw.get("type") or ("message" if "role" in raw else None)
    if kind == "message":
        role = raw.get("role")
        if role not in ROLES:
            raise invalid(f"Invalid value: '{role}'. Supported values are: {', '.join(ROLES)}.",
                          f"{param}.role", "invalid_value")
        if "content" not in raw:
            raise invalid(f"Missing required parameter: '{param}.content'.", f"{param}.content",
                          "missing_required_parameter")
        return {"id": raw.get("id") or new_id("msg"), "type": "message", "role": role,
                "content": _content_parts(role, raw["content"], f"{param}.content"),
                "status": raw.get("status") or "completed"}
    if kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if not isinstance(raw.get(key), str):
                raise invalid(f"Missing required parameter: '{param}.{key}'.", f"{param}.{key}",
                              "missing_required_parameter")
        return {"id": raw.get("id") or new_id("fc"), "type": "function_call", "call_id": raw["call_id"],
                "name": raw["name"], "arguments": raw["arguments"], "status": raw.get("status") or "completed",
                **({"namespace": raw["namespace"]} if isinstance(raw.get("namespace"), str) else {})}
    if kind == "function_call_output":
        if not isinstance(raw.get("call_id"), str):
            raise invalid(f"Missing required parameter: '{param}.call_id'.", f"{param}.call_id",
                          "missing_required_parameter")
        output = raw.get("output")
        if not isinstance(output, str | list):
            raise invalid(f"Invalid type for '{param}.output': expected a string or an array of content parts.",
                          f"{param}.output", "invalid_type")
        return {"id": raw.get("id") or new_id("fco"), "type": "function_call_output", "call_id": raw["call_id"],
                "output": output, "status": raw.get("status") or "completed"}
    if kind == "item_reference":
        if not isinstance(raw.get("id"), str):
            raise invalid(f"Missing required parameter: '{param}.id'.", f"{param}.id", "missing_required_parameter")
        return {"type": "item_reference", "id": raw["id"]}
    if kind == "reasoning" and UPSTREAM_STATE in raw:
        raw = {k: v for k, v in raw.items() if k != UPSTREAM_STATE}
    return normalize_typed(item_type(kind, param), raw, param)


def strip_core(item: Item, include: set[str] | frozenset[str]) -> Item:
    """Hide what the client did not ask to include, for the core item types (image URLs in inputs,
    logprobs, reasoning state); `Vocabulary.strip` asks the hosted tools for theirs."""
    kind = item.get("type")
    if kind == "message":  # input images' URLs, and output text's logprobs (each its own include)
        hidden_image = "message.input_image.image_url" not in include
        hidden_logprobs = item.get("role") == "assistant" and "message.output_text.logprobs" not in include
        parts = item.get("content")
        if isinstance(parts, list) and any(_hides(p, hidden_image, hidden_logprobs) for p in parts):
            item = {**item, "content": [{k: v for k, v in p.items() if k not in _hides(p, hidden_image, hidden_logprobs)}
                                        for p in parts]}
    elif kind == "computer_call_output" and "computer_call_output.output.image_url" not in include:
        out = item.get("output")
        if isinstance(out, dict) and "image_url" in out:
            item = {**item, "output": {k: v for k, v in out.items() if k != "image_url"}}
    elif kind == "reasoning" and (UPSTREAM_STATE in item or (
            "encrypted_content" in item and "reasoning.encrypted_content" not in include)):
        hidden = (UPSTREAM_STATE,) if "reasoning.encrypted_content" in include else (UPSTREAM_STATE, "encrypted_content")
        item = {k: v for k, v in item.items() if k not in hidden}
    return item


def _hides(part: Item, image: bool, logprobs: bool) -> tuple[str, ...]:
    """The keys of a message part that the include leaves out."""
    if image and part.get("type") == "input_image" and "image_url" in part:
        return ("image_url",)
    if logprobs and "logprobs" in part:
        return ("logprobs",)
    return ()
