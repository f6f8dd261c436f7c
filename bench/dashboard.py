"""Dashboard pages at scale: page size and server time per page, beside the plain API as reference.

Fills a fresh SQLite database with N stored responses (bench/_dashboard_fill.py, default 100,000),
starts `respond serve` on it (two API keys owning half each, an admin key; no upstream needed),
signs in to the dashboard, then requests each page `--repeat` times one after another and prints,
per page: bytes, the server's own time per request (p50/p95 of the access log's figure: from the
first byte in to the last byte out, in the server process), the client-measured p50 on loopback,
and the server process's CPU time per request.  The reference rows are the plain API on the same database: GET /v1/responses/{id}
and GET /v1/responses/{id}/input_items (the API's list).

    .venv/bin/python bench/dashboard.py                 # 100,000 responses, ~3 min
    .venv/bin/python bench/dashboard.py --n 10000 --repeat 10
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuMeter, Proc, cpu_seconds, free_port  # noqa: E402
from _dashboard_fill import fill  # noqa: E402


def pages(picks: dict[str, str], now: int) -> list[tuple[str, str, str]]:
    """(label, who, path): who is key-a, admin or api (bearer key-a)."""
    day = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 86400))
    day2 = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 86400 + 3600))
    deep = f"{now - 120_000}:resp_~"  # a cursor ~60,000 responses deep
    d = picks["detail"]
    return [
        ("API GET /v1/responses/{id} (reference)", "api", f"/v1/responses/{d}"),
        ("API GET /v1/responses/{id}/input_items (reference)", "api", f"/v1/responses/{d}/input_items"),
        ("responses, first page (one key)", "key-a", "/dashboard/responses"),
        ("responses, first page (admin, all owners)", "admin", "/dashboard/responses"),
        ("responses, page ~60,000 deep (cursor)", "key-a", f"/dashboard/responses?cursor={deep}"),
        ("responses, metadata team=team2 (1 in 8)", "key-a", "/dashboard/responses?meta=team%3Dteam2"),
        ("responses, metadata user=u42 (1 in 1,000)", "key-a", "/dashboard/responses?meta=user%3Du42"),
        ("responses, model + status=failed", "key-a", "/dashboard/responses?model=gpt-4o-mini&status=failed"),
        ("responses, created in a 1-hour window", "key-a", f"/dashboard/responses?after={day}&before={day2}"),
        ("responses, text search (1 in 1,000: a scan of the key's rows)", "key-a", "/dashboard/responses?q=needle"),
        ("response page (24 events, chain)", "key-a", f"/dashboard/responses/{d}"),
        ("background runs", "key-a", "/dashboard/runs"),
        ("charts, last 24 h (2,000 sampled)", "key-a", "/dashboard/charts?hours=24"),
        ("charts, last 720 h (2,000 sampled)", "admin", "/dashboard/charts?hours=720"),
    ]


def sign_in(base: str, key: str) -> httpx.Client:
    web = httpx.Client(base_url=base, timeout=60)
    web.get("/dashboard/signin")
    resp = web.post("/dashboard/signin", data={"key": key, "csrf": web.cookies["respond_csrf"]})
    assert resp.status_code == 303, resp.text
    return web


def server_times(log: Path, offset: int) -> tuple[list[float], int]:
    """The access lines' durations (ms) written since `offset`."""
    with log.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    found = re.findall(rb"respond\.http \[[^\]]*\] GET \S+ 200 ([0-9.]+)ms", chunk)
    return [float(v) for v in found], offset + len(chunk)


def measure(client: httpx.Client, path: str, repeat: int, pid: int) -> tuple[int, list[float], float]:
    resp = client.get(path)  # warm (and check)
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    size = len(resp.content)
    times = []
    cpu0 = cpu_seconds(pid)
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    return size, times, (cpu_seconds(pid) - cpu0) / repeat


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="respond-dash-"))
    url = f"sqlite:///{tmp / 'respond.db'}"
    picks = asyncio.run(fill(url, args.n))
    print(f"filled {args.n} responses in {picks['fill_seconds']} s ({url})", flush=True)
    port = free_port()
    proc = Proc("respond", [sys.executable, "-m", "respond", "serve", "--port", str(port), "--database", url,
                            "--embedded", "off", "--upstream", "http://127.0.0.1:9/v1", "--workers", "0",
                            "--api-key", "key-a", "--api-key", "key-b", "--admin-key", "admin-k",
                            "--log-level", "info"], tmp / "server.log")
    try:
        proc.wait_ready(port, "/health", 60)
        base = f"http://127.0.0.1:{port}"
        clients = {"key-a": sign_in(base, "key-a"), "admin": sign_in(base, "admin-k"),
                   "api": httpx.Client(base_url=base, headers={"Authorization": "Bearer key-a"}, timeout=60)}
        meter = CpuMeter([proc.pid])
        print(f"\n{args.n:,} stored responses, SQLite, {args.repeat} sequential requests per page "
              "(httpx client on loopback)\n")
        print("| page | bytes | server p50 ms | server p95 ms | client p50 ms | server CPU ms/request |")
        print("|---|---|---|---|---|---|")
        _, offset = server_times(proc.log, 0)
        for label, who, path in pages(picks, int(time.time())):
            size, times, cpu = measure(clients[who], path, args.repeat, proc.pid)
            served, offset = server_times(proc.log, offset)
            served = served[-args.repeat:]  # the warm-up request is not counted
            client_ms = statistics.median(t * 1000 for t in times)
            print(f"| {label} | {size:,} | {pct(served, 0.5):.1f} | {pct(served, 0.95):.1f} | {client_ms:.1f} | "
                  f"{cpu * 1000:.1f} |", flush=True)
        print(f"\nother load meanwhile: {meter.others():.2f} cores")
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
