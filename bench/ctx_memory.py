"""Memory of an embedded-model context by `--n-ctx`, side by side: RSS of the first context (with
the weights) and of each further one (weights shared, as the backend's slot pool does).

    .venv/bin/python bench/ctx_memory.py 4096 16384 32768
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

log = logging.getLogger("bench.ctx_memory")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(n_ctx: int) -> None:
    from llama_cpp import Llama

    from respond.backends.llamacpp import default_model_path
    from respond.backends.llamacpp.cache import sharing_weights

    path = str(default_model_path())
    base = _rss_mib()
    first = Llama(model_path=path, n_ctx=n_ctx, verbose=False)
    one = _rss_mib()
    with sharing_weights(first):
        Llama(model_path=path, n_ctx=n_ctx, verbose=False)
    two = _rss_mib()
    sys.stdout.write(f"| {n_ctx} | {one - base:.0f} MiB | {two - one:.0f} MiB |\n")


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1].startswith("--one="):
        measure(int(sys.argv[1].removeprefix("--one=")))
        return
    sys.stdout.write("| n_ctx | first context (with weights) | each further context |\n|---|---|---|\n")
    sys.stdout.flush()
    for n in sys.argv[1:] or ["4096", "16384", "32768"]:  # one process each: RSS starts clean
        subprocess.run([sys.executable, __file__, f"--one={n}"], check=True)


if __name__ == "__main__":
    main()
