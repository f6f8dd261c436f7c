"""Respond side by side with its peers, in front of the same scripted upstream, under the same load.

    .venv/bin/python bench/peers.py                      # everything, ~10-15 min on 2 cores
    .venv/bin/python bench/peers.py --servers respond,litellm --scenarios nonstream,chain --scale 0.5

Peers (LiteLLM proxy, open-responses-server, agentic-api) are installed from PyPI into their own
venvs under --cache (reused).  One upstream process (bench/_peers_upstream.py: Respond's scripted
chat-completions server) serves all of them; one server runs at a time.  Scenarios, per server:

- chain: a --chain-turns long previous_response_id chain (run first, on a fresh server); latency of
  turns 1, 10 and last, and how many messages the upstream received for each (expected 2t-1);
- nonstream / stream: creates at each --concurrency; req/s, p50, p99, peak RSS of the server tree,
  and the server's CPU per answered request (user + system of all its threads and processes, from
  /proc/<pid>/stat: the figure that still compares when the machine is shared);
- retrieve: GET by id with --stored responses stored (topped up directly in the server's SQLite
  file from a real response, server stopped; see _peers_store.py).

Where a server cannot do a scenario it says so and the run goes on.  Respond runs with SQLite; with
--stores sqlite,postgres, Respond and agentic-api run once more on a fresh PostgreSQL database each
(rows marked "· PostgreSQL"; retrieve is measured on SQLite only).
With --profile DIR, Respond's create scenarios are run once more under py-spy (see _peers_profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

import _peers_load as load  # noqa: E402
from _peers_args import BASE_REQUESTS, parse
from _peers_proc import Meter, Proc, free_port
from _peers_profile import Sampler, summary
from _peers_report import render  # noqa: E402
from _peers_servers import REPO, SPECS, prepare  # noqa: E402
from _peers_store import count, drop_database, fresh_database, top_up  # noqa: E402

DB_FILES = {"respond": "respond.db", "respond-2p": "respond.db", "respond-granian": "respond.db", "agentic-api": "agentic.db"}


class Run:
    def __init__(self, args: argparse.Namespace, work: Path, upstream: int, upstream_pid: int) -> None:
        self.args, self.work, self.up, self.up_pid = args, work, upstream, upstream_pid
        self.results: dict[str, dict[str, Any]] = {}
        self.profiles: list[str] = []
        self.pg: str | None = None  # the PostgreSQL database of the pass under way (None: SQLite)
        self.suffix = ""  # appended to the scenario keys of that pass

    def note(self, server: str, scenario: str, value: Any) -> None:
        self.results.setdefault(server, {})[scenario] = value

    def upstream_counts(self) -> list[int]:
        r = httpx.get(f"http://127.0.0.1:{self.up}/_control/requests", timeout=30)
        return [int(x.get("n_messages", -1)) for x in r.json()["requests"]]

    def clear_upstream(self) -> None:
        httpx.delete(f"http://127.0.0.1:{self.up}/_control", timeout=30)

    def start(self, name: str, env: Path, port: int) -> Proc:
        work = self.work / name
        work.mkdir(exist_ok=True)
        argv, extra = SPECS[name].command(env, port, self.up, work, self.pg)
        proc = Proc(argv, extra, work, work / "server.log")
        try:
            proc.wait_ready(f"http://127.0.0.1:{port}{SPECS[name].ready_path}")
        except RuntimeError:
            proc.stop()
            raise
        return proc

    def server(self, name: str) -> None:
        a, spec = self.args, SPECS[name]
        env, version = prepare(name, a.cache, self.work / f"install-{name}.log")
        self.note(name, "version", version)
        for store in a.stores.split(","):
            if store == "postgres" and not spec.postgres:
                continue
            self.pg = fresh_database(a.postgres, f"bench_{name}") if store == "postgres" else None
            self.suffix = " · PostgreSQL" if self.pg else ""
            try:
                self.one_store(name, env, version)
            finally:
                if self.pg:
                    drop_database(a.postgres, self.pg)
                self.pg, self.suffix = None, ""

    def one_store(self, name: str, env: Path, version: str) -> None:
        a, spec = self.args, SPECS[name]
        port = free_port()
        url = f"http://127.0.0.1:{port}{spec.responses_path}"
        where = "PostgreSQL" if self.pg else spec.persists
        print(f"\n== {name} {version} on :{port} (stores: {where})", flush=True)
        proc = self.start(name, env, port)
        try:
            caps = asyncio.run(self.probe(url))
            self.note(name, "capabilities" + self.suffix, caps)
            print(f"  can: {caps}", flush=True)
            for scenario in a.scenarios.split(","):
                meter = Meter(proc.pid, self.up_pid, os.getpid())
                if scenario == "chain":
                    self.chain(name, url, caps)
                elif scenario in ("nonstream", "stream"):
                    for c in [int(x) for x in a.concurrency.split(",")]:
                        self.creates(name, url, scenario, c, caps, meter)
                elif scenario == "retrieve" and not self.pg:  # topped up in the SQLite file only
                    proc = self.retrieve(name, env, port, url, caps, proc)
        finally:
            proc.stop()

    async def probe(self, url: str) -> dict[str, Any]:
        caps: dict[str, Any] = {}
        async with load.client(1) as c:
            for stream in (False, True):
                rid, err = await load.create(c, url, load.body("probe", stream))
                caps["stream" if stream else "nonstream"] = err is None
                caps.setdefault("template", rid)
                if err:
                    caps[f"{'stream' if stream else 'nonstream'}_error"] = err
            rid = caps.get("template")
            if rid:
                r = await c.get(f"{url}/{rid}")
                caps["get"] = r.status_code == 200 and r.json().get("id") == rid
                if not caps["get"]:
                    caps["get_error"] = f"HTTP {r.status_code}: {r.text[:160]}"
        return caps

    def skip(self, name: str, key: str, why: str) -> None:
        key += self.suffix
        print(f"  {key}: cannot - {why}", flush=True)
        self.note(name, key, {"skipped": why})

    def chain(self, name: str, url: str, caps: dict[str, Any]) -> None:
        stream = not caps.get("nonstream")
        if not caps.get("nonstream") and not caps.get("stream"):
            return self.skip(name, "chain", "no working create")
        self.clear_upstream()
        lat, ids, err = asyncio.run(load.chain(url, self.args.chain_turns, stream))
        got = self.upstream_counts()[-len(lat) :] if lat else []
        turns = sorted({1, 10, self.args.chain_turns} & set(range(1, len(lat) + 1)))
        row = {
            "stream": stream,
            "error": err,
            "turns": {
                t: {
                    "ms": lat[t - 1] * 1000,
                    "messages": got[t - 1] if t - 1 < len(got) else None,
                    "expected": 2 * t - 1,
                }
                for t in turns
            },
        }
        row["intact"] = bool(lat) and err is None and all(g == 2 * i + 1 for i, g in enumerate(got))
        self.note(name, "chain" + self.suffix, row)
        print(
            f"  chain ({'stream' if stream else 'non-stream'}): "
            + ", ".join(
                f"turn {t} {v['ms']:.1f} ms {v['messages']}/{v['expected']} msgs"
                for t, v in row["turns"].items()
            )
            + (f"; stopped: {err}" if err else ""),
            flush=True,
        )

    def creates(self, name: str, url: str, kind: str, conc: int, caps: dict[str, Any], meter: Meter) -> None:
        key = f"{kind} x{conc}"
        if not caps.get(kind):
            return self.skip(name, key, SPECS[name].notes.get(kind) or caps.get(f"{kind}_error", "fails"))
        self.clear_upstream()
        n = max(conc, int(BASE_REQUESTS.get(conc, 50 * conc) * self.args.scale))
        res = asyncio.run(load.create_load(url, kind == "stream", n, conc, self.args.max_seconds, meter))
        self.record(name, key + self.suffix, res)
        if self.args.profile and name == "respond" and conc == self.args.profile_concurrency and not self.pg:
            self.profile(url, kind, conc, n, meter)

    def profile(self, url: str, kind: str, conc: int, n: int, meter: Meter) -> None:
        self.args.profile.mkdir(parents=True, exist_ok=True)
        sampler = Sampler(self.args.cache, self.work / "install-py-spy.log")
        raw = self.args.profile / f"respond-{kind}-x{conc}.raw"
        # Ten times the measured count, capped at 20 s: enough samples even when requests are fast.
        sampler.start(meter.roots[0], raw, 20)
        try:
            asyncio.run(load.create_load(url, kind == "stream", 10 * n, conc, 20, meter))
        finally:
            got = sampler.stop()
        text = summary(got) if got else "py-spy wrote nothing (ptrace not permitted?)"
        self.profiles.append(f"Respond, {kind} x{conc} ({raw}):\n{text}")
        print(f"  profiled {kind} x{conc}: {raw}", flush=True)

    def record(self, name: str, key: str, res: load.Result, **extra: Any) -> None:
        row = {
            "ok": res.ok,
            "errors": res.errors,
            "rps": res.rps,
            "p50": res.pct(0.5),
            "p99": res.pct(0.99),
            "rss_mb": res.rss_mb,
            "cpu_ms": res.cpu_ms,
            "foreign_cores": res.foreign_cores,
            "first_error": res.first_error,
            **extra,
        }
        self.note(name, key, row)
        print(
            f"  {key}: {res.ok} ok / {res.errors} err in {res.seconds:.1f}s  {res.rps:.0f} req/s  "
            f"p50 {row['p50']:.1f} ms  p99 {row['p99']:.1f} ms  RSS {res.rss_mb:.0f} MB  "
            f"CPU {res.cpu_ms:.2f} ms/req  "
            f"(others used {res.foreign_cores:.2f} cores)"
            + (f"  first error: {res.first_error}" if res.first_error else ""),
            flush=True,
        )

    def retrieve(self, name: str, env: Path, port: int, url: str, caps: dict[str, Any], proc: Proc) -> Proc:
        key = f"retrieve x{self.args.retrieve_concurrency}"
        if not caps.get("get"):
            self.skip(name, key, SPECS[name].notes.get("retrieve") or caps.get("get_error", "no GET"))
            return proc
        db = self.work / name / DB_FILES.get(name, "")
        if name not in DB_FILES or not db.exists():
            self.skip(name, key, "no SQLite file to fill")
            return proc
        proc.stop()
        t0 = time.perf_counter()
        made, new_ids = top_up(db, caps["template"], self.args.stored)
        total = count(db)
        fill = (
            f"{total} stored ({made} copied into SQLite in {time.perf_counter() - t0:.1f}s, rest over HTTP)"
        )
        print(f"  retrieve: {fill}", flush=True)
        proc = self.start(name, env, port)
        sample = new_ids[:: max(1, len(new_ids) // 5000)] + [caps["template"]]
        n = max(100, int(2000 * self.args.scale))
        res = asyncio.run(
            load.retrieve(
                url,
                sample,
                n,
                self.args.retrieve_concurrency,
                self.args.max_seconds,
                Meter(proc.pid, self.up_pid, os.getpid()),
            )
        )
        self.record(name, key, res, stored=total, fill=fill)
        return proc


def main() -> int:
    args = parse(__doc__)
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.respond_src:
        os.environ["BENCH_RESPOND_SRC"] = str(args.respond_src.resolve())
    work = args.workdir or Path(tempfile.mkdtemp(prefix="respond-peers-"))
    work.mkdir(parents=True, exist_ok=True)
    up_port = free_port()
    py = REPO / ".venv" / "bin" / "python"
    upstream = Proc(
        [
            str(py if py.exists() else sys.executable),
            str(Path(__file__).parent / "_peers_upstream.py"),
            "--port",
            str(up_port),
        ],
        {},
        work,
        work / "upstream.log",
    )
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, {platform.system()}"
    print(f"workdir {work}; upstream :{up_port}; {machine}", flush=True)
    run = Run(args, work, up_port, upstream.pid)
    t0 = time.time()
    try:
        upstream.wait_ready(f"http://127.0.0.1:{up_port}/v1/models", 20)
        for name in args.servers.split(","):
            try:
                run.server(name)
            except Exception as exc:  # one peer failing to install or start must not end the run
                print(f"  {name}: FAILED - {type(exc).__name__}: {exc}", flush=True)
                run.note(name, "failed", f"{type(exc).__name__}: {exc}")
    finally:
        upstream.stop()
    print(f"\n(total {time.time() - t0:.0f}s)\n")
    print(render(run.results, args, machine))
    for text in run.profiles:
        print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps(run.results, indent=1, default=str))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
