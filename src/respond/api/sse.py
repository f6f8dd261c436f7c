"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole."""

from __future__ import annotations

import orjson

from respond.protocol.shapes import StreamEvent


def frame(event: StreamEvent) -> bytes:
    kind = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
