"""code_interpreter: time to first output of a code call, cold container and warm, side by side with
references run in the very same bubblewrap sandbox.

    .venv/bin/python bench/code_interpreter.py [--runs 5] [--spare-kernels 1]

Rows (median and max over `--runs`, in ms):
- `python -c` in the sandbox: a fresh sandboxed interpreter printing one line (no state kept): the floor
  of any cold start;
- raw kernel, cold / warm: the sandboxed ipykernel driven directly with jupyter_client (Kernel.start +
  execute, then execute again): what the tool costs without HTTP, engine and store;
- Respond, cold / warm: a real `respond serve` with a scripted model; from sending a streamed request to
  the `code_interpreter_call`'s output_item.done (the item carrying the outputs). Cold = a new chain
  (`container: auto`: a container is made, its kernel is the spare one started ahead, unless
  `--spare-kernels 0`); warm = the next response along the chain (same container and kernel).  The
  scripted model answers in ~0 ms, so this is the tool's overhead; the very first cold call of a
  server (no spare yet) is left out of the samples and printed apart.
Each is measured for `print(1)` and for a matplotlib chart (`plt.plot` + `plt.show()`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Proc, free_port  # noqa: E402

from respond.testing.upstream import ScriptedUpstream  # noqa: E402
from respond.tools.code_interpreter.kernel import Kernel  # noqa: E402
from respond.tools.code_interpreter.sandbox import ENV, Sandbox  # noqa: E402

CODES = {"print(1)": "print(1)",
         "chart": "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"}


def _row(label: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{label:52} median {statistics.median(ms):8.1f} ms   max {max(ms):8.1f} ms"


def plain_python(sandbox: Sandbox, code: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="rb-") as tmp:
            sandbox.give(Path(tmp))
            with sandbox.launch_fds() as fd:
                cmd = sandbox.command(Path(tmp), None, ["-c", code], seccomp_fd=fd)
                t = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, check=False, env=ENV,
                                      pass_fds=() if fd is None else (fd,))
            out.append(time.perf_counter() - t)
            assert done.returncode == 0, done.stderr
    return out


async def raw_kernel(sandbox: Sandbox, code: str, runs: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="rb-") as tmp:
            (Path(tmp) / "d").mkdir()
            (Path(tmp) / "s").mkdir()
            sandbox.give(Path(tmp) / "d")
            sandbox.give(Path(tmp) / "s")
            kernel = Kernel(sandbox, Path(tmp) / "d", Path(tmp) / "s")
            t = time.perf_counter()
            await kernel.start()
            first = await kernel.execute(code)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            again = await kernel.execute(code)
            warm.append(time.perf_counter() - t)
            assert first.error is None and again.error is None, (first.logs, again.logs)
            await kernel.stop()
    return cold, warm


def first_output(http: httpx.Client, upstream: httpx.Client, code: str, previous: str | None) -> tuple[float, str]:
    """Seconds from the request to the code call's output_item.done; and the response id."""
    replies = [{"tool_calls": [{"name": "python", "arguments": orjson.dumps({"code": code}).decode()}]},
               {"content": "done"}]
    upstream.post("/_control/replies", json={"replies": replies}).raise_for_status()
    body = {"model": "scripted", "input": "run", "stream": True, "include": ["code_interpreter_call.outputs"],
            "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}], "previous_response_id": previous}
    t, took, rid = time.perf_counter(), None, ""
    with http.stream("POST", "/v1/responses", json=body) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            ev = orjson.loads(line[6:])
            if ev["type"] == "response.created":
                rid = ev["response"]["id"]
            if took is None and ev["type"] == "response.output_item.done" and \
                    ev["item"]["type"] == "code_interpreter_call":
                took = time.perf_counter() - t
                assert ev["item"]["outputs"], ev["item"]
    assert took is not None
    return took, rid


async def main(runs: int, spares: int) -> None:
    sandbox = Sandbox()
    assert sandbox.probe(), sandbox.reason
    up = await ScriptedUpstream().start()
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="rb-")) / "respond.log"
    server = Proc("respond", [sys.executable, "-m", "respond", "serve", "--port", str(port), "--embedded", "off",
                              "--upstream", up.base_url, "--database", f"sqlite:///{log.parent / 'r.db'}",
                              "--code-spare-kernels", str(spares)], log)
    try:
        await asyncio.to_thread(server.wait_ready, port, "/health", 60)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        control = httpx.Client(base_url=up.base_url.removesuffix("/v1"), timeout=10)
        took, _ = await asyncio.to_thread(first_output, http, control, "print(1)", None)
        print(_row(f"Respond: the server's first call (spares={spares})", [took]))
        for name, code in CODES.items():
            print(f"-- {name}")
            print(_row("python -c in the same sandbox (reference)", plain_python(sandbox, code, runs)))
            cold, warm = await raw_kernel(sandbox, code, runs)
            print(_row("raw sandboxed kernel, cold (reference)", cold))
            print(_row("raw sandboxed kernel, warm (reference)", warm))
            rcold, rwarm = [], []
            for _ in range(runs):
                await asyncio.sleep(3 if spares else 0)  # the spare kernel started after the last cold call
                took, rid = await asyncio.to_thread(first_output, http, control, code, None)
                rcold.append(took)
                took, _ = await asyncio.to_thread(first_output, http, control, code, rid)
                rwarm.append(took)
            print(_row(f"Respond code_interpreter, cold container (spares={spares})", rcold))
            print(_row("Respond code_interpreter, warm container", rwarm))
    finally:
        server.stop()
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)  # the upstream's closed streams
        await up.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spare-kernels", type=int, default=1, help="the server's --code-spare-kernels")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.spare_kernels))
