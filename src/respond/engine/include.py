"""What `include` reveals of a stored response's output items (GET, and a drained run's answer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from respond.protocol.items import strip_for_include


def with_include(response: dict[str, Any], include: Sequence[str] | None) -> dict[str, Any]:
    keep = set(include or [])
    response["output"] = [strip_for_include(it, keep) for it in response.get("output", [])]
    return response
