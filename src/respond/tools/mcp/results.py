"""MCP SDK results as Responses API shapes: listed tools, and a call's output or error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypedDict

import orjson

from respond.protocol.shapes import JSONObject

if TYPE_CHECKING:  # the SDK's types are imported with the SDK, by the first MCP session
    from mcp_types import CallToolResult, ListToolsResult


class ListedTool(TypedDict):
    """One of `mcp_list_tools.tools`."""

    name: str
    description: str | None
    input_schema: JSONObject
    annotations: JSONObject | None  # the server's hints (readOnlyHint: allowed_tools' read_only reads it)


class CallError(TypedDict):
    """An `mcp_call.error` for a failure of the protocol or of HTTP (the server's or Respond's)."""

    type: Literal["mcp_protocol_error", "http_error"]
    code: int
    message: str


class ToolError(TypedDict):
    """An `mcp_call.error` for a tool that reported an error: what it said."""

    type: Literal["mcp_tool_execution_error"]
    content: list[JSONObject]


def listed_tools(result: ListToolsResult) -> list[ListedTool]:
    """`mcp_list_tools.tools`: name, description, input_schema, annotations."""
    out: list[ListedTool] = []
    for tool in result.tools:
        ann = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
        out.append({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema,
                    "annotations": ann or None})
    return out


def stored_tools(raw: Any) -> list[ListedTool]:
    """The tools of a listing the chain already holds (a client may have sent it back as input:
    each entry is checked, and one without a name is left out)."""
    out: list[ListedTool] = []
    for tool in raw if isinstance(raw, list) else []:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        about, schema, hints = tool.get("description"), tool.get("input_schema"), tool.get("annotations")
        out.append({"name": tool["name"], "description": about if isinstance(about, str) else None,
                    "input_schema": schema if isinstance(schema, dict) else {"type": "object", "properties": {}},
                    "annotations": hints if isinstance(hints, dict) else None})
    return out


def _block(block: Any) -> JSONObject:
    dumped: JSONObject = block.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


def call_result(result: CallToolResult) -> tuple[str | None, ToolError | None]:
    """(output, None) for a result; (None, mcp_tool_execution_error) when the tool reported an error."""
    if result.is_error:
        return None, {"type": "mcp_tool_execution_error", "content": [_block(b) for b in result.content]}
    from mcp_types import TextContent

    texts = [b.text for b in result.content if isinstance(b, TextContent)]
    others = [_block(b) for b in result.content if not isinstance(b, TextContent)]
    if not texts and result.structured_content is not None:
        return orjson.dumps(result.structured_content).decode(), None
    parts = texts + [orjson.dumps(o).decode() for o in others]
    return "\n".join(parts), None
