"""MCP SDK results as Responses API shapes: listed tools, and a call's output or error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # the SDK's types are imported with the SDK, by the first MCP session
    from mcp_types import CallToolResult, ListToolsResult

Item = dict[str, Any]


def listed_tools(result: ListToolsResult) -> list[Item]:
    """`mcp_list_tools.tools`: name, description, input_schema, annotations."""
    out = []
    for tool in result.tools:
        ann = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
        out.append({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema,
                    "annotations": ann or None})
    return out


def _block(block: Any) -> Any:
    return block.model_dump(by_alias=True, exclude_none=True, mode="json")


def call_result(result: CallToolResult) -> tuple[str | None, dict[str, Any] | None]:
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
