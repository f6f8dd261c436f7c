"""What Respond adds in front of an upstream: latency and throughput, and the cost of a long chain.

    .venv/bin/python bench/gateway.py                     # ~1.5 min on 2 cores
    .venv/bin/python bench/gateway.py --seconds 20 --reps 2000 --profile auto

Two processes besides this one: the scripted upstream (`python -m respond.testing.upstream
--no-record`) and `respond serve --upstream ... --embedded off` with SQLite in a temporary
directory (store on, default log level).  The same closed-loop client (bench/_common.py: raw
asyncio HTTP/1.1, one keep-alive connection per user) drives both sides:

- gateway: `POST /v1/responses` through Respond vs `POST /v1/chat/completions` straight to the
  upstream, non-stream and stream, at each --concurrency; the two sides alternate in --rounds
  slices.  Added latency = Respond's percentile minus the direct one, same scenario.
  Target (issue 2): p50 added latency <= 2 ms non-stream.
- depth: a --turns long previous_response_id chain built through the API; then, in this process,
  `SqlStore.load_context` on the same SQLite file for the chain's first and last response (--reps
  alternating calls, p50), with a breakdown (the recursive CTE in plain sqlite3, orjson), and the
  end-to-end create latency of turn 2 vs turn --turns (branches off turn 1 and turn --turns - 1)
  next to the same chat request sent straight to the upstream.  Target: depth 200 <= 1.3x depth 1.

Also per scenario: the servers' CPU time per request (upstream alone vs upstream + Respond), and
the CPU that other processes used meanwhile ("other load", in cores): on a shared machine that is
what makes two runs differ.  --wait-quiet waits for a quiet machine first.

--profile auto records Respond with py-spy (`.venv/bin/pip install py-spy`) during each scenario
that missed its target and prints its CPU per request by thread and the hot spots.  The tables are
Markdown, ready for BENCHMARKS.md.

Why not httpx as the load client: on this 2-core machine httpx.AsyncClient alone costs ~0.9 ms per
request (direct p50 0.97 ms with httpx vs 0.08 ms with the raw client at 1 client; 14 vs 0.6 ms at
8), more than the figure being measured; `--client httpx` runs the same benchmark with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from _common import (  # noqa: E402
    Conn,
    CpuMeter,
    Proc,
    Result,
    cpu_seconds,
    free_port,
    load,
    load_httpx,
    pct,
    post_json,
    pyspy_start,
    pyspy_summary,
    thread_cpu,
    wait_quiet,
)
from _gateway_depth import context_timing  # noqa: E402
from respond.testing.upstream import DEFAULT_TEXT  # noqa: E402

BIN = Path(sys.executable).parent
MODEL = "scripted"
PROMPT = "Say hello."
OWNER = "anonymous"  # Respond's owner when no --api-key is configured
ADDED_TARGET_MS = 2.0
DEPTH_TARGET = 1.3


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", default="1,8", help="concurrent clients (comma-separated)")
    p.add_argument("--modes", default="nonstream,stream")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per side per scenario")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per side per scenario")
    p.add_argument("--rounds", type=int, default=2, help="alternating direct/Respond slices per scenario")
    p.add_argument("--turns", type=int, default=200, help="length of the previous_response_id chain")
    p.add_argument("--reps", type=int, default=1000, help="load_context calls per depth (p50 reported)")
    p.add_argument("--e2e-reps", type=int, default=60, help="creates per depth for the end-to-end figure")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load client (same on both sides)")
    p.add_argument("--profile", default="none",
                   help="auto (scenarios that miss a target), none, or a list: nonstream-1,stream-8,depth")
    p.add_argument("--profile-seconds", type=float, default=12.0)
    p.add_argument("--log-level", default="info", help="Respond's --log-level (info is its default)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to this long for other processes to use < 0.25 cores")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    return p.parse_args()


# -- the gateway scenarios -------------------------------------------------------------------------

def bodies(stream: bool) -> dict[str, tuple[str, bytes, Any]]:
    """Per side: the path, the request body and the check of a reply."""
    direct: dict[str, Any] = {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:  # Respond asks its upstream for usage too
        direct["stream_options"] = {"include_usage": True}
    respond = {"model": MODEL, "stream": stream, "input": PROMPT}
    if stream:
        ok_direct = lambda s, d: s == 200 and d.endswith(b"data: [DONE]\n\n")  # noqa: E731
        ok_respond = lambda s, d: s == 200 and b"event: response.completed" in d[-4000:]  # noqa: E731
    else:
        ok_direct = lambda s, d: s == 200 and b'"finish_reason":"stop"' in d  # noqa: E731
        ok_respond = lambda s, d: s == 200 and b'"status":"completed"' in d  # noqa: E731
    return {"direct": ("/v1/chat/completions", orjson.dumps(direct), ok_direct),
            "respond": ("/v1/responses", orjson.dumps(respond), ok_respond)}


async def gateway(args: argparse.Namespace, ports: dict[str, int], pids: list[int],
                  others: dict[str, float]) -> dict[tuple[str, int], dict[str, Result]]:
    run = load if args.client == "raw" else load_httpx
    out: dict[tuple[str, int], dict[str, Result]] = {}
    for mode in args.modes.split(","):
        for conc in [int(c) for c in args.concurrency.split(",")]:
            sides = bodies(mode == "stream")
            res = {side: Result() for side in sides}
            meter = CpuMeter(pids)
            for side, (path, body, ok) in sides.items():
                await run(ports[side], path, body, ok, conc, args.warmup)
            for _ in range(args.rounds):
                for side, (path, body, ok) in sides.items():
                    cpu0 = sum(cpu_seconds(p) for p in pids)
                    part = await run(ports[side], path, body, ok, conc, args.seconds / args.rounds)
                    part.cpu = sum(cpu_seconds(p) for p in pids) - cpu0
                    res[side].merge(part)
            out[(mode, conc)] = res
            others[f"{mode}-{conc}"] = meter.others()
            d, r = res["direct"], res["respond"]
            print(f"  {mode:9} x{conc}: direct {d.rps:7.0f} req/s p50 {pct(d.latencies, .5):6.2f} ms | "
                  f"respond {r.rps:7.0f} req/s p50 {pct(r.latencies, .5):6.2f} ms"
                  + (f" | errors {d.errors}+{r.errors}: {d.first_error or r.first_error}"
                     if d.errors or r.errors else "") + f" | others {others[f'{mode}-{conc}']:.2f} cores",
                  flush=True)
    return out


# -- chain depth -------------------------------------------------------------------------------------

def turn_text(n: int) -> str:
    return f"Turn {n}: please answer briefly."


async def build_chain(port: int, turns: int) -> tuple[list[str], list[float]]:
    conn = await Conn(port).open()
    ids: list[str] = []
    lat: list[float] = []
    try:
        for n in range(1, turns + 1):
            body: dict[str, Any] = {"model": MODEL, "input": turn_text(n)}
            if ids:
                body["previous_response_id"] = ids[-1]
            status, resp, dt = await post_json(conn, "/v1/responses", body)
            if status != 200 or resp.get("status") != "completed":
                raise RuntimeError(f"turn {n}: {status} {str(resp)[:300]}")
            ids.append(resp["id"])
            lat.append(dt)
    finally:
        await conn.close()
    return ids, lat


def chat_messages(turn: int) -> list[dict[str, str]]:
    """What Respond sends upstream for turn `turn` of the chain (history, then the new input)."""
    msgs = []
    for n in range(1, turn):
        msgs += [{"role": "user", "content": turn_text(n)}, {"role": "assistant", "content": DEFAULT_TEXT}]
    return msgs + [{"role": "user", "content": turn_text(turn)}]


async def e2e_depth(ports: dict[str, int], ids: list[str], reps: int) -> dict[str, list[float]]:
    """Creates branching off turn 1 (= turn 2) and off turn N-1 (= turn N), alternating, with the
    equivalent chat requests straight to the upstream."""
    last = len(ids)
    rc, dc = await Conn(ports["respond"]).open(), await Conn(ports["direct"]).open()
    cases = {
        "respond:2": (rc, "/v1/responses", {"model": MODEL, "input": turn_text(2), "previous_response_id": ids[0]}),
        f"respond:{last}": (rc, "/v1/responses",
                            {"model": MODEL, "input": turn_text(last), "previous_response_id": ids[last - 2]}),
        "direct:2": (dc, "/v1/chat/completions", {"model": MODEL, "messages": chat_messages(2), "stream": True,
                                                  "stream_options": {"include_usage": True}}),
        f"direct:{last}": (dc, "/v1/chat/completions", {"model": MODEL, "messages": chat_messages(last),
                                                        "stream": True, "stream_options": {"include_usage": True}}),
    }
    out: dict[str, list[float]] = {k: [] for k in cases}
    try:
        for i in range(reps + 5):
            for key, (conn, path, body) in cases.items():
                t0 = time.perf_counter()
                status, data, _ = await conn.request("POST", path, orjson.dumps(body))
                dt = time.perf_counter() - t0
                if status != 200:
                    raise RuntimeError(f"{key}: {status} {data[:300]!r}")
                if i >= 5:
                    out[key].append(dt)
    finally:
        await rc.close()
        await dc.close()
    return out


# -- profiling -------------------------------------------------------------------------------------

async def profile(name: str, args: argparse.Namespace, ports: dict[str, int], pid: int, work: Path,
                  ids: list[str]) -> list[str]:
    """Respond's CPU per request by thread, then a py-spy profile of it, under one scenario."""
    out = work / f"pyspy-{name}.txt"
    spy = pyspy_start(pid, args.profile_seconds, out)
    if spy is None:
        return ["py-spy not found: .venv/bin/pip install py-spy"]
    await asyncio.sleep(0.5)
    cpu0 = thread_cpu(pid)
    if name == "depth":
        body = orjson.dumps({"model": MODEL, "input": turn_text(len(ids)), "previous_response_id": ids[-2]})
        c = await Conn(ports["respond"]).open()
        deadline, n = time.perf_counter() + args.profile_seconds - 1, 0
        while time.perf_counter() < deadline:
            await c.request("POST", "/v1/responses", body)
            n += 1
        await c.close()
    else:
        mode, conc = name.split("-")
        path, body, ok = bodies(mode == "stream")["respond"]
        n = len((await load(ports["respond"], path, body, ok, int(conc), args.profile_seconds - 1)).latencies)
    cpu1 = thread_cpu(pid)
    main_ms = 1000 * (cpu1.get(pid, 0) - cpu0.get(pid, 0)) / max(1, n)
    other_ms = 1000 * sum(v - cpu0.get(t, 0) for t, v in cpu1.items() if t != pid) / max(1, n)
    _, err = await asyncio.to_thread(spy.communicate)
    if spy.returncode != 0 or not out.exists():
        return [f"py-spy failed ({spy.returncode}): {err.decode()[-300:]}"]
    return ([f"{n} requests while sampled; Respond CPU per request: event-loop thread {main_ms:.2f} ms, "
             f"other threads (SQLite's writer and readers) {other_ms:.2f} ms"] + pyspy_summary(out))


