"""`tools[i]` of type `mcp`: validated into a `ServerConfig`, every error a 400 naming `tools[i].field`.

Fields (as the API documents them): `server_label` (required), `server_url` (required: Respond
has no connectors), `headers`, `authorization` (sent as `Authorization: Bearer ...`),
`server_description`, `allowed_tools` (a list of names, or a filter `{tool_names, read_only}`),
`require_approval` (`"always"` (the default, as OpenAI), `"never"`, or `{always: filter, never:
filter}`; a tool matched by neither needs approval).  `connector_id`, `tunnel_id`, `defer_loading`
and programmatic callers are refused by name rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from respond.protocol.errors import invalid
from respond.protocol.shapes import JSON, JSONObject

KNOWN = {"type", "server_label", "server_url", "headers", "authorization", "server_description", "allowed_tools",
         "require_approval", "connector_id", "tunnel_id", "defer_loading", "allowed_callers"}
SECRET_KEYS = ("headers", "authorization")
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ToolFilter:
    """Matches a tool by name (`tool_names`) and/or by its readOnlyHint annotation (`read_only`)."""

    names: frozenset[str] | None = None
    read_only: bool | None = None

    def matches(self, name: str, annotations: JSONObject | None) -> bool:
        if self.names is None and self.read_only is None:
            return False
        if self.names is not None and name not in self.names:
            return False
        ro = bool((annotations or {}).get("readOnlyHint"))
        return self.read_only is None or ro == self.read_only


@dataclass(slots=True)
class ServerConfig:
    index: int
    label: str
    url: str
    description: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    allowed: ToolFilter | None = None  # None: every tool
    approval: str = "always"  # "always" | "never" | "filter"
    always: ToolFilter = field(default_factory=ToolFilter)
    never: ToolFilter = field(default_factory=ToolFilter)

    def allows(self, name: str, annotations: JSONObject | None) -> bool:
        return self.allowed is None or self.allowed.matches(name, annotations)

    def needs_approval(self, name: str, annotations: JSONObject | None) -> bool:
        if self.approval != "filter":
            return self.approval == "always"
        if self.always.matches(name, annotations):
            return True
        return not self.never.matches(name, annotations)


def _names(value: JSON) -> frozenset[str] | None:
    """An array of strings as a set; None for anything else."""
    if not isinstance(value, list):
        return None
    names = [n for n in value if isinstance(n, str)]
    return frozenset(names) if len(names) == len(value) else None


def _filter(value: JSON, param: str, *, names_only_list: bool = False) -> ToolFilter:
    if isinstance(value, list) and names_only_list:
        listed = _names(value)
        if listed is None:
            raise invalid(f"Invalid type for '{param}': expected an array of tool names.", param, "invalid_type")
        return ToolFilter(listed)
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for '{param}': expected an object with 'tool_names' and/or 'read_only'.",
                      param, "invalid_type")
    for key in value:
        if key not in ("tool_names", "read_only"):
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    names = value.get("tool_names")
    if names is not None and _names(names) is None:
        raise invalid(f"Invalid type for '{param}.tool_names': expected an array of strings.",
                      f"{param}.tool_names", "invalid_type")
    ro = value.get("read_only")
    if ro is not None and not isinstance(ro, bool):
        raise invalid(f"Invalid type for '{param}.read_only': expected a boolean.", f"{param}.read_only",
                      "invalid_type")
    return ToolFilter(_names(names), ro)


def _string(raw: JSONObject, key: str, param: str, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise invalid(f"Missing required parameter: '{param}.{key}'.", f"{param}.{key}",
                          "missing_required_parameter")
        return None
    if not isinstance(value, str) or (required and not value):
        raise invalid(f"Invalid type for '{param}.{key}': expected a non-empty string.", f"{param}.{key}",
                      "invalid_type")
    return value


def _refuse_unsupported(raw: JSONObject, param: str) -> None:
    for key in raw:
        if key not in KNOWN:
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    if raw.get("connector_id") is not None:
        raise invalid("Connectors are not supported by this server; give a 'server_url' instead.",
                      f"{param}.connector_id", "unsupported_parameter")
    if raw.get("tunnel_id") is not None:
        raise invalid("MCP tunnels are not supported by this server.", f"{param}.tunnel_id", "unsupported_parameter")
    if raw.get("defer_loading"):
        raise invalid("Deferred loading of MCP tools is not supported by this server.", f"{param}.defer_loading",
                      "unsupported_parameter")
    callers = raw.get("allowed_callers")
    if callers is not None and callers != ["direct"]:
        raise invalid("Only direct calls of MCP tools are supported by this server.", f"{param}.allowed_callers",
                      "unsupported_parameter")


def parse(index: int, raw: JSONObject, secrets: JSONObject | None = None) -> ServerConfig:
    """Validate `tools[index]`; `secrets` are its headers/authorization kept aside for a background run."""
    param = f"tools[{index}]"
    _refuse_unsupported(raw, param)
    raw = {**raw, **(secrets or {})}
    label = _string(raw, "server_label", param, required=True) or ""
    if not LABEL.match(label):
        raise invalid(f"Invalid '{param}.server_label': use a letter followed by letters, digits, '_' or '-' "
                      "(at most 64 characters).", f"{param}.server_label", "invalid_value")
    url = _string(raw, "server_url", param, required=True) or ""
    cfg = ServerConfig(index, label, url, _string(raw, "server_description", param))
    headers = raw.get("headers")
    if headers is not None:
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise invalid(f"Invalid type for '{param}.headers': expected an object of strings.", f"{param}.headers",
                          "invalid_type")
        cfg.headers = {k: v for k, v in headers.items() if isinstance(v, str)}
    token = _string(raw, "authorization", param)
    if token:
        cfg.headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
    allowed = raw.get("allowed_tools")
    if allowed is not None:
        cfg.allowed = _filter(allowed, f"{param}.allowed_tools", names_only_list=True)
    _approval(cfg, raw.get("require_approval"), f"{param}.require_approval")
    return cfg


def _approval(cfg: ServerConfig, value: JSON, param: str) -> None:
    if value is None or value == "always" or value == "never":
        cfg.approval = value or "always"
        return
    if not isinstance(value, dict):
        raise invalid(f"Invalid value for '{param}': expected 'always', 'never' or an object with 'always' "
                      "and/or 'never' filters.", param, "invalid_value")
    for key in value:
        if key not in ("always", "never"):
            raise invalid(f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}", "unknown_parameter")
    cfg.approval = "filter"
    always, never = value.get("always"), value.get("never")
    if always is not None:
        cfg.always = _filter(always, f"{param}.always")
    if never is not None:
        cfg.never = _filter(never, f"{param}.never")


def echo(raw: JSONObject) -> JSONObject:
    """The config as stored and echoed: no headers, no authorization (as OpenAI)."""
    return {k: v for k, v in raw.items() if k not in SECRET_KEYS}


def secrets(raw: JSONObject) -> JSONObject:
    return {k: v for k in SECRET_KEYS if (v := raw.get(k)) is not None}
