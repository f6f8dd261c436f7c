"""Instructions per request through Respond, counted by callgrind: a figure the machine's load cannot move.

    .venv/bin/python bench/instructions.py [--src OTHER/src ...] [--modes nonstream,stream] [--requests 100]
    .venv/bin/python bench/instructions.py --database postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/instructions.py --modes nonstream,stream,chain   # chain: a previous_response_id

`respond serve --upstream ... --embedded off` (SQLite in a temporary directory, or --database) runs
under `valgrind --tool=callgrind --instr-atstart=no` with this tree's `src` (and then each --src, a
`git archive` of another commit, say, for an A/B); per mode: instrumentation on, --warmup requests,
counters zeroed, --requests requests at --concurrency clients (bench/_common.py's raw client), a dump,
and the instructions of all the server's threads summed over it, per request.  The scripted upstream
runs outside valgrind.  Needs valgrind (`apt-get install -y valgrind`); about a minute per tree.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from _common import Proc, _once, free_port, load, scripted_upstream  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "src"
BIN = Path(sys.executable).parent
BODY = {"model": "scripted", "input": "Say hello."}


def _ok(stream: bool):  # type: ignore[no-untyped-def]
    def ok(status: int, data: bytes) -> bool:
        return status == 200 and (b"response.completed" in data if stream else b'"completed"' in data)
    return ok


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def _summed(pattern: str) -> int:
    """The instructions in the dumps matching `pattern` (one file per thread and dump)."""
    total = 0
    for path in glob.glob(pattern):
        m = re.search(r"^(?:summary|totals): (\d+)", Path(path).read_text(errors="replace"), re.M)
        total += int(m.group(1)) if m else 0
    return total


def measure(src: Path, args: argparse.Namespace, work: Path, upstream_port: int) -> dict[str, float]:
    port = free_port()
    out = work / f"cg-{port}"
    database = args.database or f"sqlite:///{work / f'respond-{port}.db'}"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={out}.%p", str(BIN / "python"), "-m", "respond", "serve", "--port", str(port),
            "--database", database, "--upstream", f"http://127.0.0.1:{upstream_port}/v1", "--embedded", "off",
            "--workers", "0"]  # no background workers: their idle polls would count by the (slow) second
    proc = Proc("respond", argv, work / f"respond-{port}.log", env={"PYTHONPATH": str(src)})
    figures: dict[str, float] = {}
    try:
        proc.wait_ready(port, "/health", timeout=300)
        pid = str(proc.pid)
        _control("-i", "on", pid)
        for mode in args.modes.split(","):
            stream = mode == "stream"
            body = orjson.dumps({**BODY, "stream": stream})
            if mode == "chain":  # each request continues one stored response (a context read per request)
                status, first = asyncio.run(_once(port, "POST", "/v1/responses", body))
                assert status == 200, first
                body = orjson.dumps({**BODY, "previous_response_id": orjson.loads(first)["id"]})
            asyncio.run(load(port, "/v1/responses", body, _ok(stream), args.concurrency, 600, args.warmup))
            _control("-z", pid)
            res = asyncio.run(load(port, "/v1/responses", body, _ok(stream), args.concurrency, 600, args.requests))
            if res.errors:
                raise RuntimeError(f"{mode}: {res.errors} failed requests ({res.first_error})")
            before = set(glob.glob(f"{out}.{pid}*"))
            _control("-d", mode, pid)
            time.sleep(0.5)
            dumps = sorted(set(glob.glob(f"{out}.{pid}*")) - before)
            figures[mode] = sum(_summed(d) for d in dumps) / len(res.latencies)
    finally:
        proc.stop()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, action="append", default=[], help="another tree's src (A/B)")
    ap.add_argument("--modes", default="nonstream,stream")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--database", help="a database URL instead of a fresh SQLite file")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        ap.error("valgrind is not installed (apt-get install -y valgrind)")
    with tempfile.TemporaryDirectory(prefix="respond-instr-") as tmp:
        work = Path(tmp)
        with scripted_upstream(work) as upstream_port:
            rows = [(src, measure(src, args, work, upstream_port)) for src in [HERE, *args.src]]
    modes = args.modes.split(",")
    sys.stdout.write(f"M instructions per request (callgrind, {args.requests} requests at {args.concurrency} "
                     f"clients after {args.warmup}; {args.database or 'SQLite'})\n\n")
    sys.stdout.write("| tree | " + " | ".join(modes) + " |\n|---|" + "---|" * len(modes) + "\n")
    for src, figures in rows:
        cells = " | ".join(f"{figures[m] / 1e6:.3f} ({figures[m] / rows[0][1][m]:.2f}x)" for m in modes)
        sys.stdout.write(f"| {src} | {cells} |\n")


if __name__ == "__main__":
    main()
