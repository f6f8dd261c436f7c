"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole."""

from __future__ import annotations

from typing import Any

import orjson


def frame(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
