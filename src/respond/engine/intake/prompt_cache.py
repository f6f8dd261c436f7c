"""`prompt_cache_options.comparison_response_id`: `Response.prompt_cache_diagnostics` from what Respond knows.

Respond knows the compared response (the same owner's, stored) and both responses' usage: the
`cached_tokens` the backend reported (the embedded model's slot reuse, an upstream's own count).
The diagnosis, made when the model's turn finishes:

- the compared response is not found (another owner's, deleted, never stored): `comparison_response_not_found`;
- the backend reported no usage: `unavailable`;
- some input tokens came from the cache: `cache_hit`;
- none did: `cache_miss`, with `reason` the first of model, prompt_cache_key, tools, text format,
  reasoning effort, verbosity and service tier that differs between the two responses, else
  `input_changed`; `cache_missed_tokens` the input tokens read again; `comparison_reusable_tokens`
  the compared response's input tokens (the prompt the backend read, and could have kept, for it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from respond.core.types import Delta, Finish, Usage
from respond.engine.record.persistence import row
from respond.engine.stream.operations import Operation
from respond.protocol.shapes import ResponseDict

Row = dict[str, Any]
Step = Delta | Operation

# (reason, how it reads from a stored response), in the order a miss is explained
CHANGES: list[tuple[str, Callable[[Row], Any]]] = [
    ("model_changed", lambda r: r.get("model")),
    ("prompt_cache_key_changed", lambda r: r.get("prompt_cache_key")),
    ("tools_changed", lambda r: r.get("tools") or []),
    ("text_format_changed", lambda r: (r.get("text") or {}).get("format")),
    ("reasoning_effort_changed", lambda r: (r.get("reasoning") or {}).get("effort")),
    ("verbosity_changed", lambda r: (r.get("text") or {}).get("verbosity")),
    ("service_tier_changed", lambda r: r.get("service_tier")),
]


def diagnose(response: Row, comparison: Row | None, usage: Usage | None) -> Row:
    if comparison is None:
        return {"type": "comparison_response_not_found"}
    if usage is None:
        return {"type": "unavailable"}
    if usage.cached_tokens > 0:
        return {"type": "cache_hit"}
    reason = next((name for name, read in CHANGES if read(response) != read(comparison)), "input_changed")
    reusable = (comparison.get("usage") or {}).get("input_tokens")
    return {"type": "cache_miss", "reason": reason, "cache_missed_tokens": usage.input_tokens - usage.cached_tokens,
            "comparison_reusable_tokens": reusable if isinstance(reusable, int) else None}


async def with_diagnostics(steps: AsyncIterator[Step], response: ResponseDict,
                           comparison: Row | None) -> AsyncIterator[Step]:
    """`steps`, with the diagnosis written into `response` when the turn finishes (before the terminal event)."""
    async for step in steps:
        if isinstance(step, Finish):
            response["prompt_cache_diagnostics"] = diagnose(row(response), comparison, step.usage)
        yield step