# -- report ----------------------------------------------------------------------------------------

def f(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def render(gw: dict[tuple[str, int], dict[str, Result]], ctx: dict[str, dict[int, float]],
           e2e: dict[str, list[float]], chain_lat: list[float], turns: int,
           others: dict[str, float]) -> tuple[str, list[str]]:
    missed: list[str] = []
    lat = ["| scenario | clients | direct p50 ms | Respond p50 ms | added p50 ms | direct p99 ms "
           "| Respond p99 ms | added p99 ms | added p50 to first byte, ms | target |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    thr = ["| scenario | clients | direct req/s | Respond req/s | ratio | server CPU ms/req, direct "
           "| server CPU ms/req, via Respond | ratio | other load, cores |", "|---|---|---|---|---|---|---|---|---|"]
    for (mode, conc), res in gw.items():
        d, r = res["direct"], res["respond"]
        added50 = pct(r.latencies, .5) - pct(d.latencies, .5)
        added99 = pct(r.latencies, .99) - pct(d.latencies, .99)
        target = "-"
        if mode == "nonstream":
            met = added50 <= ADDED_TARGET_MS
            target = f"p50 added <= {ADDED_TARGET_MS:g} ms: {'met' if met else 'MISSED'}"
            if not met:
                missed.append(f"{mode}-{conc}")
        lat.append(f"| {mode} | {conc} | {f(pct(d.latencies, .5))} | {f(pct(r.latencies, .5))} | {f(added50)} "
                   f"| {f(pct(d.latencies, .99))} | {f(pct(r.latencies, .99))} | {f(added99)} "
                   f"| {f(pct(r.ttfb, .5) - pct(d.ttfb, .5))} | {target} |")
        thr.append(f"| {mode} | {conc} | {f(d.rps, 0)} | {f(r.rps, 0)} | {f(r.rps / d.rps if d.rps else 0)}x "
                   f"| {f(d.cpu_ms)} | {f(r.cpu_ms)} | {f(r.cpu_ms / d.cpu_ms)}x | {f(others[f'{mode}-{conc}'])} |")
    lines = lat + [""] + thr
    n = turns
    lines += ["", f"| chain depth | depth 1 | depth {n} | ratio | target |", "|---|---|---|---|---|"]
    for name, by in ctx.items():
        ratio = by[n] / by[1]
        target = "-"
        if name == "context build":
            met = ratio <= DEPTH_TARGET
            target = f"<= {DEPTH_TARGET:g}x: {'met' if met else 'MISSED'}"
            if not met:
                missed.append("depth")
        lines.append(f"| {name} p50 ms (in process) | {f(by[1], 3)} | {f(by[n], 3)} | {f(ratio)}x | {target} |")
    r2, rn = pct(e2e["respond:2"], .5), pct(e2e[f"respond:{n}"], .5)
    d2, dn = pct(e2e["direct:2"], .5), pct(e2e[f"direct:{n}"], .5)
    lines += [f"| create turn 2 vs turn {n}, p50 ms (end to end) | {f(r2)} | {f(rn)} | {f(rn / r2)}x | - |",
              f"| same chat request straight to the upstream, p50 ms | {f(d2)} | {f(dn)} | {f(dn / d2)}x | - |",
              f"| added by Respond, p50 ms | {f(r2 - d2)} | {f(rn - dn)} | {f((rn - dn) / (r2 - d2))}x | - |",
              "", f"While building the chain (one sample each): turn 2 {f(chain_lat[1] * 1000)} ms, "
              f"turn {n} {f(chain_lat[-1] * 1000)} ms; median of turns 2-11 "
              f"{f(statistics.median(chain_lat[1:11]) * 1000)} ms, of the last 10 "
              f"{f(statistics.median(chain_lat[-10:]) * 1000)} ms. Other load during the depth figures: "
              f"{f(others['depth'])} cores."]
    return "\n".join(lines), missed


# -- main ------------------------------------------------------------------------------------------

async def measure(args: argparse.Namespace, ports: dict[str, int], respond: Proc, work: Path,
                  pids: list[int]) -> None:
    if args.wait_quiet:
        await wait_quiet(pids, args.wait_quiet)
    print(f"gateway scenarios ({args.client} client, {args.seconds:g} s per side, {args.rounds} rounds):", flush=True)
    others: dict[str, float] = {}
    gw = await gateway(args, ports, pids, others)
    print(f"building a {args.turns}-turn chain ...", flush=True)
    meter = CpuMeter(pids)
    ids, chain_lat = await build_chain(ports["respond"], args.turns)
    e2e = await e2e_depth(ports, ids, args.e2e_reps)
    ctx = await context_timing(work / "respond.db", ids, args.reps)
    others["depth"] = meter.others()
    table, missed = render(gw, ctx, e2e, chain_lat, args.turns, others)
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    ref = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(f"\nMachine: {os.cpu_count()} cores, Python {platform.python_version()} (sum(range(1000)) takes "
          f"{ref:.1f} us here); Respond at {rev or '?'}, "
          f"--log-level {args.log_level}; client {args.client}. 'Other load' = CPU used meanwhile by processes "
          f"other than the benchmark's own, in cores.\n")
    print(table)
    print("\nTargets " + ("all met." if not missed else "missed: " + ", ".join(missed)))
    wanted = missed if args.profile == "auto" else [] if args.profile == "none" else args.profile.split(",")
    for name in wanted:
        print(f"\n## py-spy, Respond under {name} ({args.profile_seconds:g} s)")
        print("\n".join(await profile(name, args, ports, respond.pid, work, ids)), flush=True)


def main() -> None:
    args = parse()
    work = Path(tempfile.mkdtemp(prefix="respond-gateway-"))
    ports = {"direct": free_port(), "respond": free_port()}
    procs: list[Proc] = []
    try:
        up = Proc("upstream", [str(BIN / "python"), "-m", "respond.testing.upstream", "--port",
                               str(ports["direct"]), "--no-record"], work / "upstream.log")
        procs.append(up)
        up.wait_ready(ports["direct"], "/v1/models")
        respond = Proc("respond", [str(BIN / "respond"), "serve", "--port", str(ports["respond"]),
                                   "--database", f"sqlite:///{work / 'respond.db'}", "--upstream",
                                   f"http://127.0.0.1:{ports['direct']}/v1", "--embedded", "off",
                                   "--log-level", args.log_level], work / "respond.log")
        procs.append(respond)
        respond.wait_ready(ports["respond"], "/health")
        asyncio.run(measure(args, ports, respond, work, [up.pid, respond.pid]))
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
