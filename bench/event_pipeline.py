"""The event pipeline's own cost per streamed response, side by side with a reference tree (issue 21).

    .venv/bin/python bench/event_pipeline.py --reference /path/to/other/checkout/src [--n 2000 --rounds 5]

One response as `Run` drives it: created, in_progress, a reasoning item (20 deltas, summary mirrored),
a message of 100 text deltas, a function call (10 argument deltas), close, completed; copies on (a
streamed run), each event serialized with orjson as the SSE edge does.  The same script runs under
this tree's `src` and under `--reference` (a `git archive` of another commit, say), in alternating
subprocesses (--rounds each), so that a busy machine weighs on both; it prints the best microseconds
per response of each and their ratio.  Only the `EventBuilder` API both trees share is used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "src"


def one_response() -> int:
    import orjson

    from respond.core.types import ReasoningDelta, TextDelta, ToolCallDelta
    from respond.engine.assemble.reasoning import ReasoningStream
    from respond.engine.stream.events import EventBuilder

    response: Any = {"id": "resp_1", "object": "response", "status": "in_progress", "output": [],
                     "model": "m", "tools": [], "metadata": {}, "usage": None}
    b = EventBuilder(response, include=set(), reasoning=ReasoningStream(summary=True))
    events: list[Any] = [b.lifecycle("response.created"), b.lifecycle("response.in_progress")]
    for i in range(20):
        events += b.reason(ReasoningDelta(f"thought {i} "))
    for i in range(100):
        events += b.text(TextDelta(f"word{i} "))
    events += b.tool_call(ToolCallDelta(0, '{"a":', "call_1", "f"))
    for i in range(9):
        events += b.tool_call(ToolCallDelta(0, f' "{i}"' if i else ' "x"'))
    events += b.close_all()
    response["status"] = "completed"
    events.append(b.lifecycle("response.completed"))
    return sum(len(orjson.dumps(ev)) for ev in events)


def child(n: int) -> None:
    one_response()
    start = time.perf_counter()
    for _ in range(n):
        one_response()
    sys.stdout.write(f"{(time.perf_counter() - start) / n * 1e6:.1f}\n")


def run(src: Path, n: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--child", str(n)], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, help="the other tree's src directory")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    if args.reference is None:
        ap.error("--reference is required")
    ours, theirs = [], []
    for _ in range(args.rounds):
        theirs.append(run(args.reference, args.n))
        ours.append(run(HERE, args.n))
    sys.stdout.write(f"event pipeline, us per streamed response (best of {args.rounds} x {args.n}):\n"
                     f"  reference {args.reference}: {min(theirs):.1f}   (all: {theirs})\n"
                     f"  this tree {HERE}: {min(ours):.1f}   (all: {ours})\n"
                     f"  ratio this/reference: {min(ours) / min(theirs):.2f}x\n")


if __name__ == "__main__":
    main()
