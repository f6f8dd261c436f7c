"""`include` hides what the client did not ask for, each value independently of the others."""

from __future__ import annotations

from typing import Any

from respond.protocol.vocabulary import CORE

IMAGE = "message.input_image.image_url"
LOGPROBS = "message.output_text.logprobs"


def answer() -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "hi", "annotations": [], "logprobs": [{"token": "hi", "logprob": -0.25}]}]}


def question() -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "what is this"}, {"type": "input_image", "image_url": "data:,x"}]}


def test_logprobs_hidden_unless_asked_whatever_else_is_included() -> None:
    # the bug: logprobs were stripped only when the client asked for the unrelated image include
    for include in (set(), {IMAGE}, {"reasoning.encrypted_content"}):
        assert "logprobs" not in CORE.strip(answer(), include)["content"][0], include
    assert CORE.strip(answer(), {LOGPROBS}) == answer()
    assert CORE.strip(answer(), {LOGPROBS, IMAGE}) == answer()


def test_image_urls_hidden_unless_asked_whatever_else_is_included() -> None:
    for include in (set(), {LOGPROBS}):
        assert "image_url" not in CORE.strip(question(), include)["content"][1], include
    assert CORE.strip(question(), {IMAGE}) == question()


def test_the_item_given_is_not_changed() -> None:
    item = answer()
    CORE.strip(item, set())
    assert item == answer()
