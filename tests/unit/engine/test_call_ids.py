"""Tool outputs answer known calls (engine/assemble/call_ids.py); the history is read only when needed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respond.engine.assemble.call_ids import check_outputs_answer_calls
from respond.protocol.errors import APIError


class _Unread(list[dict[str, Any]]):
    """A history that must not be read (a long chain: reading it costs on every turn)."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        raise AssertionError("the history was read")


def test_an_input_without_outputs_does_not_read_the_history() -> None:
    check_outputs_answer_calls(_Unread(), [{"type": "message", "role": "user", "content": "hi"}])


def test_an_output_is_checked_against_the_history_and_the_input() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    answer = {"type": "function_call_output", "call_id": "c1", "output": "ok"}
    check_outputs_answer_calls([call], [answer])
    check_outputs_answer_calls([], [call, answer])
    with pytest.raises(APIError) as caught:
        check_outputs_answer_calls([], [{"type": "message", "role": "user", "content": "hi"}, answer])
    assert caught.value.param == "input[1].call_id"
