"""A finished call -> its output item, and a custom tool's input decoded while its arguments stream.

`Offer` says what an offered function is (a function, a custom tool, or a built-in client tool:
local_shell, shell, apply_patch, computer); `call_item` builds the call's item from the model's JSON
arguments (a typed item of protocol.shapes); `InputStream` decodes `{"input": "..."}` as it arrives,
so a custom tool's input streams as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from respond.core.arguments import arguments_object
from respond.protocol.ids import new_id
from respond.protocol.shapes import CallItem, CustomToolCallItem, FunctionCallItem, JSONObject, Status
from respond.protocol.shapes.items import LocalShellAction, PatchOperation, ShellAction


@dataclass(frozen=True, slots=True)
class Offer:
    """A function the model was offered and what its calls are."""

    kind: str  # function | custom | local_shell | shell | apply_patch | computer
    name: str  # the tool's own name (within its namespace)
    namespace: str | None = None
    grammar: JSONObject | None = None  # a custom tool's `format` when it is a grammar



def _args(arguments: str) -> JSONObject:
    return arguments_object(arguments) or {}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def call_item(offer: Offer, call_id: str, arguments: str, status: Status) -> CallItem:
    """The item of a finished call: its fields parsed from the call's JSON arguments, by what the tool is."""
    args = _args(arguments)
    kind = offer.kind
    if kind in ("function", "custom"):
        return _named_call(offer, call_id, arguments, args, status)
    if kind == "local_shell":
        action: LocalShellAction = {"type": "exec", "command": _strings(args.get("command")), "env": _env(args)}
        directory, user, timeout = args.get("working_directory"), args.get("user"), args.get("timeout_ms")
        if isinstance(directory, str):
            action["working_directory"] = directory
        if isinstance(user, str):
            action["user"] = user
        if isinstance(timeout, int):
            action["timeout_ms"] = timeout
        return {"id": new_id("lsc"), "type": "local_shell_call", "call_id": call_id, "status": status,
                "action": action}
    if kind == "shell":
        shell: ShellAction = {"commands": _strings(args.get("commands") or args.get("command"))}
        timeout, longest = args.get("timeout_ms"), args.get("max_output_length")
        if isinstance(timeout, int):
            shell["timeout_ms"] = timeout
        if isinstance(longest, int):
            shell["max_output_length"] = longest
        return {"id": new_id("sh"), "type": "shell_call", "call_id": call_id, "status": status, "action": shell}
    if kind == "apply_patch":
        raw = args.get("operation")
        op = raw if isinstance(raw, dict) else args
        op_type = op.get("type") if op.get("type") in ("create_file", "update_file", "delete_file") else "update_file"
        operation: PatchOperation = {"type": cast(Any, op_type), "path": str(op.get("path") or "")}
        if operation["type"] != "delete_file":
            operation["diff"] = str(op.get("diff") or "")
        return {"id": new_id("apc"), "type": "apply_patch_call", "call_id": call_id, "status": status,
                "operation": operation}
    shown = args.get("action")  # computer
    action_obj: JSONObject = shown if isinstance(shown, dict) else args
    return {"id": new_id("cu"), "type": "computer_call", "call_id": call_id, "status": status,
            "action": action_obj or {"type": "screenshot"}, "pending_safety_checks": []}


def _named_call(offer: Offer, call_id: str, arguments: str, args: JSONObject,
                status: Status) -> FunctionCallItem | CustomToolCallItem:
    item: FunctionCallItem | CustomToolCallItem
    if offer.kind == "function":
        item = {"id": new_id("fc"), "type": "function_call", "call_id": call_id, "status": status,
                "name": offer.name, "arguments": arguments}
    else:
        given = args.get("input")
        text = given if isinstance(given, str) else (arguments if not args else "")
        item = {"id": new_id("ctc"), "type": "custom_tool_call", "call_id": call_id, "status": status,
                "name": offer.name, "input": text}
    if offer.namespace is not None:
        item["namespace"] = offer.namespace
    return item


def _env(args: JSONObject) -> dict[str, str]:
    env = args.get("env")
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_OPENING = re.compile(r'\s*\{\s*"input"\s*:\s*"')


def _unicode_escape(raw: str, i: int) -> tuple[int, int]:
    """The code point of the `\\uXXXX` escape at `raw[i]` (a surrogate pair joined) and the
    characters it took; (0, 0) while it is incomplete."""
    try:
        code = int(raw[i + 2:i + 6], 16) if i + 6 <= len(raw) else -1
        if code < 0:
            return 0, 0
        if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half follows as another escape
            if i + 12 > len(raw):
                return 0, 0
            low = int(raw[i + 8:i + 12], 16)
            return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), 12
        return code, 6
    except ValueError:
        return ord("?"), 6


class InputStream:
    """The text of a custom tool's `input` while its JSON arguments (`{"input": "..."}`) stream in:
    `feed` returns what was decoded since the last call (complete escapes only)."""

    def __init__(self) -> None:
        self.raw = ""
        self.start = -1  # where the string's characters begin in `raw`
        self.pos = 0  # how far they were decoded
        self.text = ""
        self.closed = False

    def feed(self, piece: str) -> str:
        self.raw += piece
        if self.start < 0:
            match = _OPENING.match(self.raw)
            if match is None:
                return ""
            self.start = self.pos = match.end()
        out = []
        raw, i = self.raw, self.pos
        while i < len(raw) and not self.closed:
            c = raw[i]
            if c == '"':
                self.closed = True
            elif c != "\\":
                out.append(c)
            elif i + 1 >= len(raw):
                break
            elif raw[i + 1] == "u":
                code, used = _unicode_escape(raw, i)
                if used == 0:
                    break
                out.append(chr(code))
                i += used - 1
            else:
                out.append(_ESCAPES.get(raw[i + 1], raw[i + 1]))
                i += 1
            i += 1
        self.pos = i
        new = "".join(out)
        self.text += new
        return new
