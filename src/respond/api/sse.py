"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole.

Stream obfuscation (`stream_options.include_obfuscation`, on unless a client turns it off, as on the
hosted API): every delta event gets an `obfuscation` field of random alphanumeric padding, so that
the size of what goes over the wire no longer tells the length of the text in it.
"""

from __future__ import annotations

import secrets

import orjson

from respond.protocol.shapes import StreamEvent

PAD_BLOCK = 32  # a delta's data is padded to a multiple of this, plus 0..PAD_BLOCK-1 more at random


def padding(size: int) -> str:
    """Random alphanumeric padding for a payload of `size` bytes (unpredictable: `secrets`)."""
    count = PAD_BLOCK - size % PAD_BLOCK + secrets.randbelow(PAD_BLOCK)
    return secrets.token_hex((count + 1) // 2)[:count]


def payload(event: StreamEvent, obfuscate: bool = False) -> bytes:
    """An event's JSON; a delta event's with its `obfuscation` padding when `obfuscate`."""
    data = orjson.dumps(event)
    if obfuscate and event["type"].endswith(".delta"):
        data = data[:-1] + b',"obfuscation":"' + padding(len(data)).encode() + b'"}'
    return data


def frame(event: StreamEvent, obfuscate: bool = False) -> bytes:
    kind = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + payload(event, obfuscate) + b"\n\n"


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
