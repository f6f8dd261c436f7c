"""The `mcp_*` items at rest: chat context on later turns, replayed events, and their shapes."""

from __future__ import annotations

import re
from typing import Any

import orjson

from respond.core.hosted import Item
from respond.core.types import Message
from respond.protocol.ids import new_id
from respond.protocol.shapes import JSONObject

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def function_name(label: str, tool: str) -> str:
    """The function the model sees for `tool` of server `label` (chat function names: [A-Za-z0-9_-]{1,64})."""
    return _UNSAFE.sub("_", f"{label}__{tool}")[:64]


def list_item(label: str) -> Item:
    return {"id": new_id("mcpl"), "type": "mcp_list_tools", "server_label": label, "tools": [], "error": None}


def call_item(label: str, name: str, arguments: str, approval_request_id: str | None = None) -> Item:
    return {"id": new_id("mcp"), "type": "mcp_call", "status": "in_progress", "server_label": label, "name": name,
            "arguments": arguments, "output": None, "error": None, "approval_request_id": approval_request_id}


def approval_item(label: str, name: str, arguments: str) -> Item:
    return {"id": new_id("mcpr"), "type": "mcp_approval_request", "server_label": label, "name": name,
            "arguments": arguments}


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        if error.get("type") == "mcp_tool_execution_error":
            content = error.get("content")
            texts = [c.get("text", "") for c in content if isinstance(c, dict)] if isinstance(content, list) else []
            return "The tool failed: " + ("\n".join(t for t in texts if t) or orjson.dumps(content).decode())
        return f"The tool call failed: {error.get('message', error)}"
    return f"The tool call failed: {error}"


def messages(item: Item) -> list[Message]:
    """What a later turn's model is told of an earlier MCP call: a note (the next request may not
    offer the tool, and some upstreams reject orphan tool messages)."""
    if item.get("type") != "mcp_call":
        return []
    result = item.get("output") if item.get("error") is None else error_text(item.get("error"))
    return [{"role": "system", "content": f"Earlier, the MCP tool {item.get('name')} of server "
                                          f"{item.get('server_label')} was called with {item.get('arguments')} "
                                          f"and returned:\n{result}"}]


def replay(item: Item) -> list[tuple[str, JSONObject]]:
    kind = item.get("type")
    if kind == "mcp_list_tools":
        end = "failed" if item.get("error") else "completed"
        return [("response.mcp_list_tools.in_progress", {}), (f"response.mcp_list_tools.{end}", {})]
    if kind == "mcp_call":
        end = "failed" if item.get("error") is not None or item.get("status") == "failed" else "completed"
        args = item.get("arguments", "")
        return [("response.mcp_call.in_progress", {}), ("response.mcp_call_arguments.delta", {"delta": args}),
                ("response.mcp_call_arguments.done", {"arguments": args}), (f"response.mcp_call.{end}", {})]
    return []
