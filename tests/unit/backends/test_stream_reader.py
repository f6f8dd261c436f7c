"""A /v1/responses upstream's events are untyped JSON from another server: what it sends is narrowed
before it reaches a delta (logprobs above all, which go out to clients in the wire's shape)."""

from __future__ import annotations

from respond.backends.responses_wire import StreamReader
from respond.core.types import Finish, TextDelta, ToolCallDelta


def test_logprobs_are_checked_not_passed_through() -> None:
    reader = StreamReader("http://upstream.test")
    (delta,) = reader.feed({"type": "response.output_text.delta", "output_index": 0, "delta": "hi", "logprobs": [
        {"token": "hi", "logprob": -0.5, "bytes": [104, 105], "top_logprobs": [{"token": "yo", "logprob": "x"}, 3]},
        "junk", {"token": 7, "bytes": "no", "evil": {"script": True}}]})
    assert isinstance(delta, TextDelta) and delta.text == "hi"
    assert delta.logprobs == [
        {"token": "hi", "logprob": -0.5, "bytes": [104, 105], "top_logprobs": [{"token": "yo", "logprob": 0.0,
                                                                                 "bytes": []}]},
        {"token": "", "logprob": 0.0, "bytes": [], "top_logprobs": []}]
    (plain,) = reader.feed({"type": "response.output_text.delta", "delta": "x", "logprobs": "not a list"})
    assert isinstance(plain, TextDelta) and plain.logprobs is None


def test_mistyped_fields_get_safe_values() -> None:
    reader = StreamReader("http://upstream.test")
    assert reader.feed({"type": "response.output_text.delta", "delta": {"not": "text"}}) == [TextDelta("", None)]
    (call,) = reader.feed({"type": "response.output_item.added", "output_index": "1",
                           "item": {"type": "function_call", "call_id": 5, "name": "f", "arguments": ["x"]}})
    assert isinstance(call, ToolCallDelta) and call.call_id is None and call.name == "f" and call.arguments == ""
    assert reader.feed({"type": "response.output_item.done", "item": "not an item"}) == []
    assert reader.feed({"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 2}}}) == []
    assert isinstance(reader.finish, Finish) and reader.finish.reason == "tool_calls"
