"""Shared benchmark plumbing: server processes, a raw asyncio HTTP/1.1 client, closed-loop load.

The load client is deliberately minimal (one keep-alive connection per simulated user, a request
written as one buffer, the reply read by content-length or chunked framing, no JSON parsing on
the hot path) so that its own cost is small and the same on both sides of a comparison: an
httpx.AsyncClient spends ~0.3-0.5 ms of CPU per request on this machine, and more per SSE event,
which would inflate the side that sends more bytes (see `--client httpx` in gateway.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A server in its own process group, its output in a log file; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log = name, argv, log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT,
                                      env={**os.environ, **(env or {})}, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, port: int, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            try:
                status, _ = asyncio.run(_once(port, "GET", path, None))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready on :{port}{path} after {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._out.close()


@contextmanager
def scripted_upstream(work: Path) -> Iterator[int]:
    """Respond's scripted chat-completions upstream (requests not recorded) on a free port; its port."""
    port = free_port()
    up = Proc("upstream", [sys.executable, "-m", "respond.testing.upstream", "--port", str(port), "--no-record"],
              work / "upstream.log")
    try:
        up.wait_ready(port, "/v1/models")
        yield port
    finally:
        up.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by everything else on the machine while a figure is taken (other sessions, builds):
    total busy time from /proc/stat minus the time of our own process trees, in cores."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids + [os.getpid()]
        self._t0 = (time.monotonic(), self._busy(), self._ours())

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    def _ours(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def others(self) -> float:
        t0, busy0, ours0 = self._t0
        wall = time.monotonic() - t0
        return max(0.0, ((self._busy() - busy0) - (self._ours() - ours0)) / wall) if wall > 0 else 0.0


async def wait_quiet(pids: list[int], seconds: float, limit: float = 0.25) -> None:
    """Wait (at most `seconds`) until other processes use less than `limit` cores over 2 s."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        meter = CpuMeter(pids)
        await asyncio.sleep(2)
        if (busy := meter.others()) < limit:
            return
        print(f"  other processes use {busy:.2f} cores; waiting ...", flush=True)


# -- the client ------------------------------------------------------------------------------------

class Conn:
    """One keep-alive HTTP/1.1 connection.  `request` returns (status, body, seconds to first byte)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except ConnectionError:
                pass

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes, float]:
        assert self.reader is not None and self.writer is not None
        t0 = time.perf_counter()
        head = (f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body or b'')}\r\n\r\n").encode()
        self.writer.write(head + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        ttfb = time.perf_counter() - t0
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        if b"content-length" in headers:
            return status, await self.reader.readexactly(int(headers[b"content-length"])), ttfb
        parts = []
        first = True
        while True:  # chunked
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                break
            parts.append((await self.reader.readexactly(size + 2))[:-2])
            if first:
                ttfb, first = time.perf_counter() - t0, False
        return status, b"".join(parts), ttfb


async def _once(port: int, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    c = await Conn(port).open()
    try:
        status, data, _ = await c.request(method, path, body)
        return status, data
    finally:
        await c.close()


async def post_json(conn: Conn, path: str, payload: object) -> tuple[int, dict, float]:
    t0 = time.perf_counter()
    status, data, _ = await conn.request("POST", path, orjson.dumps(payload))
    return status, orjson.loads(data), time.perf_counter() - t0


# -- closed-loop load ------------------------------------------------------------------------------

@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, whole reply read
    ttfb: list[float] = field(default_factory=list)  # seconds to the first body byte (chunked) / head
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds the servers spent meanwhile (filled in by the caller)
    errors: int = 0
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request, ms."""
        return 1000 * self.cpu / len(self.latencies) if self.latencies else float("nan")

    def merge(self, other: Result) -> None:
        self.latencies += other.latencies
        self.ttfb += other.ttfb
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))] * 1000


async def load(port: int, path: str, body: bytes, ok: Callable[[int, bytes], bool], conc: int,
               seconds: float, max_requests: int = 1_000_000) -> Result:
    """`conc` users, each sending the same request back to back for `seconds` (closed loop)."""
    conns = [await Conn(port).open() for _ in range(conc)]
    res = Result()
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    async def user(c: Conn) -> None:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            status, data, ttfb = await c.request("POST", path, body)
            dt = time.perf_counter() - t0
            if ok(status, data):
                res.latencies.append(dt)
                res.ttfb.append(ttfb)
            else:
                res.errors += 1
                res.first_error = res.first_error or f"{status} {data[:200]!r}"

    start = time.perf_counter()
    try:
        await asyncio.gather(*(user(c) for c in conns))
    finally:
        res.seconds = time.perf_counter() - start
        await asyncio.gather(*(c.close() for c in conns))
    return res


async def load_httpx(port: int, path: str, body: bytes, ok: Callable[[int, bytes], bool], conc: int,
                     seconds: float, max_requests: int = 1_000_000) -> Result:
    """The same closed loop through httpx.AsyncClient (one client per user), for comparison."""
    import httpx

    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0,
                                 headers={"content-type": "application/json"}) for _ in range(conc)]
    res = Result()
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    async def user(c: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            ttfb = None
            chunks = []
            async with c.stream("POST", path, content=body) as r:
                async for chunk in r.aiter_raw():
                    ttfb = ttfb if ttfb is not None else time.perf_counter() - t0
                    chunks.append(chunk)
            dt = time.perf_counter() - t0
            data = b"".join(chunks)
            if ok(r.status_code, data):
                res.latencies.append(dt)
                res.ttfb.append(ttfb or dt)
            else:
                res.errors += 1
                res.first_error = res.first_error or f"{r.status_code} {data[:200]!r}"

    start = time.perf_counter()
    try:
        await asyncio.gather(*(user(c) for c in clients))
    finally:
        res.seconds = time.perf_counter() - start
        await asyncio.gather(*(c.aclose() for c in clients))
    return res


# -- profiling -------------------------------------------------------------------------------------

def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of `pid`."""
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def pyspy_start(pid: int, seconds: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes] | None:
    """py-spy (from the venv, else PATH) sampling the threads of `pid` that hold the GIL (= Python
    CPU time; sqlite3's C calls release the GIL and are counted by `thread_cpu` instead), raw
    collapsed stacks; None if py-spy is absent."""
    import shutil
    import sys

    exe = Path(sys.executable).parent / "py-spy"
    spy = str(exe) if exe.exists() else shutil.which("py-spy")
    if spy is None:
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate),
            "--format", "raw", "--gil", "--nolineno", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def pyspy_summary(path: Path, top: int = 15) -> list[str]:
    """Self time by function, inclusive time by function, self time by package (% of GIL samples)."""
    samples: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            samples.append((stack.split(";"), int(n)))
    total = sum(n for _, n in samples) or 1
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    pkg: dict[str, int] = {}
    for frames, n in samples:
        own[frames[-1]] = own.get(frames[-1], 0) + n
        file = frames[-1].rpartition("(")[2].rstrip(")")
        name = file.split("/")[0] if "/" in file else "stdlib"
        if name in ("asyncio", "concurrent", "json", "logging", "email", "urllib", "importlib"):
            name = "stdlib"
        pkg[name] = pkg.get(name, 0) + n
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + n

    def rows(d: dict[str, int], k: int, skip_over: float = 1.01) -> list[str]:
        picked = sorted(((v, name) for name, v in d.items() if v / total < skip_over), reverse=True)
        return [f"  {100 * v / total:5.1f}%  {name}" for v, name in picked[:k]]

    return ([f"{total} samples holding the GIL (= 100%)", "self time by function:"] + rows(own, top)
            + ["inclusive time by function (frames on >= 80% of samples left out):"]
            + rows(incl, top + 15, 0.80)
            + ["self time by package:"] + rows(pkg, 10))
