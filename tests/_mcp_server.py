"""A real MCP server for the tests: the `mcp` SDK's MCPServer (FastMCP), served by uvicorn on 127.0.0.1.

One server process-wide, on two ports: streamable HTTP at `/mcp` and HTTP+SSE at `/sse`.  Tools:
`add` (read-only), `echo`, `slow` (sleeps), `fail` (raises).  `calls` records each call made,
`requests` each HTTP request's method and path, `open_streams` the SSE sessions open, `headers` the secret headers (`x-secret`, `authorization`) each HTTP request carried.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(calls: list[tuple[str, dict[str, Any]]]) -> MCPServer:
    server = MCPServer("respond-test", instructions="A test server.")

    @server.tool(description="Add two integers.", annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> str:
        calls.append(("add", {"a": a, "b": b}))
        return str(a + b)

    @server.tool(description="Echo a text back.")
    def echo(text: str) -> str:
        calls.append(("echo", {"text": text}))
        return f"echo: {text}"

    @server.tool(description="Wait some seconds, then answer.")
    async def slow(seconds: float) -> str:
        calls.append(("slow", {"seconds": seconds}))
        await asyncio.sleep(seconds)
        return "done waiting"

    @server.tool(description="Always fails.")
    def fail(reason: str) -> str:
        calls.append(("fail", {"reason": reason}))
        raise ToolError(f"the tool failed on purpose: {reason}")

    return server


class McpServers:
    """Both transports of one MCPServer, each on its own uvicorn in a daemon thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of each HTTP request
        self.open_streams = 0  # SSE sessions (GET /sse) currently open
        mcp = build(self.calls)
        self.http_port, self.sse_port = _free_port(), _free_port()
        self.http_url = f"http://127.0.0.1:{self.http_port}/mcp"
        self.sse_url = f"http://127.0.0.1:{self.sse_port}/sse"
        self._servers = [self._serve(self._record(mcp.streamable_http_app()), self.http_port),
                         self._serve(self._record(mcp.sse_app()), self.sse_port)]

    def _record(self, app: Any) -> Any:
        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.requests.append((scope["method"], scope["path"]))
                seen = {k.decode(): v.decode() for k, v in scope["headers"] if k in (b"x-secret", b"authorization")}
                self.headers.append(seen)
            if scope["type"] == "http" and scope["path"] == "/sse":
                self.open_streams += 1
                try:
                    await app(scope, receive, send)
                finally:
                    self.open_streams -= 1
                return
            await app(scope, receive, send)

        return recording

    def _serve(self, app: Any, port: int) -> uvicorn.Server:
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, f"the MCP test server did not start on port {port}"
        return server

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
