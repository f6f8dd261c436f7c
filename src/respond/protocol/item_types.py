"""The core API's item types in one table: fields, status, id prefix, what it is to the model.

`ITEM_TYPES` knows every item type of the core API (SURFACE.md §4, input and output); hosted tools
declare theirs (`protocol.vocabulary.Wire`) and a server's `Vocabulary` holds both.  An
`ItemType` says which fields a client must send, the `status` it gets when listed back (the SDK's
`ResponseItem` types require one on most items), the prefix of the ids Respond gives it, and its
`context` role, which `engine.generation.items_to_messages` dispatches on:

- ``message``: a chat message;
- ``call``: a call the model made (a function, or a client-run tool: custom, shell, ...), an
  assistant `tool_calls` entry: `call_as_function` gives its (call_id, name, arguments);
- ``output``: what the client ran for a call, a `tool` message: `output_text` gives its text;
- ``hosted``: a server-run tool's item (declared by its hosted tool): the hosted tool that
  made it says what the model sees (a hook in the engine);
- ``reasoning`` and ``compaction``: their own rules in the engine.

A type absent from the table, or marked ``reject``, is answered with a 400 that names it: nothing
a client sends is stored and then silently ignored.  No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from respond.protocol.errors import invalid
from respond.protocol.ids import new_id

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemType:
    type: str
    prefix: str
    context: str  # message | call | output | hosted | reasoning | compaction | reject
    required: tuple[str, ...] = ()
    status: str | None = "completed"  # the status given when none was sent; None: the type has none
    defaults: tuple[tuple[str, Any], ...] = ()  # fields the SDK's listed type requires, with their default
    call_id_key: str = "call_id"  # where an output names its call (local_shell_call_output: its id)


_TYPES = [
    ItemType("message", "msg", "message", ("role", "content")),
    ItemType("function_call", "fc", "call", ("call_id", "name", "arguments")),
    ItemType("function_call_output", "fco", "output", ("call_id", "output")),
    ItemType("custom_tool_call", "ctc", "call", ("call_id", "name", "input")),
    ItemType("custom_tool_call_output", "ctco", "output", ("call_id", "output")),
    ItemType("local_shell_call", "lsc", "call", ("call_id", "action")),
    ItemType("local_shell_call_output", "lsco", "output", ("id", "output"), call_id_key="id"),
    ItemType("shell_call", "sh", "call", ("call_id", "action")),
    ItemType("shell_call_output", "sho", "output", ("call_id", "output")),
    ItemType("apply_patch_call", "apc", "call", ("call_id", "operation")),
    ItemType("apply_patch_call_output", "apco", "output", ("call_id",)),
    ItemType("computer_call", "cu", "call", ("call_id",), defaults=(("pending_safety_checks", []),)),
    ItemType("computer_call_output", "cuo", "output", ("call_id", "output")),
    ItemType("image_generation_call", "ig", "hosted", ()),  # a hosted tool Respond does not have: kept as a note
    ItemType("reasoning", "rs", "reasoning", (), status=None),
    ItemType("compaction", "cmp", "compaction", ("encrypted_content",), status=None),
    # Items of features Respond does not have: a 400 naming them, never stored and ignored.
    ItemType("tool_search_call", "tsc", "reject"),
    ItemType("tool_search_output", "tso", "reject"),
    ItemType("additional_tools", "at", "reject"),
    ItemType("configuration_update", "cfg", "reject"),
    ItemType("compaction_trigger", "ct", "reject"),
    ItemType("program", "prg", "reject"),
    ItemType("program_output", "prgo", "reject"),
]
ITEM_TYPES: dict[str, ItemType] = {t.type: t for t in _TYPES}


def normalize_typed(spec: ItemType, raw: Item, param: str) -> Item:
    """A non-message item as stored and listed: required fields checked, id and status given."""
    for key in spec.required:
        if raw.get(key) is None:
            raise invalid(f"Missing required parameter: '{param}.{key}'.", f"{param}.{key}",
                          "missing_required_parameter")
    if spec.type == "computer_call" and not (raw.get("action") or raw.get("actions")):
        raise invalid(f"Missing required parameter: '{param}.action'.", f"{param}.action",
                      "missing_required_parameter")
    item: Item = {**raw, "id": raw.get("id") or new_id(spec.prefix)}  # `id: null` gets one too
    for key, default in spec.defaults:
        item.setdefault(key, default)
    if spec.status is not None and not item.get("status"):
        item["status"] = spec.status
    return item


# -- how calls and outputs read to a chat model -------------------------------------------------

def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def call_as_function(item: Item) -> tuple[str, str, str]:
    """(call_id, function name, JSON arguments) of a call item, as offered to a chat model
    (engine/intake/client_tools.py offers each client-run tool as the function named here)."""
    kind = item["type"]
    if kind == "function_call":
        return item["call_id"], item["name"], item.get("arguments") or "{}"
    if kind == "custom_tool_call":
        return item["call_id"], item["name"], _json({"input": item.get("input", "")})
    if kind == "local_shell_call":
        action = {k: v for k, v in (item.get("action") or {}).items() if k != "type" and v is not None}
        return item["call_id"], "local_shell", _json(action)
    if kind == "shell_call":
        action = {k: v for k, v in (item.get("action") or {}).items() if v is not None}
        return item["call_id"], "shell", _json(action)
    if kind == "apply_patch_call":
        return item["call_id"], "apply_patch", _json(item.get("operation") or {})
    if kind == "computer_call":
        action = item.get("action") or {"type": "batch", "actions": item.get("actions") or []}
        return item["call_id"], "computer", _json(action)
    raise ValueError(f"not a call item: {kind}")


def _parts_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return _json(output)


def _shell_text(chunks: Any) -> str:
    lines = []
    for chunk in chunks if isinstance(chunks, list) else []:
        outcome = chunk.get("outcome") or {}
        end = (f"exit code {outcome.get('exit_code')}" if outcome.get("type") == "exit"
               else "timed out" if outcome.get("type") == "timeout" else "")
        lines.append("\n".join(x for x in (chunk.get("stdout"), chunk.get("stderr") and
                                           f"stderr:\n{chunk['stderr']}", end and f"({end})") if x))
    return "\n\n".join(lines)


def output_text(item: Item) -> tuple[str, str]:
    """(call_id, text) of an output item, as the `tool` message a chat model reads."""
    kind = item["type"]
    call_id = item.get(ITEM_TYPES[kind].call_id_key) or ""
    if kind == "shell_call_output":
        return call_id, _shell_text(item.get("output"))
    if kind == "apply_patch_call_output":
        status = item.get("status", "completed")
        return call_id, f"{status}: {item['output']}" if item.get("output") else status
    if kind == "computer_call_output":
        return call_id, "Screenshot taken (attached in the next message)."
    return call_id, _parts_text(item.get("output", ""))


def output_images(item: Item) -> list[Item]:
    """Image parts an output carries (a computer screenshot, images in a custom tool's output)."""
    out = item.get("output")
    if item["type"] == "computer_call_output" and isinstance(out, dict):
        return [{"type": "input_image", "detail": "auto", **{k: v for k, v in out.items()
                                                             if k in ("image_url", "file_id")}}]
    if isinstance(out, list):
        return [p for p in out if isinstance(p, dict) and p.get("type") in ("input_image", "input_file")]
    return []
