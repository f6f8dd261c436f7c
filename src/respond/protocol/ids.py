"""Object ids: a type prefix and random hex, as the API's own (`resp_...`, `msg_...`, `fc_...`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"
