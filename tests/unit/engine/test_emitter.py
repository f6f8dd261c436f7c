"""One grammar for every stream: a replay of a stored response is the live stream with one delta per part.

The live `EventBuilder` and `replay` drive the same emitter with operations (engine/stream/operations.py);
these tests hold the two to the same events, and `include` to the same effect on both.
"""

from __future__ import annotations

from typing import Any

from respond.core.types import ReasoningDelta, TextDelta, ToolCallDelta
from respond.engine.assemble.reasoning import ReasoningStream
from respond.engine.intake.client_tools import ClientTools
from respond.engine.stream.events import EventBuilder, replay
from respond.engine.stream.operations import AnnotateText
from respond.engine.tooling.call_items import Offer
from respond.protocol.items import UPSTREAM_STATE

DELTAS = {"response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta",
          "response.reasoning_summary_text.delta", "response.function_call_arguments.delta",
          "response.custom_tool_call_input.delta"}
CITE: Any = {"type": "url_citation", "url": "https://example.com/", "title": "Example", "start_index": 0, "end_index": 5}


def _merged(events: list[Any]) -> list[dict[str, Any]]:
    """Each part's deltas as one, at its first delta's place; sequence numbers dropped."""
    out: list[dict[str, Any]] = []
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ev in events:
        ev = {k: v for k, v in ev.items() if k != "sequence_number"}
        if ev["type"] in DELTAS:
            key = (ev["type"], ev["item_id"], ev.get("content_index"), ev.get("summary_index"))
            if key in first:
                first[key]["delta"] += ev["delta"]
                first[key]["logprobs"] = first[key].get("logprobs", []) + ev.get("logprobs", []) \
                    if "logprobs" in ev else first[key].get("logprobs")
                if first[key]["logprobs"] is None:
                    del first[key]["logprobs"]
                continue
            first[key] = ev
        out.append(ev)
    return out


def _live(include: set[str], seal: bool = False) -> tuple[Any, list[Any]]:
    response: Any = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    reasoning = ReasoningStream(summary=True, seal=(lambda payload: "sealed!") if seal else None)
    tools = ClientTools(offers={"get_time": Offer("function", "get_time"), "sh": Offer("shell", "sh")})
    b = EventBuilder(response, include=include, reasoning=reasoning, tools=tools)
    events: list[Any] = [b.lifecycle("response.created"), b.lifecycle("response.in_progress")]
    events += b.reason(ReasoningDelta("Let me "))
    events += b.reason(ReasoningDelta(text="", encrypted="upstream-blob", item_id="rs_up"))
    events += b.reason(ReasoningDelta("think."))
    events += b.text(TextDelta("Hello"))
    events += b.text(TextDelta(", world."))
    events += b.operation(AnnotateText(lambda text: [CITE] if text.startswith("Hello") else []))
    events += b.tool_call(ToolCallDelta(0, '{"tz":', "call_1", "get_time"))
    events += b.tool_call(ToolCallDelta(0, ' "UTC"}'))
    events += b.tool_call(ToolCallDelta(1, '{"commands": ["ls", "pwd"]}', "call_2", "sh"))
    events += b.close_all()
    response["status"] = "completed"
    events.append(b.lifecycle("response.completed"))
    return response, events


def test_a_replay_is_the_live_stream_with_one_delta_per_part() -> None:
    response, live = _live(set())
    replayed: list[Any] = replay(response)
    assert [e["sequence_number"] for e in replayed] == list(range(len(replayed)))
    assert _merged(replayed) == _merged(live)
    kinds = [e["type"] for e in replayed]
    assert kinds.count("response.output_text.annotation.added") == 1  # not folded into content_part.added
    assert [e["type"] for e in replayed if e["type"].startswith("response.shell_call_command.")] == [
        "response.shell_call_command.added", "response.shell_call_command.delta",
        "response.shell_call_command.done"] * 2
    added = [e["item"] for e in replayed if e["type"] == "response.output_item.added"]
    assert [it["status"] for it in added] == ["in_progress"] * 4  # a client call too, as live
    assert replayed[-1]["response"]["output"] == live[-1]["response"]["output"]


def test_include_shows_the_same_in_the_live_stream_and_in_a_replay() -> None:
    for include in (set(), {"reasoning.encrypted_content"}):
        response, live = _live(include, seal=True)
        assert response["output"][0][UPSTREAM_STATE]["encrypted_content"] == "upstream-blob"  # kept at rest
        replayed: list[Any] = replay(response, include=include)
        for events in (live, replayed):
            items = [e["item"] for e in events if "item" in e] + [it for e in events if "response" in e
                                                                  for it in e["response"]["output"]]
            reasoning = [it for it in items if it["type"] == "reasoning"]
            assert reasoning and all(UPSTREAM_STATE not in it for it in reasoning)  # never shown
            shown = {it.get("encrypted_content") for it in reasoning if it["status"] == "completed"}
            assert shown == ({"sealed!"} if include else {None})


def test_a_drained_run_shares_the_live_response() -> None:
    response: Any = {"id": "resp_1", "status": "in_progress", "output": []}
    b = EventBuilder(response, copies=False)
    added: Any = b.text(TextDelta("hi"))[0]
    assert added["item"] is response["output"][0]  # no copy for a run nobody watches
