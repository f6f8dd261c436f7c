"""Where the slow requests spend their time: a timeline per request at N concurrent clients.

    .venv/bin/python bench/timeline.py [--mode nonstream|stream] [--requests 3000] [--concurrency 64]
                                       [--src OTHER/src] [--keep DIR]

Starts the scripted upstream (bench/_peers_upstream.py) and `respond serve` (SQLite in a temporary
directory, this tree's `src` or --src) with bench/_timeline_trace.py loaded, drives it with
bench/peers.py's httpx load (one connection per client, each request tagged `x-trace`), stops it and
joins the client's and the server's timestamps (one monotonic clock for both processes).  Prints, for
the median requests, the 90-99th percentile and the slowest 1 %: the mean time of each phase (client
to parsed head, task start, to the upstream request, the upstream, to the store write, the group
commit, to the last byte, back to the client) and the mean number of suspensions of the request's task
in each; the await chains it suspended on; and the process's stalls (garbage collections, group
commits by size, WAL checkpoints, loop lags) with those that overlapped the slowest 1 %.  The phase
times swing with the machine's load; compare phases within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402

from _peers_load import body, create  # noqa: E402

PHASES = ["client->recv", "recv->app", "app->up_req", "upstream", "up->store", "store", "store->sent", "sent->client"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


async def _load(url: str, stream: bool, n: int, conc: int) -> list[tuple[int, float, float, str | None]]:
    cs = [httpx.AsyncClient(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), timeout=60,
                            headers={"authorization": "Bearer sk-bench"}) for _ in range(conc)]
    await asyncio.gather(*(create(c, url, body(f"warm {i}", stream)) for i, c in enumerate(cs + cs)))
    done: list[tuple[int, float, float, str | None]] = []
    todo = iter(range(n))

    async def worker(c: httpx.AsyncClient) -> None:
        for i in todo:
            c.headers["x-trace"] = str(i)
            t = time.monotonic()
            _rid, err = await create(c, url, body(f"Say hello #{i}", stream))
            done.append((i, t, time.monotonic(), err))

    await asyncio.gather(*(worker(c) for c in cs))
    await asyncio.gather(*(c.aclose() for c in cs))
    return done


def run(src: Path, stream: bool, n: int, conc: int, work: Path) -> tuple[list[Any], dict[str, Any]]:
    py, up, port = sys.executable, _port(), _port()
    env = dict(os.environ, PYTHONPATH=f"{src}:{HERE}", TIMELINE_OUT=str(work / "server.json"))
    upstream = subprocess.Popen([py, str(HERE / "_peers_upstream.py"), "--port", str(up)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    boot = (f"import sys; sys.path.insert(0, {str(src)!r}); import _timeline_trace; "
            "from respond.cli import main; sys.exit(main())")
    with open(work / "server.log", "w") as log:
        server = subprocess.Popen([py, "-c", boot, "serve", "--host", "127.0.0.1", "--port", str(port),
                                   "--database", f"sqlite+aiosqlite:///{work / 'respond.db'}",
                                   "--upstream", f"http://127.0.0.1:{up}/v1", "--upstream-api-key", "sk-up",
                                   "--api-key", "sk-bench"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port)
        _wait_port(up)
        done = asyncio.run(_load(f"http://127.0.0.1:{port}/v1/responses", stream, n, conc))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        upstream.terminate()
        upstream.wait()
    return done, orjson.loads((work / "server.json").read_bytes())


def phases(done: list[Any], server: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in server["requests"] if r.get("id") is not None}
    rows = []
    for i, start, end, err in done:
        r = by_id.get(i)
        if err or r is None or "sent" not in r or "up_end" not in r or not r.get("store"):
            continue
        written = [s for s in r["store"] if s[1] and s[1] <= r["sent"]] or r["store"][:1]
        marks = [("client->recv", start), ("recv->app", r["recv"]), ("app->up_req", r["app"]),
                 ("upstream", r["up_req"]), ("up->store", r["up_end"]), ("store", written[0][0]),
                 ("store->sent", written[-1][1]), ("sent->client", r["sent"]), ("", end)]
        row: dict[str, Any] = {"total": end - start, "start": start, "end": end, "yields": r.get("yields", [])}
        for (name, t0), (_next, t1) in zip(marks, marks[1:], strict=False):
            row[name] = t1 - t0
            row[name + " y"] = sum(1 for t, _ in row["yields"] if t0 <= t < t1)
        rows.append(row)
    rows.sort(key=lambda x: x["total"])
    return rows


def report(rows: list[dict[str, Any]], server: dict[str, Any]) -> None:
    n = len(rows)
    tot = [r["total"] for r in rows]
    print(f"{n} requests: p50 {tot[n // 2] * 1000:.1f} ms, p99 {tot[int(n * .99)] * 1000:.1f} ms")
    print("mean ms (suspensions of the request's task) per phase:")
    for label, sub in (("median 10%", rows[int(n * .45):int(n * .55)]), ("p90-p99", rows[int(n * .9):int(n * .99)]),
                       ("slowest 1%", rows[int(n * .99):])):
        cells = [f"{p} {statistics.mean(r[p] for r in sub) * 1000:.1f}"
                 + (f" ({statistics.mean(r[p + ' y'] for r in sub):.2f})" if "->" not in p or "client" not in p else "")
                 for p in PHASES]
        print(f"  {label:11s} total {statistics.mean(r['total'] for r in sub) * 1000:.1f} | " + " | ".join(cells))
    chains = Counter(chain for r in rows for _t, chain in r["yields"])
    print("the request task's suspensions, by await chain:")
    for chain, count in chains.most_common(6):
        print(f"  {count / n:.2f} per request  {chain}")
    kinds: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for kind, t0, t1, size in server["events"]:
        kinds[kind].append((t0, t1, size))
    first, last = min((r["start"] for r in rows), default=0), max((r["end"] for r in rows), default=0)
    slow = rows[int(n * .99):]
    print("process events during the load (ms):")
    for kind, evs in sorted(kinds.items()):
        inside = sorted(t1 - t0 for t0, t1, _s in evs if first <= t0 <= last)
        if not inside:
            print(f"  {kind:10s} none during the load ({len(evs)} before or after)")
            continue
        hit = sum(1 for t0, t1, _s in evs if any(t0 < r["end"] and t1 > r["start"] for r in slow))
        print(f"  {kind:10s} {len(inside):5d}  mean {statistics.mean(inside) * 1000:.2f}  "
              f"max {inside[-1] * 1000:.2f}  overlapping a slowest-1% request: {hit}")
    sizes: dict[int, list[float]] = defaultdict(list)
    commits = sorted((t0, t1, s) for t0, t1, s in kinds.get("commit", []))
    for t0, t1, s in commits:
        sizes[min(s // 8 * 8, 32)].append(t1 - t0)
    print("group commits by size: " + ", ".join(
        f"{k}-{k + 7}: {len(v)} x {statistics.mean(v) * 1000:.2f} ms" for k, v in sorted(sizes.items())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["nonstream", "stream"], default="nonstream")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--src", type=Path, default=HERE.parent / "src")
    p.add_argument("--keep", type=Path, default=None, help="write the raw timelines here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="respond-timeline-") as tmp:
        done, server = run(args.src.resolve(), args.mode == "stream", args.requests, args.concurrency, Path(tmp))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        (args.keep / "timeline.json").write_bytes(orjson.dumps({"client": done, "server": server}))
    errors = sum(1 for d in done if d[3])
    if errors:
        print(f"{errors} requests failed; the first: {next(d[3] for d in done if d[3])}")
    report(phases(done, server), server)


if __name__ == "__main__":
    main()
