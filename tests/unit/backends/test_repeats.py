"""Degenerate output: a block written again and again is found as soon as it repeats, whatever
the phase, and short legitimate repetition (rules, zeros) never is."""

from __future__ import annotations

from typing import Any

from respond.backends.llamacpp.backend import _Shaper
from respond.backends.llamacpp.repeats import MIN_BLOCK, RepeatWatch, repeated_block
from respond.backends.llamacpp.runner import Piece, Plan
from respond.backends.llamacpp.toolparse import ToolCallSplitter
from respond.core.types import Finish, TextDelta, ToolCallDelta, ToolSpec, Usage

CALL = '<tool_call>\n{"name": "file_search", "arguments": {"query": "capital of Zanzibaria"}}\n</tool_call>\n'
LINE = "The answer is 42.\n"


def test_a_repeated_call_is_found_after_three_copies() -> None:
    assert repeated_block("Sure. " + CALL * 2) == 0
    assert repeated_block("Sure. " + CALL * 3) == len(CALL)
    assert repeated_block(CALL * 2, held=True) == len(CALL)  # held back as a call: twice is enough
    assert repeated_block(LINE * 3, held=True) == 0


def test_a_short_line_needs_four_copies() -> None:
    assert repeated_block(LINE * 3) == 0
    assert repeated_block(LINE * 4) == len(LINE)


def test_short_or_no_repetition_is_legitimate() -> None:
    assert repeated_block("-" * 200) == 0
    assert repeated_block("0, " * 100) == 0
    assert repeated_block("ab" * 8 + "x") == 0
    assert repeated_block("Rivers run to the sea. Bridges cross them. " * 2 + "Glaciers carve valleys.") == 0


def test_fed_piece_by_piece_it_stops_within_a_piece() -> None:
    watch, text = RepeatWatch(), "Sure. " + CALL * 6
    for end in range(3, len(text), 3):
        block = watch.feed(text[end - 3:end])
        if block:
            break
    assert block == len(CALL) and end <= len("Sure. ") + 3 * len(CALL) + 3
    kept = watch.text[: len(watch.text) - watch.surplus(block)]
    assert kept.count("<tool_call>") == 1 and block >= MIN_BLOCK


def test_the_splitter_drops_what_it_holds() -> None:
    splitter = ToolCallSplitter()
    assert splitter.feed("Let me look. " + CALL * 2) == "Let me look. "
    splitter.drop_tail(len(CALL))
    assert splitter.finish() == CALL


def shape(tool_mode: str, pieces: list[str]) -> tuple[list[Any], bool]:
    plan = Plan(tokens=[1], max_new=500, tool_mode=tool_mode, tools=[ToolSpec(name="file_search")], parallel=True)
    shaper = _Shaper(plan)
    deltas: list[Any] = []
    for piece in pieces:
        deltas += shaper.feed(Piece(piece))
        if shaper.repeated:
            break
    return deltas + shaper.finish("cancelled", Usage(1, len(pieces))), bool(shaper.repeated)


def test_repeated_text_ends_the_output_short() -> None:
    deltas, stopped = shape("none", [LINE] * 10)
    assert stopped and "".join(d.text for d in deltas if isinstance(d, TextDelta)) == LINE * 4
    assert deltas[-1] == Finish("length", Usage(1, 10))


def test_a_call_written_again_is_made_once() -> None:
    deltas, stopped = shape("auto", [CALL[:30], CALL[30:]] * 5)
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert stopped and [c.name for c in calls if c.name] == ["file_search"]
    assert not [d for d in deltas if isinstance(d, TextDelta) and d.text]
    assert deltas[-1].reason == "tool_calls"
