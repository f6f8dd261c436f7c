"""The command line of bench/peers.py (its docstring is the help text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from _peers_servers import SPECS

BASE_REQUESTS = {1: 300, 8: 800, 64: 1600}


def parse(doc: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--servers", default=",".join(SPECS), help="comma-separated subset of: " + ", ".join(SPECS)
    )
    p.add_argument("--scenarios", default="chain,nonstream,stream,retrieve")
    p.add_argument("--concurrency", default="1,8,64", help="concurrent clients for the create scenarios")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help=f"multiplies the request counts (at 1.0: {BASE_REQUESTS} per concurrency, 2000 GETs)",
    )
    p.add_argument("--max-seconds", type=float, default=40.0, help="cap on one measured scenario")
    p.add_argument(
        "--stores",
        default="sqlite",
        help="comma-separated: sqlite, postgres (a pass per store for the servers that can use it: "
        "Respond and agentic-api; each gets a fresh database made on --postgres, dropped after)",
    )
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", metavar="URL")
    p.add_argument("--chain-turns", type=int, default=50)
    p.add_argument(
        "--stored", type=int, default=100_000, help="responses stored before the retrieve scenario"
    )
    p.add_argument("--retrieve-concurrency", type=int, default=8)
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "respond" / "peers")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory, removed after")
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="after Respond's create scenarios at --profile-concurrency, run each once more under py-spy; "
        "raw stacks go to DIR, a summary is printed",
    )
    p.add_argument("--profile-concurrency", type=int, default=8)
    p.add_argument(
        "--respond-src",
        type=Path,
        default=None,
        help="import Respond from this src directory (e.g. a `git archive` snapshot); default: the work tree",
    )
    return p.parse_args()
