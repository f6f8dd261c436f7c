"""The hosted `mcp` tool: remote MCP servers (streamable HTTP or HTTP+SSE) on the official `mcp` SDK.

config.py validates `tools[i]`; client.py holds one SDK session per server per response; tool.py
is the port's `HostedTool` and per-request `Binding`; items.py and results.py shape the items.
"""

from respond.tools.mcp.tool import KIND, McpTool, mcp_tool

__all__ = ["KIND", "McpTool", "mcp_tool"]
