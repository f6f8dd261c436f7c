"""In-process, no model: the embedded backend's `<think>` parsing (a thinking model's stream
becomes reasoning deltas then text, whatever the piece boundaries) and the reasoning item's events."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from respond.backends.llamacpp.backend import _Shaper
from respond.backends.llamacpp.runner import Piece, Plan, _thinking
from respond.backends.llamacpp.template import ChatTemplate, normalize_messages
from respond.backends.llamacpp.think import ThinkSplitter
from respond.core.types import Finish, Generation, ReasoningDelta, TextDelta, ToolCallDelta, ToolSpec, Usage

OUTPUT = "<think>\nThe user says hi.\nGreet back.\n</think>\n\nHello there! <think> is a tag."


def _split(text: str, size: int, inside: bool = False) -> tuple[str, str]:
    splitter = ThinkSplitter(inside=inside)
    segments = []
    for i in range(0, len(text), size):
        segments += splitter.feed(text[i : i + size])
    segments += splitter.finish()
    reasoning = "".join(t for k, t in segments if k == "reasoning")
    answer = "".join(t for k, t in segments if k == "text")
    return reasoning, answer


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_think_split_at_any_boundary(size):
    assert _split(OUTPUT, size) == ("The user says hi.\nGreet back.", "Hello there! <think> is a tag.")


@pytest.mark.parametrize(("text", "inside", "expected"), [
    ("No thinking here.", False, ("", "No thinking here.")),
    ("  <think>\n\n</think>\n\nAnswer", False, ("", "Answer")),  # Qwen3 with thinking off
    ("Reasoning from the prompt's open tag</think>Answer", True, ("Reasoning from the prompt's open tag", "Answer")),
    ("<think>cut off by max_output_tokens", False, ("cut off by max_output_tokens", "")),
    ("<thin", False, ("", "<thin")),  # never a tag: text after all
    ("The answer mentions <think> later.", False, ("", "The answer mentions <think> later.")),
    ("<think>a < b and </thinking> is not the end</think>ok", False, ("a < b and </thinking> is not the end", "ok")),
])
def test_think_cases(text, inside, expected):
    for size in (1, 4, len(text)):
        assert _split(text, size, inside) == expected


def _shape(pieces: list[str], **plan: object) -> list[object]:
    shaper = _Shaper(Plan(tokens=[1], max_new=100, tool_mode=str(plan.pop("tool_mode", "none")),
                          tools=list(cast(list[Any], plan.pop("tools", []))), parallel=True, **plan))  # type: ignore[arg-type]
    out: list[object] = []
    for p in pieces:
        out += shaper.feed(Piece(p, {"token": p, "logprob": -1.0, "bytes": [], "top_logprobs": []}))
    return out + shaper.finish("stop", Usage(1, len(pieces)))


def test_shaper_streams_reasoning_then_text_with_answer_logprobs():
    pieces = ["<think>", "\n", "Hmm", ",", " ok", "\n", "</think>", "\n\n", "Hi", "!"]
    deltas = _shape(pieces, logprobs=True)
    reasoning = [d for d in deltas if isinstance(d, ReasoningDelta)]
    texts = [d for d in deltas if isinstance(d, TextDelta)]
    assert "".join(d.text for d in reasoning) == "Hmm, ok"
    assert "".join(d.text for d in texts) == "Hi!"
    # every reasoning delta comes before the first text
    assert deltas.index(reasoning[-1]) < deltas.index(texts[0])
    # logprobs only for answer tokens, every one of them
    assert [lp["token"] for d in texts for lp in (d.logprobs or [])] == ["Hi", "!"]
    assert isinstance(deltas[-1], Finish)


def test_shaper_reasoning_then_tool_call():
    call = '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>'
    deltas = _shape(["<think>I should add.</think>\n", call], tool_mode="auto", tools=[ToolSpec("add")])
    assert [type(d).__name__ for d in deltas] == ["ReasoningDelta", "ToolCallDelta", "ToolCallDelta", "Finish"]
    assert isinstance(deltas[2], ToolCallDelta) and json.loads(deltas[2].arguments) == {"a": 1}
    assert isinstance(deltas[-1], Finish) and deltas[-1].reason == "tool_calls"


def test_template_keeps_earlier_reasoning():
    out = normalize_messages([{"role": "user", "content": "hi"},
                              {"role": "assistant", "content": "Hello", "reasoning_content": "greet"}])
    assert out[1] == {"role": "assistant", "content": "Hello", "reasoning_content": "greet"}


def test_reasoning_effort_switches_a_thinking_template():
    template = ChatTemplate("{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>"
                            "{% endif %}{{ messages[0].content }}")
    user = [{"role": "user", "content": "x"}]
    assert template.render(user, thinking=False) == "<think>\n\n</think>x"
    assert template.render(user, thinking=True) == template.render(user) == "x"
    assert _thinking(Generation(model="m", messages=[], reasoning_effort="none")) is False
    assert _thinking(Generation(model="m", messages=[], reasoning_effort="low")) is True
    assert _thinking(Generation(model="m", messages=[])) is None


def test_an_item_added_by_a_hosted_tool_closes_open_reasoning():
    from respond.engine.assemble.reasoning import ReasoningStream
    from respond.engine.stream.events import EventBuilder

    response: Any = {"id": "resp_1", "output": []}  # what the builder reads of a Response
    b = EventBuilder(response, reasoning=ReasoningStream())
    b.reason(ReasoningDelta("search first"))
    events = b.close_message()  # what a hosted step does before adding its item
    assert [e["type"] for e in events][-1] == "response.output_item.done"
    assert b.output[0]["status"] == "completed"
    from respond.engine.stream.operations import AddItem

    added = b.operation(AddItem({"id": "fs_1", "type": "file_search_call", "status": "in_progress"}))
    assert [e["type"] for e in added] == ["response.output_item.added"]  # nothing was left open
    assert b.close_all() == []
