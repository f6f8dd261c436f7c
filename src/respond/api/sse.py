"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole."""

from __future__ import annotations

from typing import Any

import orjson


def frame(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
