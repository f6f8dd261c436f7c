"""MCP tool overhead: a tool call through Respond's session actor (tools/mcp/client.py) side by side
with the same call made directly on the `mcp` SDK's Client, for both transports; then whole
responses through `respond serve` (scripted upstream): plain, with an MCP listing + call, and with
the listing reused along a chain.

    .venv/bin/python bench/mcp_tool.py [--calls 50] [--responses 20]

Prints the median and p90 latency of `add(1, 2)` per transport, the time to open a session and
list the tools (what the first turn of a response pays), and the wall time per response.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp import Client  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from tests._mcp_server import McpServers  # noqa: E402

from respond.core.netpolicy import NetworkPolicy  # noqa: E402
from respond.tools.mcp.client import Connection  # noqa: E402


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"median {statistics.median(ms):7.2f} ms  p90 {ms[int(len(ms) * 0.9) - 1]:7.2f} ms"


async def direct(url: str, calls: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    transport = sse_client(url) if url.endswith("/sse") else url
    async with Client(transport, cache=None) as client:
        await client.list_tools()
        opened = time.perf_counter() - t0
        out = []
        for _ in range(calls):
            t = time.perf_counter()
            await client.call_tool("add", {"a": 1, "b": 2})
            out.append(time.perf_counter() - t)
    return opened, out


async def respond(url: str, calls: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    conn = Connection(url, {}, NetworkPolicy(["http://127.0.0.1:*"]), 30.0)
    await conn.request(lambda c: c.list_tools())
    opened = time.perf_counter() - t0
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        await conn.request(lambda c: c.call_tool("add", {"a": 1, "b": 2}))
        out.append(time.perf_counter() - t)
    await conn.close()
    return opened, out


def e2e(servers: McpServers, n: int) -> None:
    import tempfile

    from tests.conftest import Server, UpstreamThread

    up = UpstreamThread()
    tmp = Path(tempfile.mkdtemp())
    srv = Server(["--upstream", up.base_url, "--embedded", "off", "--mcp-allow", "http://127.0.0.1:*"],
                 f"sqlite:///{tmp / 'bench.db'}", tmp / "server.log").start()
    client = srv.client()
    tool = {"type": "mcp", "server_label": "demo", "server_url": servers.http_url, "require_approval": "never"}
    call = {"tool_calls": [{"name": "demo__add", "arguments": '{"a": 1, "b": 2}'}]}
    try:
        cases = {"plain response (reference)": ([], []), "MCP listing + call": ([tool], [call, {"content": "3"}])}
        first = client.responses.create(model="scripted", input="warm", tools=[tool])
        for name, (tools, replies) in cases.items():
            samples = []
            for _ in range(n):
                up.reply(*replies) if replies else None
                t = time.perf_counter()
                client.responses.create(model="scripted", input="1+2?", tools=tools)
                samples.append(time.perf_counter() - t)
            print(f"{name:42} {_stats(samples)}")
        samples = []
        for _ in range(n):
            up.reply(call, {"content": "3"})
            t = time.perf_counter()
            client.responses.create(model="scripted", input="1+2?", tools=[tool], previous_response_id=first.id)
            samples.append(time.perf_counter() - t)
        print(f"{'MCP call, listing reused along the chain':42} {_stats(samples)}")
    finally:
        srv.stop()
        up.stop()


async def main(calls: int) -> None:
    servers = McpServers()
    try:
        for name, url in (("streamable HTTP", servers.http_url), ("HTTP+SSE", servers.sse_url)):
            for label, fn in (("mcp SDK Client (reference)", direct), ("Respond Connection", respond)):
                await fn(url, 3)  # warm up
                opened, samples = await fn(url, calls)
                print(f"{name:16} {label:28} open+list {opened * 1000:7.1f} ms  call {_stats(samples)}")
    finally:
        servers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--responses", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.calls))
    mcp_servers = McpServers()
    try:
        e2e(mcp_servers, args.responses)
    finally:
        mcp_servers.stop()
