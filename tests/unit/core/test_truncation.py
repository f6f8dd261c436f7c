"""One `drop_oldest` for every backend: turns go oldest first, instructions stay where they are."""

from __future__ import annotations

from typing import Any

from respond.core.truncation import drop_oldest


def m(role: str, content: str = "") -> dict[str, Any]:
    return {"role": role, "content": content}


def test_drops_n_turns_and_orphaned_tool_results() -> None:
    msgs = [m("system", "s"), m("user", "u1"), {"role": "assistant", "tool_calls": [{"id": "1"}]},
            {"role": "tool", "tool_call_id": "1"}, m("user", "u2")]
    assert drop_oldest(msgs) == [msgs[0], msgs[2], msgs[3], msgs[4]]
    assert drop_oldest(msgs, 2) == [msgs[0], msgs[4]]  # the call's result goes with the call


def test_instructions_stay_in_place() -> None:
    msgs = [m("system", "s"), m("user", "u1"), m("developer", "d"), m("user", "u2"), m("assistant", "a")]
    assert drop_oldest(msgs) == [msgs[0], msgs[2], msgs[3], msgs[4]]
    assert drop_oldest(msgs, 10) == [msgs[0], msgs[2], msgs[4]]


def test_nothing_left_to_drop() -> None:
    assert drop_oldest([m("system"), m("user")]) is None
    assert drop_oldest([m("user")]) is None
