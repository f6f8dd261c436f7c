"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole."""

from __future__ import annotations

import orjson

from respond.engine.events import Event


def frame(event: Event) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
