"""`tool_choice`: which of the offered tools the model may call, and whether it must call one.

Every form of SURFACE.md §3 is read here: `none|auto|required`; a function, custom tool or
built-in tool type named by `{type, name?}` (forced: the model must call exactly that one); and
`{type: allowed_tools, mode, tools}`, which shrinks what the model is offered (so it cannot call
what the caller excluded).  A choice naming a tool that is not in `tools` is a 400.  A hosted tool
whose wire declares a `choice_key` is named by it too (`{type, <key>: ...}` picks its tools[]
entries with that value); the hosted loop then forces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from respond.engine.intake.client_tools import ClientTools
from respond.protocol.errors import invalid
from respond.protocol.shapes import JSON, JSONObject

BUILTIN_CHOICES = {"shell": ("shell", "local_shell"), "apply_patch": ("apply_patch",),
                   "local_shell": ("local_shell",),
                   "computer_use_preview": ("computer_use_preview", "computer"),
                   "computer": ("computer", "computer_use_preview"),
                   "computer_use": ("computer", "computer_use_preview")}


@dataclass(slots=True)
class Choice:
    mode: str  # none | auto | required
    forced: str | None = None  # the offered function the model must call
    hosted: list[JSONObject] | None = None  # the request's tools hosted tools may use (after allowed_tools)


def _types(raw_tools: list[JSONObject]) -> set[str]:
    return {kind for t in raw_tools if isinstance(kind := t.get("type"), str)}


def _absent(what: str, param: str) -> Exception:
    return invalid(f"Tool choice {what} is not one of the tools in 'tools'. Add it to 'tools' or choose "
                   "another tool.", param, "invalid_value")


def _named(tools: ClientTools, kind: str, name: JSON, param: str) -> str:
    """The offered function name of the function or custom tool `name`."""
    for offered, offer in tools.offers.items():
        if offer.kind == kind and name in (offer.name, offered):
            return offered
    raise _absent(f"'{name}' ({kind})", param)


def _builtin(tools: ClientTools, raw_types: set[str], kind: str, param: str) -> str | None:
    """The offered name for a built-in tool type; None for a hosted one present in tools."""
    for t in BUILTIN_CHOICES.get(kind, ()):
        if t in tools.by_type:
            return tools.by_type[t]
    if kind in tools.hosted.served and kind in raw_types:
        return None
    if kind in tools.hosted.unconfigured and kind in raw_types:
        raise invalid(f"Tool choice '{kind}' cannot be honoured: this server has {tools.hosted.unconfigured[kind]}.",
                      f"{param}.type", "invalid_value")
    raise _absent(f"'{kind}'", f"{param}.type")


def _allowed(choice: JSONObject, tools: ClientTools, raw_tools: list[JSONObject]) -> Choice:
    entries = choice.get("tools")
    if not isinstance(entries, list) or not entries:
        raise invalid("Missing required parameter: 'tool_choice.tools'.", "tool_choice.tools",
                      "missing_required_parameter")
    mode = choice.get("mode", "auto")
    if mode not in ("auto", "required"):
        raise invalid(f"Invalid value: '{mode}'. Supported values are: 'auto' and 'required'.",
                      "tool_choice.mode", "invalid_value")
    keep: set[str] = set()
    hosted: list[JSONObject] = []
    raw_types = _types(raw_tools)
    for j, entry in enumerate(entries):
        param = f"tool_choice.tools[{j}]"
        entry = entry if isinstance(entry, dict) else {}
        kind = entry.get("type")
        if isinstance(kind, str) and kind in ("function", "custom"):
            keep.add(_named(tools, kind, entry.get("name"), f"{param}.name"))
        elif isinstance(kind, str) and kind in tools.hosted.choice_keys:
            hosted.extend(_keyed(raw_tools, kind, tools.hosted.choice_keys[kind], entry, param))
        elif isinstance(kind, str) and kind in tools.hosted.unconfigured and kind in raw_types:
            continue  # allowed, but there is nothing to offer
        else:
            name = _builtin(tools, raw_types, str(kind), param)
            if name is None:
                hosted.extend(t for t in raw_tools if t.get("type") == kind)
            else:
                keep.add(name)
    tools.specs = [s for s in tools.specs if s.name in keep]
    tools.offers = {k: v for k, v in tools.offers.items() if k in keep}
    return Choice(mode, None, hosted)


def _keyed(raw_tools: list[JSONObject], kind: str, key: str, choice: JSONObject,
           param: str) -> list[JSONObject]:
    """The tools[] entries of a hosted `kind` that `choice` names by its `key` (a 400 when none)."""
    value = choice.get(key)
    found = [t for t in raw_tools if t.get("type") == kind and t.get(key) == value]
    if not found:
        raise _absent(f"{kind} '{value}'", f"{param}.{key}")
    return found


def read_choice(choice: str | JSONObject | None, tools: ClientTools,
                raw_tools: list[JSONObject] | None) -> Choice:
    """`tools` as `client_tools` read them (with the server's hosted types) narrowed by `choice`."""
    raw = [t for t in raw_tools or [] if isinstance(t, dict)]
    hosted_present = bool(_types(raw) & tools.hosted.served)
    if choice is None:
        return Choice("auto", None, raw)
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto' and 'required'.",
                          "tool_choice", "invalid_value")
        if choice == "required" and not tools.specs and not hosted_present:
            raise invalid("Tool choice 'required' needs at least one tool in 'tools'.", "tool_choice",
                          "invalid_value")
        return Choice(choice, None, raw)
    if not isinstance(choice, dict):
        raise invalid("Invalid type for 'tool_choice': expected a string or an object.", "tool_choice",
                      "invalid_type")
    kind = choice.get("type")
    if isinstance(kind, str) and kind in ("function", "custom"):
        return Choice("required", _named(tools, kind, choice.get("name"), "tool_choice.name"), raw)
    if kind == "allowed_tools":
        return _allowed(choice, tools, raw)
    if isinstance(kind, str) and kind in tools.hosted.choice_keys:
        _keyed(raw, kind, tools.hosted.choice_keys[kind], choice, "tool_choice")
        return Choice("auto", None, raw)  # the hosted tool forces itself
    if not isinstance(kind, str):
        raise invalid("Missing required parameter: 'tool_choice.type'.", "tool_choice.type",
                      "missing_required_parameter")
    forced = _builtin(tools, _types(raw), kind, "tool_choice")
    return Choice("auto", None, raw) if forced is None else Choice("required", forced, raw)
