"""Client-run tools: what the model is offered for each tool type, and the item a call becomes.

The client runs these tools; Respond only offers them to the model and returns the model's calls
as their own item types.  Each is offered as a function (`ToolSpec`), which a chat-completions
upstream calls like any function and the embedded model calls through its tool grammar:

| tool type                          | offered as function        | a call becomes                      |
|------------------------------------|----------------------------|-------------------------------------|
| function                           | its name and parameters    | function_call                       |
| custom                             | its name, `{input: str}`   | custom_tool_call (`input`)          |
| namespace                          | each member under its name | function_call / custom_tool_call with `namespace` |
| local_shell                        | `local_shell`              | local_shell_call (`action.command`) |
| shell                              | `shell`                    | shell_call (`action.commands`)      |
| apply_patch                        | `apply_patch`              | apply_patch_call (`operation`)      |
| computer_use_preview / computer    | `computer`                 | computer_call (`action`)            |

Hosted tools' types (`HostedTypes`, from the server's vocabulary) are the hosted loop's; a hosted
tool the server has not configured but whose wire says so (one without its search provider, say)
is accepted and not offered (a warning in the log).  The way back
(an item in history -> a chat tool call) is `protocol.item_types.call_as_function`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from respond.core.arguments import arguments_object
from respond.core.types import ToolSpec
from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.shapes import CallItem, CustomToolCallItem, FunctionCallItem, JSONObject, Status
from respond.protocol.shapes.items import LocalShellAction, PatchOperation, ShellAction

log = logging.getLogger("respond.tools")

_STR: JSONObject = {"type": "string"}
_INT: JSONObject = {"type": "integer"}
BUILTIN = {
    "local_shell": ToolSpec("local_shell", {"type": "object", "properties": {
        "command": {"type": "array", "items": _STR, "description": "The command and its arguments (argv)."},
        "working_directory": _STR, "timeout_ms": _INT,
        "env": {"type": "object", "additionalProperties": _STR}}, "required": ["command"]},
        "Run a command on the user's machine; returns its output."),
    "shell": ToolSpec("shell", {"type": "object", "properties": {
        "commands": {"type": "array", "items": _STR, "description": "Shell commands to run, in order."},
        "timeout_ms": _INT, "max_output_length": _INT}, "required": ["commands"]},
        "Run shell commands on the user's machine; returns their stdout, stderr and exit codes."),
    "apply_patch": ToolSpec("apply_patch", {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["create_file", "update_file", "delete_file"]},
        "path": {"type": "string", "description": "The file's path."},
        "diff": {"type": "string", "description": "For create_file and update_file: the V4A diff."}},
        "required": ["type", "path"]},
        "Create, update or delete a file in the user's workspace with a V4A diff."),
    "computer": ToolSpec("computer", {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["click", "double_click", "drag", "keypress", "move", "screenshot",
                                            "scroll", "type", "wait"]},
        "x": _INT, "y": _INT, "button": {"type": "string", "enum": ["left", "right", "wheel", "back", "forward"]},
        "text": _STR, "keys": {"type": "array", "items": _STR}, "scroll_x": _INT, "scroll_y": _INT,
        "path": {"type": "array", "items": {"type": "object", "properties": {"x": _INT, "y": _INT}}}},
        "required": ["type"]},
        "Act on the user's screen (click, type, scroll, ...); the next input is a screenshot."),
}
_TYPE_OF = {"computer_use_preview": "computer", "computer": "computer", "local_shell": "local_shell",
            "shell": "shell", "apply_patch": "apply_patch"}
CLIENT_TYPES = {"function", "custom", "namespace", *_TYPE_OF}


@dataclass(frozen=True, slots=True)
class HostedTypes:
    """The `tools[]` types hosted tools own, as a request's tools and tool_choice are read (built by
    engine/hosted.py's `HostedTools` from the server's vocabulary)."""

    served: frozenset[str] = frozenset()  # run by a configured tool (the hosted loop's)
    unconfigured: Mapping[str, str] = field(default_factory=dict)  # accepted, not offered: type -> why
    choice_keys: Mapping[str, str] = field(default_factory=dict)  # type -> the tool_choice field naming one

    def __contains__(self, kind: object) -> bool:
        return kind in self.served


@dataclass(frozen=True, slots=True)
class Offer:
    """A function the model was offered and what its calls are."""

    kind: str  # function | custom | local_shell | shell | apply_patch | computer
    name: str  # the tool's own name (within its namespace)
    namespace: str | None = None
    grammar: dict[str, Any] | None = None  # a custom tool's `format` when it is a grammar


@dataclass(slots=True)
class ClientTools:
    specs: list[ToolSpec] = field(default_factory=list)
    offers: dict[str, Offer] = field(default_factory=dict)  # offered function name -> what it is
    by_type: dict[str, str] = field(default_factory=dict)  # tool type (shell, ...) -> offered name
    hosted: HostedTypes = field(default_factory=HostedTypes)  # the hosted tools' types (tool_choice may name them)

    def add(self, spec: ToolSpec, offer: Offer, param: str) -> None:
        if spec.name in self.offers:
            raise invalid(f"Two tools are named '{spec.name}'; tool names must be unique.", param,
                          "duplicate_value")
        self.specs.append(spec)
        self.offers[spec.name] = offer

    def item(self, name: str, call_id: str | None, arguments: str, status: Status = "completed") -> CallItem:
        """The output item for a finished call of the offered function `name`."""
        return call_item(self.offers.get(name) or Offer("function", name), call_id or new_id("call"),
                         arguments, status)


def _function(raw: dict[str, Any], param: str) -> ToolSpec:
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    params = raw.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise invalid(f"Invalid type for '{param}.parameters': expected an object.", f"{param}.parameters",
                      "invalid_type")
    return ToolSpec(name=raw["name"], parameters=params, description=raw.get("description"),
                    strict=raw.get("strict"))


def _custom(raw: dict[str, Any], param: str) -> tuple[ToolSpec, dict[str, Any] | None]:
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    fmt = raw.get("format") or {"type": "text"}
    grammar = None
    about = "Free-form text input."
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "grammar"):
        raise invalid(f"Invalid value for '{param}.format': expected {{type: text}} or {{type: grammar}}.",
                      f"{param}.format", "invalid_value")
    if fmt["type"] == "grammar":
        if fmt.get("syntax") not in ("lark", "regex") or not isinstance(fmt.get("definition"), str):
            raise invalid(f"'{param}.format' needs 'syntax' (lark or regex) and a 'definition'.",
                          f"{param}.format.syntax", "invalid_value")
        grammar = fmt
        about = f"The input must match this {fmt['syntax']} grammar:\n{fmt['definition']}"
    prop: dict[str, Any] = {"type": "string", "description": about}
    if grammar is not None and grammar["syntax"] == "regex":
        prop["pattern"] = grammar["definition"]
    spec = ToolSpec(name=raw["name"], description=raw.get("description"), grammar=grammar, kind="custom",
                    parameters={"type": "object", "properties": {"input": prop}, "required": ["input"]})
    return spec, grammar


def _rename(spec: ToolSpec, name: str) -> ToolSpec:
    return ToolSpec(name=name, parameters=spec.parameters, description=spec.description, strict=spec.strict,
                    grammar=spec.grammar, kind=spec.kind)


def _namespace(tools: ClientTools, raw: dict[str, Any], param: str) -> None:
    ns = raw.get("name")
    if not isinstance(ns, str) or not ns:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    members = raw.get("tools")
    if not isinstance(members, list):
        raise invalid(f"Missing required parameter: '{param}.tools'.", f"{param}.tools", "missing_required_parameter")
    for j, member in enumerate(members):
        p = f"{param}.tools[{j}]"
        kind = member.get("type") if isinstance(member, dict) else None
        if kind == "function":
            spec, grammar = _function(member, p), None
        elif kind == "custom":
            spec, grammar = _custom(member, p)
        else:
            raise invalid(f"Invalid value: '{kind}'. A namespace holds 'function' and 'custom' tools.",
                          f"{p}.type", "invalid_value")
        offered = spec.name if spec.name not in tools.offers else f"{ns}__{spec.name}"
        tools.add(_rename(spec, offered), Offer(kind, spec.name, ns, grammar), p)


def client_tools(raw_tools: list[dict[str, Any]] | None, hosted: HostedTypes | None = None) -> ClientTools:
    """The functions offered for a request's `tools` (the hosted tools' types excluded)."""
    hosted = hosted or HostedTypes()
    tools = ClientTools(hosted=hosted)
    for i, raw in enumerate(raw_tools or []):
        param = f"tools[{i}]"
        if not isinstance(raw, dict) or "type" not in raw:
            raise invalid(f"Missing required parameter: '{param}.type'.", f"{param}.type",
                          "missing_required_parameter")
        kind = raw["type"]
        if kind == "function":
            spec = _function(raw, param)
            tools.add(spec, Offer("function", spec.name), param)
        elif kind == "custom":
            spec, grammar = _custom(raw, param)
            tools.add(spec, Offer("custom", spec.name, grammar=grammar), param)
        elif kind == "namespace":
            _namespace(tools, raw, param)
        elif kind in _TYPE_OF:
            builtin = _TYPE_OF[kind]
            tools.add(BUILTIN[builtin], Offer(builtin, builtin), param)
            tools.by_type[kind] = builtin
        elif kind in hosted.served:
            continue  # the hosted loop's
        elif kind in hosted.unconfigured:
            _warn_unconfigured(kind, hosted.unconfigured[kind])
        else:
            supported = ", ".join(repr(t) for t in sorted({*CLIENT_TYPES, *hosted.served, *hosted.unconfigured}))
            raise invalid(f"Invalid value: '{kind}'. Supported values are: {supported}.", f"{param}.type",
                          "invalid_value")
    return tools


_warned: set[str] = set()


def _warn_unconfigured(kind: str, why: str) -> None:
    """Once per process at warning level (agent clients send it on every request), then debug."""
    level = logging.DEBUG if kind in _warned else logging.WARNING
    _warned.add(kind)
    log.log(level, "%s has %s on this server; the tool is accepted and not offered to the model", kind, why)


# -- a finished call -> its item -----------------------------------------------------------------

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
