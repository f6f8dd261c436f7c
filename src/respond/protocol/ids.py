"""Object ids: a type prefix and 48 hex digits, as the API's own (`resp_...`, `msg_...`, `fc_...`).

The first 12 digits are the creation time in milliseconds, the other 36 random (144 bits): ids made
later sort after earlier ones, as OpenAI's do (theirs start with the creation time in seconds).  So a
new row's key lands at the end of each index on ids (responses, items), beside the previous one, and
not on a random page of it: a write transaction changes a few shared pages instead of one random
page per index and row (SQLite: 23 -> 15 page writes per stored response, BENCHMARKS.md issue 20).
`token_id` is a shorter id that is random only, for the ids that were cut to a shorter length.
The random digits are `os.urandom`'s, read directly (what `secrets.token_hex` does through three
Python calls; three ids a request).
"""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{os.urandom(18).hex()}"


def token_id(prefix: str, digits: int, sep: str = "_") -> str:
    """`prefix`, `sep` and `digits` random hex digits."""
    return f"{prefix}{sep}{os.urandom((digits + 1) // 2).hex()[:digits]}"
