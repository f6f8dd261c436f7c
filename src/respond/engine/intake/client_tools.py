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
is accepted and not offered (a warning in the log).  A finished call's item is built by
engine/tooling/call_items.py; the way back (an item in history -> a chat tool call) is
`protocol.item_types.call_as_function`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from respond.core.types import ToolSpec
from respond.engine.tooling.call_items import Offer, call_item
from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.shapes import CallItem, JSONObject, Status

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
    engine/tooling/hosted.py's `HostedTools` from the server's vocabulary)."""

    served: frozenset[str] = frozenset()  # run by a configured tool (the hosted loop's)
    unconfigured: Mapping[str, str] = field(default_factory=dict)  # accepted, not offered: type -> why
    choice_keys: Mapping[str, str] = field(default_factory=dict)  # type -> the tool_choice field naming one

    def __contains__(self, kind: object) -> bool:
        return kind in self.served


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


def _optional_str(raw: JSONObject, key: str, param: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Invalid type for '{param}.{key}': expected a string.", f"{param}.{key}", "invalid_type")
    return value


def _function(raw: JSONObject, param: str) -> ToolSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    params = raw.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise invalid(f"Invalid type for '{param}.parameters': expected an object.", f"{param}.parameters",
                      "invalid_type")
    strict = raw.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid(f"Invalid type for '{param}.strict': expected a boolean.", f"{param}.strict", "invalid_type")
    return ToolSpec(name=name, parameters=params, description=_optional_str(raw, "description", param),
                    strict=strict)


def _custom(raw: JSONObject, param: str) -> tuple[ToolSpec, JSONObject | None]:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    fmt = raw.get("format") or {"type": "text"}
    grammar = None
    about = "Free-form text input."
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "grammar"):
        raise invalid(f"Invalid value for '{param}.format': expected {{type: text}} or {{type: grammar}}.",
                      f"{param}.format", "invalid_value")
    if fmt["type"] == "grammar":
        syntax, definition = fmt.get("syntax"), fmt.get("definition")
        if syntax not in ("lark", "regex") or not isinstance(definition, str):
            raise invalid(f"'{param}.format' needs 'syntax' (lark or regex) and a 'definition'.",
                          f"{param}.format.syntax", "invalid_value")
        grammar = fmt
        about = f"The input must match this {syntax} grammar:\n{definition}"
    prop: JSONObject = {"type": "string", "description": about}
    if grammar is not None and grammar["syntax"] == "regex":
        prop["pattern"] = grammar["definition"]
    spec = ToolSpec(name=name, description=_optional_str(raw, "description", param), grammar=grammar,
                    kind="custom", parameters={"type": "object", "properties": {"input": prop}, "required": ["input"]})
    return spec, grammar


def _rename(spec: ToolSpec, name: str) -> ToolSpec:
    return ToolSpec(name=name, parameters=spec.parameters, description=spec.description, strict=spec.strict,
                    grammar=spec.grammar, kind=spec.kind)


def _namespace(tools: ClientTools, raw: JSONObject, param: str) -> None:
    ns = raw.get("name")
    if not isinstance(ns, str) or not ns:
        raise invalid(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    members = raw.get("tools")
    if not isinstance(members, list):
        raise invalid(f"Missing required parameter: '{param}.tools'.", f"{param}.tools", "missing_required_parameter")
    for j, member in enumerate(members):
        p = f"{param}.tools[{j}]"
        kind = member.get("type") if isinstance(member, dict) else None
        if not isinstance(member, dict) or kind not in ("function", "custom"):
            raise invalid(f"Invalid value: '{kind}'. A namespace holds 'function' and 'custom' tools.",
                          f"{p}.type", "invalid_value")
        spec, grammar = (_function(member, p), None) if kind == "function" else _custom(member, p)
        offered = spec.name if spec.name not in tools.offers else f"{ns}__{spec.name}"
        tools.add(_rename(spec, offered), Offer(spec.kind, spec.name, ns, grammar), p)


def client_tools(raw_tools: list[JSONObject] | None, hosted: HostedTypes | None = None) -> ClientTools:
    """The functions offered for a request's `tools` (the hosted tools' types excluded)."""
    hosted = hosted or HostedTypes()
    tools = ClientTools(hosted=hosted)
    for i, raw in enumerate(raw_tools or []):
        param = f"tools[{i}]"
        if not isinstance(raw, dict) or "type" not in raw:
            raise invalid(f"Missing required parameter: '{param}.type'.", f"{param}.type",
                          "missing_required_parameter")
        kind = str(raw["type"])  # (another JSON value is named as it is in the error below)
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
