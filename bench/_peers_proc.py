"""Processes of the bench: start one in its own group, wait for it, measure it, stop it by its id.

Resident memory is summed over the process tree; `Meter` tells how much CPU *other* processes
used during a scenario, since the machine may be shared with a test suite.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from _peers_servers import API_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One started server (or the upstream): its process group, log and memory."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, url: str, timeout: float = 90.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.popen.poll() is not None:
                raise RuntimeError(f"exited with {self.popen.returncode}; see {self.log}")
            try:
                r = httpx.get(url, headers={"authorization": f"Bearer {API_KEY}"}, timeout=2)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"not ready after {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self._out.close()


def tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_rss_kb(root: int) -> int:
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


class Meter:
    """CPU used on the machine by anything but the bench (its client, the upstream, the server).

    The machine is shared: a test suite running next to the bench skews every figure, so each
    scenario reports how many cores others kept busy meanwhile.
    """

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, *roots: int) -> None:
        self.roots = roots

    def rss_mb(self) -> float:
        """Resident memory of the server (the first root) and its children."""
        return tree_rss_kb(self.roots[0]) / 1024

    def server_ticks(self) -> int:
        """CPU ticks (user + system, all threads) of the server (the first root) and its children."""
        return self._ticks(self.roots[:1])

    def _ours(self) -> int:
        return self._ticks(self.roots)

    @staticmethod
    def _ticks(roots: tuple[int, ...]) -> int:
        ticks = 0
        for root in roots:
            for pid in tree(root):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    ticks += int(fields[11]) + int(fields[12])
                except (OSError, IndexError, ValueError):
                    continue
        return ticks

    def mark(self) -> tuple[float, int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
        return time.monotonic(), busy, self._ours()

    def foreign_cores(self, a: tuple[float, int, int], b: tuple[float, int, int]) -> float:
        return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / self.HZ / max(1e-6, b[0] - a[0]))
