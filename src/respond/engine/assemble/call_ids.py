"""Every tool output a client sends answers a call the model made.

The hosted API refuses a `function_call_output` whose `call_id` names no call in the response's
context ("No tool call found for function call output with call_id ..."); so does Respond, for
every `*_output` item type of the item table (`context == "output"`): the call must be in the
history (the chain, the conversation or a WebSocket's connection state) or in the same input.
A context holding a `compaction` item is not checked: the calls it summarises are sealed in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from respond.protocol.errors import invalid
from respond.protocol.item_types import ITEM_TYPES

Item = dict[str, Any]


def _calls(items: Iterable[Item]) -> set[str] | None:
    """The ids a call item may be answered by; None when a compaction item hides some."""
    ids: set[str] = set()
    for item in items:
        spec = ITEM_TYPES.get(item.get("type", ""))
        if spec is None:
            continue
        if spec.context == "compaction":
            return None
        if spec.context == "call":
            for key in ("call_id", "id"):  # local_shell_call_output names its call by the call's id
                value = item.get(key)
                if isinstance(value, str):
                    ids.add(value)
    return ids


def check_outputs_answer_calls(history: list[Item], new_items: list[Item]) -> None:
    """A 400 naming `input[i].call_id` for the first output item that answers no known call.  The
    history is read only when the input holds an output item (most turns hold none)."""
    outputs = [(i, item, spec) for i, item in enumerate(new_items)
               if (spec := ITEM_TYPES.get(item.get("type", ""))) is not None and spec.context == "output"]
    if not outputs:
        return
    known = _calls([*history, *new_items])
    if known is None:
        return
    for i, item, spec in outputs:
        call_id = item.get(spec.call_id_key)
        if call_id not in known:
            raise invalid(f"No tool call found for {spec.type} with {spec.call_id_key} {call_id}.",
                          f"input[{i}].{spec.call_id_key}", "invalid_value")
