"""The cost of routing: 50 models over 5 configured upstreams against 1 model over 1 upstream, side by
side in one run (issue 18).

Starts two scripted chat-completions upstreams (`python -m respond.testing.upstream --no-record`) and
three `respond serve` processes in front of them (SQLite in a temporary directory, store on):

- `one`: `--config` with one `[[upstreams]]` entry serving one model (`m0`);
- `fifty`: `--config` with five `[[upstreams]]` entries of ten models each (`m0`..`m49`), two replicas
  each (the two scripted servers), and an alias per model; requests name `alias49`,
  the alias of the last model of the last upstream (the longest lookup);
- `plain`: `--upstream URL`, no routing table at all (the path every release before this one took).

All five upstream entries point at the same scripted servers, so the figure is what the routing table
(aliases, the model lookup over the upstreams, replica choice, health bookkeeping) costs, not a
different upstream.  The raw-asyncio HTTP/1.1 client of `_common.py` drives the same body at each side
in alternating slices; the ratio printed is `fifty / one` requests per second.  A second table times
the routing decision alone, in process (`ModelRouter.route` + `resolve` + the replica choice of
`ReplicaSet`, over the same two tables), where the machine's other load matters far less.

    .venv/bin/python bench/routing.py            # ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from _common import CpuMeter, Proc, Result, cpu_seconds, free_port, load, pct  # noqa: E402

BIN = Path(sys.executable).parent
SIDES = ("one", "fifty", "plain")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", default="1,8", help="concurrent clients (comma-separated)")
    p.add_argument("--seconds", type=float, default=6.0, help="measured seconds per side per scenario")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3, help="alternating slices per side per scenario")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    return p.parse_args()


def config(urls: list[str], upstreams: int, models_each: int) -> str:
    replicas = "[" + ", ".join(f'"{u}"' for u in urls) + "]"
    lines = ['embedded = "off"']
    for u in range(upstreams):
        models = ", ".join(f'"m{u * models_each + i}"' for i in range(models_each))
        lines += ["[[upstreams]]", f'name = "up{u}"', f"urls = {replicas}", f"models = [{models}]"]
    if upstreams > 1:
        lines.append("[aliases]")
        lines += [f'"alias{m}" = "m{m}"' for m in range(upstreams * models_each)]
    return "\n".join(lines) + "\n"


def bodies(stream: bool) -> dict[str, tuple[str, bytes, Any]]:
    done = (lambda s, d: s == 200 and b"event: response.completed" in d[-6000:]) if stream else \
        (lambda s, d: s == 200 and b'"status":"completed"' in d)
    model = {"one": "m0", "fifty": "alias49", "plain": "m0"}
    return {side: ("/v1/responses", orjson.dumps({"model": model[side], "input": "Say hello.", "stream": stream}),
                   done) for side in SIDES}


async def measure(args: argparse.Namespace, ports: dict[str, int], pids: list[int]) -> list[list[str]]:
    rows = []
    for name, stream in (("nonstream", False), ("stream", True)):
        for conc in [int(c) for c in args.concurrency.split(",")]:
            plan = bodies(stream)
            res = {side: Result() for side in plan}
            meter = CpuMeter(pids)
            for side, (path, body, ok) in plan.items():
                await load(ports[side], path, body, ok, conc, args.warmup)
            for _ in range(args.rounds):
                for side, (path, body, ok) in plan.items():
                    cpu0 = sum(cpu_seconds(p) for p in pids)
                    part = await load(ports[side], path, body, ok, conc, args.seconds / args.rounds)
                    part.cpu = sum(cpu_seconds(p) for p in pids) - cpu0
                    res[side].merge(part)
            one, fifty, plain = res["one"], res["fifty"], res["plain"]
            for side, r in res.items():
                if r.errors:
                    raise RuntimeError(f"{name} x{conc} ({side}): errors: {r.first_error}")
            rows.append([name, str(conc), f"{one.rps:.0f}", f"{fifty.rps:.0f}", f"{fifty.rps / one.rps:.3f}x",
                         f"{pct(one.latencies, .5):.2f}", f"{pct(fifty.latencies, .5):.2f}",
                         f"{one.cpu_ms:.2f}", f"{fifty.cpu_ms:.2f}", f"{plain.rps:.0f}",
                         f"{one.rps / plain.rps:.3f}x", f"{meter.others():.2f}"])
            print("  " + " | ".join(rows[-1]), flush=True)
    return rows


class _Replica:
    """A replica that is never asked to generate: only the routing decision is timed."""

    name = "bench"

    def serves(self, model: str) -> bool:
        return True

    async def close(self) -> None:
        return None


def decision_us(upstreams: int, models_each: int, model: str, n: int = 20000) -> float:
    """Microseconds per routing decision: alias -> model -> upstream -> replica."""
    import time

    from respond.engine.execution.replicas import ReplicaSet
    from respond.engine.execution.router import ModelRouter

    sets = [ReplicaSet(f"up{u}", [(f"r{i}", _Replica()) for i in range(2 if upstreams > 1 else 1)],  # type: ignore[misc]
                       models=[f"m{u * models_each + i}" for i in range(models_each)]) for u in range(upstreams)]
    aliases = {f"alias{m}": f"m{m}" for m in range(upstreams * models_each)} if upstreams > 1 else {}
    router = ModelRouter(sets, aliases=aliases)  # type: ignore[arg-type]

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            served = await router.route(model)
            backend = router.resolve(served)
            assert isinstance(backend, ReplicaSet)
            backend._pick(set())
        return (time.perf_counter() - start) / n * 1e6

    return min(asyncio.run(run()) for _ in range(5))


def main() -> None:
    args = parse()
    one_us, fifty_us = decision_us(1, 1, "m0"), decision_us(5, 10, "alias49")
    print(f"routing decision, in process: 1 model/1 upstream {one_us:.2f} us, 50 models/5 upstreams "
          f"{fifty_us:.2f} us ({fifty_us / one_us:.2f}x)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="respond-routing-"))
    ports = {"up0": free_port(), "up1": free_port(), **{side: free_port() for side in SIDES}}
    procs: list[Proc] = []
    try:
        for name in ("up0", "up1"):
            up = Proc(name, [str(BIN / "python"), "-m", "respond.testing.upstream", "--port", str(ports[name]),
                             "--no-record"], work / f"{name}.log")
            procs.append(up)
            up.wait_ready(ports[name], "/v1/models")
        url = f"http://127.0.0.1:{ports['up0']}/v1"
        (work / "one.toml").write_text(config([url], 1, 1))
        (work / "fifty.toml").write_text(config([url, f"http://127.0.0.1:{ports['up1']}/v1"], 5, 10))
        extra = {"one": ["--config", str(work / "one.toml")], "fifty": ["--config", str(work / "fifty.toml")],
                 "plain": ["--upstream", url, "--embedded", "off"]}
        servers = {}
        for side in SIDES:
            servers[side] = Proc(side, [str(BIN / "respond"), "serve", "--port", str(ports[side]), "--database",
                                        f"sqlite:///{work / (side + '.db')}", *extra[side]], work / f"{side}.log")
            procs.append(servers[side])
        for side in SIDES:
            servers[side].wait_ready(ports[side], "/health")
        rows = asyncio.run(measure(args, ports, [p.pid for p in procs]))
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1]).stdout.strip()
        head = ["scenario", "clients", "1 model/1 upstream req/s", "50 models/5 upstreams req/s", "ratio",
                "1/1 p50 ms", "50/5 p50 ms", "1/1 CPU ms/req", "50/5 CPU ms/req", "--upstream req/s",
                "1/1 vs --upstream", "other load, cores"]
        print(f"\nRespond at {rev or '?'}; the same request through a routing table of 1 model over 1 upstream "
              f"and of 50 models over 5 upstreams (2 replicas each, an alias per model):\n")
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        print("\n".join("| " + " | ".join(r) + " |" for r in rows))
        print(f"\nThe routing decision alone, in process (best of 5 x 20000): 1 model/1 upstream {one_us:.2f} us, "
              f"50 models/5 upstreams {fifty_us:.2f} us ({fifty_us / one_us:.2f}x).")
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
