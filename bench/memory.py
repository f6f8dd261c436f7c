"""Resident memory of an upstream-only Respond, at rest and under load, beside a bare ASGI floor.

    .venv/bin/python bench/memory.py [--src OTHER/src ...] [--requests 400] [--concurrency 8]
    .venv/bin/python bench/memory.py --breakdown          # what the resident set is made of

`respond serve --upstream URL --embedded off` (SQLite in a temporary directory, this tree's `src`,
then each --src, a `git archive` of another commit, say) against the scripted upstream
(`respond.testing.upstream`, its own process): VmRSS of the server's process tree 2 s after
/health first answers ("rest"), then the highest during --requests non-stream and --requests
stream creates at --concurrency clients (the kernel's VmHWM, reset with /proc/PID/clear_refs before
each mode, and a 5 ms sampler of the tree as a cross-check), and VmRSS once the load is over.

The reference ("floor"): a bare uvicorn (uvloop, httptools) serving a three-route Starlette app
that answers the same two requests with a canned body, under the same load: what any Python ASGI
server costs before it does anything.  The ratios are Respond / floor.

Respond's bytecode is the same for every tree: each runs from a copy of its `src` without the
`__pycache__` folders it may hold (a test run writes them), compiled from source at its start as a
checkout runs with PYTHONDONTWRITEBYTECODE (~0.7 MB more than from .pyc files: a tree with them
would look that much lighter); `--compiled` compiles each copy first, as an installed package runs.

`--breakdown` imports, in one fresh process, the stack a layer at a time (Python + asyncio + ssl,
uvicorn, Starlette, pydantic, sqlite3, Respond's app module), printing the VmRSS
increment of each, then builds the app as `respond serve` does and runs its start-up, and lists
the top-level packages loaded at rest with their module counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from _common import Proc, free_port, load, scripted_upstream  # noqa: E402
from _peers_proc import tree  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "src"
BIN = Path(sys.executable).parent
BODY = {"model": "scripted", "input": "Say hello."}

FLOOR_APP = r'''
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

DONE = b'{"id":"resp_1","object":"response","status":"completed","output":[]}'
EVENTS = [b"event: response.created\ndata: {}\n\n", b"event: response.output_text.delta\ndata: {}\n\n",
          b"event: response.completed\ndata: {}\n\n"]

async def health(request):
    return Response(b"ok")

async def create(request):
    body = await request.body()
    if b'"stream":true' in body:
        async def events():
            for e in EVENTS:
                yield e
        return StreamingResponse(events(), media_type="text/event-stream")
    return Response(DONE, media_type="application/json")

app = Starlette(routes=[Route("/health", health), Route("/v1/responses", create, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_mb(root: int, key: str = "VmRSS:") -> float:
    return sum(_status_kb(pid, key) for pid in tree(root)) / 1024


def _reset_peak(root: int) -> bool:
    ok = True
    for pid in tree(root):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM) to the current
        except OSError:
            ok = False
    return ok


class Sampler:
    """The highest VmRSS of a process tree, read every 5 ms in a thread."""

    def __init__(self, root: int) -> None:
        self.root, self.peak, self._stop = root, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_mb(self.root))
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _ok(stream: bool):  # type: ignore[no-untyped-def]
    def ok(status: int, data: bytes) -> bool:
        return status == 200 and (b"response.completed" in data if stream else b'"completed"' in data)
    return ok


def measure(proc: Proc, port: int, args: argparse.Namespace) -> dict[str, float]:
    proc.wait_ready(port, "/health", timeout=120)
    time.sleep(2)
    figures = {"rest": tree_mb(proc.pid), "threads": float(len(os.listdir(f"/proc/{proc.pid}/task")))}
    for mode in ("nonstream", "stream"):
        stream = mode == "stream"
        body = orjson.dumps({**BODY, "stream": stream})
        hwm = _reset_peak(proc.pid)
        with Sampler(proc.pid) as sampler:
            res = asyncio.run(load(port, "/v1/responses", body, _ok(stream), args.concurrency, 600, args.requests))
        if res.errors:
            raise RuntimeError(f"{mode}: {res.errors} failed requests ({res.first_error})")
        figures[mode] = max(sampler.peak, tree_mb(proc.pid, "VmHWM:") if hwm else 0.0)
    time.sleep(1)
    figures["after"] = tree_mb(proc.pid)
    figures["threads_after"] = float(len(os.listdir(f"/proc/{proc.pid}/task")))
    return figures


def respond(src: Path, args: argparse.Namespace, work: Path, upstream_port: int) -> dict[str, float]:
    port = free_port()
    argv = [str(BIN / "python"), "-m", "respond", "serve", "--port", str(port),
            "--database", f"sqlite:///{work / f'respond-{port}.db'}",
            "--upstream", f"http://127.0.0.1:{upstream_port}/v1", "--embedded", "off", "--log-level", "warning"]
    env = {"PYTHONPATH": str(_copy(src, work / f"src-{port}", args.compiled)), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = Proc("respond", argv, work / f"respond-{port}.log", env=env)
    try:
        return measure(proc, port, args)
    finally:
        proc.stop()


def _copy(src: Path, to: Path, compiled: bool) -> Path:
    """`src` without its bytecode (see the module docstring), or compiled afresh."""
    import compileall
    import shutil

    shutil.copytree(src, to, ignore=shutil.ignore_patterns("__pycache__"))
    if compiled and not compileall.compile_dir(str(to), quiet=1):
        raise RuntimeError(f"{src} does not compile")
    return to


def floor(args: argparse.Namespace, work: Path) -> dict[str, float]:
    port = free_port()
    proc = Proc("floor", [str(BIN / "python"), "-c", FLOOR_APP, str(port)], work / "floor.log")
    try:
        return measure(proc, port, args)
    finally:
        proc.stop()


def serve_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="respond-mem-") as tmp:
        work = Path(tmp)
        with scripted_upstream(work) as upstream_port:
            ref = floor(args, work)
            rows = [(str(src), respond(src, args, work, upstream_port)) for src in [HERE, *args.src]]
    out = sys.stdout.write
    out(f"VmRSS of the server's process tree, MB: 2 s after start (rest), the highest during {args.requests} "
        f"non-stream / stream creates at {args.concurrency} clients, and after the load; SQLite, "
        "`--upstream URL --embedded off`\n\n")
    out("| server | rest | non-stream peak | stream peak | after load | threads at rest / after |\n"
        "|---|---|---|---|---|---|\n")
    keys = ("rest", "nonstream", "stream", "after")
    out("| floor: bare uvicorn + Starlette | " + " | ".join(f"{ref[k]:.1f}" for k in keys)
        + f" | {ref['threads']:.0f} / {ref['threads_after']:.0f} |\n")
    for name, fig in rows:
        cells = " | ".join(f"{fig[k]:.1f} ({fig[k] / ref[k]:.2f}x)" for k in keys)
        out(f"| respond: {name} | {cells} | {fig['threads']:.0f} / {fig['threads_after']:.0f} |\n")


# -- the breakdown -------------------------------------------------------------------------------------

def breakdown(args: argparse.Namespace) -> None:
    import subprocess

    with tempfile.TemporaryDirectory(prefix="respond-mem-") as tmp:
        work = Path(tmp)
        with scripted_upstream(work) as upstream_port:
            for src in [HERE, *args.src]:
                sys.stdout.write(f"\n## {src}\n\n")
                sys.stdout.flush()
                subprocess.run([str(BIN / "python"), str(Path(__file__).with_name("_memory_child.py")),
                                f"http://127.0.0.1:{upstream_port}/v1", f"sqlite:///{work / f'b-{free_port()}.db'}"],
                               check=True, env={**os.environ, "PYTHONPATH": str(src)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, action="append", default=[], help="another tree's src (A/B)")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--compiled", action="store_true", help="run each tree from .pyc files (as installed)")
    ap.add_argument("--breakdown", action="store_true", help="the import-by-import breakdown instead")
    args = ap.parse_args()
    (breakdown if args.breakdown else serve_table)(args)


if __name__ == "__main__":
    main()
