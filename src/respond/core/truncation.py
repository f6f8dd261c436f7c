"""`truncation: "auto"`: what every backend drops when a conversation outgrows the context window."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

KEPT_ROLES = ("system", "developer")  # instructions are never dropped
M = TypeVar("M", bound=Mapping[str, object])  # a chat message (only its role is read)


def drop_oldest(messages: list[M], n: int = 1) -> list[M] | None:
    """`messages` without its `n` oldest turns (messages other than instructions), and the tool
    results that this leaves without their call; the instructions stay where they are.  None when
    nothing but the instructions and the latest message would remain."""
    turns = [i for i, m in enumerate(messages) if m.get("role") not in KEPT_ROLES]
    if len(turns) <= 1:
        return None
    rest = turns[min(n, len(turns) - 1):]
    while len(rest) > 1 and messages[rest[0]].get("role") == "tool":
        rest = rest[1:]
    keep = set(rest)
    return [m for i, m in enumerate(messages) if i in keep or m.get("role") in KEPT_ROLES]
