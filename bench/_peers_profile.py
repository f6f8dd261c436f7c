"""Sampling Respond with py-spy while a scenario runs (`peers.py --profile DIR`).

py-spy lives in its own venv under the cache (`_tools`); it attaches to the running server by
pid, samples only threads holding the GIL (so the figures are where Python time goes, not where
threads wait), and writes collapsed stacks that `summary` folds into percentages: self time by
package and inclusive time of Respond's own functions.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
from pathlib import Path

from _peers_servers import ensure_venv

_FRAME = re.compile(r" \((.*?):\d+\)")


class Sampler:
    def __init__(self, cache: Path, log: Path) -> None:
        self.exe = ensure_venv(cache, "_tools", "py-spy", log) / "bin" / "py-spy"
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: Path | None = None

    def start(self, pid: int, out: Path, seconds: float) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [
                str(self.exe),
                "record",
                "--gil",
                "-r",
                "250",
                "-d",
                str(int(seconds) + 1),
                "-f",
                "raw",
                "-o",
                str(out),
                "-p",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> Path | None:
        """Stop sampling (py-spy writes its file on SIGINT) and return the file, if any."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return self.out if self.out and self.out.exists() else None


def summary(raw: Path, top: int = 18) -> str:
    incl: collections.Counter[str] = collections.Counter()
    by_pkg: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = [_FRAME.sub(r" (\1)", f) for f in stack.split(";")]
        for f in set(frames):
            incl[f] += int(n)
        m = re.search(r"\((.*?)\)", frames[-1])
        by_pkg[(m.group(1) if m else frames[-1]).split("/")[0]] += int(n)
    if not total:
        return "no samples"
    pkgs = ", ".join(f"{k or '?'} {v / total:.0%}" for k, v in by_pkg.most_common(8))
    own = [(k, v) for k, v in incl.most_common() if "(respond/" in k and "(respond/cli.py)" not in k][:top]
    lines = [
        f"{total} samples holding the GIL; self time by package: {pkgs}",
        "inclusive, Respond's functions:",
    ]
    lines += [f"  {v / total:6.1%}  {k}" for k, v in own]
    return "\n".join(lines)
