"""Time to first output of a web search through Respond, side by side with the raw SearxNG call.

Three processes on 127.0.0.1: the fake web (`python -m respond.testing.web`: a SearxNG JSON API
and a page), the scripted upstream (`python -m respond.testing.upstream`) and `respond serve
--upstream ... --embedded off --web-search-provider searxng --web-search-url ... --web-allow
http://127.0.0.1:*` (SQLite in a temporary directory).  For each round the upstream is told to
call `web_search` (or `web_open_page`) and then to answer; a streamed `POST /v1/responses` is
timed from the request to:

- `response.created` (the first byte),
- `response.web_search_call.in_progress` (the search's first output),
- `response.web_search_call.completed` (results in hand: the provider call, or the page fetch and
  its trafilatura extraction),
- the first `response.output_text.delta` (the model's answer after the search),

and, as the reference, the raw call the tool makes: `GET /search?q=...&format=json` on the fake
SearxNG (or `GET` of the page), with the same client (httpx, keep-alive), alternating.

Events that are ready together go out in one write (api/routes.py), so the client cannot time
the tool's own step; that is timed in process: a binding's `run()` of a search and of an
open_page (provider call or fetch + trafilatura extraction) against the same raw call made with
the same client library (aiohttp), alternating.

    .venv/bin/python bench/web_search.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import Proc, free_port  # noqa: E402

MARKS = ("response.created", "response.web_search_call.in_progress", "response.web_search_call.completed",
         "response.output_text.delta")


def start(tmp: Path) -> tuple[list[Proc], str, str, str]:
    web_port, up_port, port = free_port(), free_port(), free_port()
    py = sys.executable
    web = Proc("fake web", [py, "-m", "respond.testing.web", "--port", str(web_port)], tmp / "web.log")
    up = Proc("upstream", [py, "-m", "respond.testing.upstream", "--port", str(up_port), "--no-record"],
              tmp / "upstream.log")
    web.wait_ready(web_port, "/pages/garden")
    up.wait_ready(up_port, "/v1/models")
    web_url, up_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{up_port}/v1"
    srv = Proc("respond", [py, "-m", "respond", "serve", "--port", str(port), "--upstream", up_url,
                           "--embedded", "off", "--database", f"sqlite:///{tmp / 'r.db'}",
                           "--web-search-provider", "searxng", "--web-search-url", web_url,
                           "--web-allow", "http://127.0.0.1:*", "--log-level", "warning"], tmp / "respond.log")
    srv.wait_ready(port, "/health")
    return [srv, up, web], web_url, up_url, f"http://127.0.0.1:{port}/v1"


def through_respond(client: httpx.Client, up: httpx.Client, tool_call: dict[str, str]) -> dict[str, float]:
    up.post("/_control/replies", json={"replies": [{"tool_calls": [tool_call]}, {"content": "Twice a week [1]."}]})
    body = {"model": "scripted", "input": "How often to water tomatoes?", "tools": [{"type": "web_search"}],
            "stream": True}
    got: dict[str, float] = {}
    t0 = time.perf_counter()
    with client.stream("POST", "/responses", json=body) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                kind = json.loads(line[6:])["type"]
                if kind in MARKS and kind not in got:
                    got[kind] = (time.perf_counter() - t0) * 1000
    got["total"] = (time.perf_counter() - t0) * 1000
    return got


def raw(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    client.get(url, params=params).raise_for_status()
    return (time.perf_counter() - t0) * 1000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(title: str, reference: list[float], rows: dict[str, list[float]]) -> None:
    print(f"\n{title}\n\n| measured | p50 ms | p90 ms |\n|---|---|---|")
    print(f"| raw call (reference) | {statistics.median(reference):.2f} | {pct(reference, 0.9):.2f} |")
    for name, values in rows.items():
        print(f"| Respond: {name} | {statistics.median(values):.2f} | {pct(values, 0.9):.2f} |")


async def in_process(web_url: str, rounds: int) -> None:
    from respond.core.hosted import HostedCall, ToolContext
    from respond.core.netpolicy import NetworkPolicy
    from respond.tools.web_search.binding import WebSearchBinding
    from respond.tools.web_search.config import WebConfig
    from respond.tools.web_search.fetch import PageFetcher
    from respond.tools.web_search.providers import SearxngProvider

    provider, fetcher = SearxngProvider(web_url), PageFetcher(NetworkPolicy(["http://127.0.0.1:*"]))
    page = f"{web_url}/pages/garden"
    calls = {"search": (HostedCall("c", "web_search", '{"query": "tomato watering"}'),
                        f"{web_url}/search?q=tomato+watering&format=json"),
             "open_page": (HostedCall("c", "web_open_page", json.dumps({"url": page})), page)}
    async with aiohttp.ClientSession() as session:
        for name, (call, url) in calls.items():
            step: list[float] = []
            reference: list[float] = []
            for i in range(rounds + 3):
                binding = WebSearchBinding(provider, fetcher, WebConfig(), ToolContext("bench", frozenset(), None))
                t0 = time.perf_counter()
                async for _ in binding.run(call):
                    pass
                t1 = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                t2 = time.perf_counter()
                if i >= 3:
                    step.append((t1 - t0) * 1000)
                    reference.append((t2 - t1) * 1000)
            report(f"### {name}: the tool's step in process", reference, {"binding.run() done": step})
    await provider.close()
    await fetcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    print(f"Respond at {commit.stdout.strip()}, {args.rounds} rounds (after 3 warm-up rounds) per scenario")
    with tempfile.TemporaryDirectory() as tmp:
        procs, web_url, up_url, base = start(Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=30) as client, \
                    httpx.Client(base_url=up_url.removesuffix("/v1"), timeout=30) as up, \
                    httpx.Client(timeout=30) as direct:
                page = f"{web_url}/pages/garden"
                scenarios = [
                    ("search", {"name": "web_search", "arguments": '{"query": "tomato watering"}'},
                     lambda: raw(direct, f"{web_url}/search", {"q": "tomato watering", "format": "json"})),
                    ("open_page", {"name": "web_open_page", "arguments": json.dumps({"url": page})},
                     lambda: raw(direct, page)),
                ]
                for name, call, reference_call in scenarios:
                    for _ in range(3):
                        through_respond(client, up, call)
                        reference_call()
                    reference: list[float] = []
                    rows: dict[str, list[float]] = {f"request -> {m.removeprefix('response.')}": [] for m in MARKS}
                    rows["request -> total"] = []
                    for _ in range(args.rounds):
                        reference.append(reference_call())
                        for mark, ms in through_respond(client, up, call).items():
                            rows[f"request -> {mark.removeprefix('response.')}"].append(ms)
                    report(f"### {name}", reference, rows)
                asyncio.run(in_process(web_url, args.rounds))
        finally:
            for p in procs:
                p.stop()


if __name__ == "__main__":
    main()
