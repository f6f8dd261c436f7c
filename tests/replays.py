"""What a replay of a stored foreground response can reproduce of its live stream.

Only background runs store their events (engine/record/persistence.py); a foreground response's stream is
replayed from the stored response (engine/stream/events.py `replay`).  A stored response does not say how
its text was chunked, so a replay carries each part's text (a call's arguments, a custom tool's input)
in one delta, where the part's first delta went live, and numbers the events that follow accordingly.
`as_replayed(live)` is the live stream so: every other event must be equal, field for field.
The random obfuscation padding of deltas (api/sse.py) differs on every delivery, live or replayed.
"""

from __future__ import annotations

from typing import Any

_TEXT_DELTAS = {"response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta",
                "response.reasoning_summary_text.delta", "response.function_call_arguments.delta",
                "response.custom_tool_call_input.delta"}


def as_replayed(live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live events with each part's deltas joined into its first, renumbered, without padding."""
    out: list[dict[str, Any]] = []
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in live:
        ev = {k: v for k, v in event.items() if k != "obfuscation"}
        if ev["type"] in _TEXT_DELTAS:
            key = (ev["type"], ev.get("item_id"), ev.get("content_index"), ev.get("summary_index"))
            if key in first:
                joined = first[key]
                joined["delta"] += ev["delta"]
                if "logprobs" in ev:
                    joined["logprobs"] = [*joined["logprobs"], *ev["logprobs"]]
                continue
            first[key] = ev
        out.append(ev)
    return [{**ev, "sequence_number": n} for n, ev in enumerate(out)]


def without_padding(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in ev.items() if k != "obfuscation"} for ev in events]
