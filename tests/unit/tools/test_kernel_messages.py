"""What the sandboxed kernel says is read as untyped JSON: the model's code runs there, so a message
of the wrong shape is narrowed away, never trusted (it used to reach `.get` and `str.join` as is)."""

from __future__ import annotations

from respond.tools.code_interpreter.kernel import Outcome, _collect


def test_well_formed_messages_are_collected() -> None:
    out = Outcome()
    assert _collect(out, "stream", {"name": "stdout", "text": "hi\n"})
    assert _collect(out, "execute_result", {"data": {"text/plain": "42"}})
    assert _collect(out, "error", {"ename": "ValueError", "evalue": "bad", "traceback": ["\x1b[31mboom\x1b[0m"]})
    assert out.logs == "hi\n42\nboom\n" and out.error == "ValueError: bad"
    assert not _collect(out, "status", {"execution_state": "idle"})


def test_hostile_shapes_are_narrowed_not_crashed_on() -> None:
    out = Outcome()
    assert _collect(out, "stream", {"text": ["not", "a", "string"]})
    assert _collect(out, "display_data", {"data": "not an object"})
    assert _collect(out, "error", {"traceback": [1, {"x": 2}, "kept"], "ename": None})
    assert _collect(out, "error", {"traceback": "not a list"})
    assert out.logs == "kept\n\n" and out.images == []
