"""The repeat guard over a backend that plays scripted turns: a call already answered in the
context is dropped, and the model is asked again with calls ruled out when nothing new is left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from respond.core.types import Delta, Finish, Generation, TextDelta, ToolCallDelta, ToolSpec, Usage
from respond.engine.execution.router import ModelRouter
from respond.engine.tooling.hosted import HostedTools
from respond.engine.tooling.repeat_guard import RepeatGuard, answered, guarded, just_answered, signature
from respond.tools.file_search.tool import FileSearchTool

WEATHER = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})


class Turns:
    """A backend answering each `generate` with the next scripted turn, recording what it was asked."""

    name = "llamacpp"

    def __init__(self, *turns: list[Delta]) -> None:
        self.turns = list(turns)
        self.asked: list[Generation] = []

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        self.asked.append(gen)
        for delta in self.turns.pop(0):
            yield delta

    async def models(self) -> list[Any]:
        return []

    def serves(self, model: str) -> bool:
        return True

    async def close(self) -> None:
        return None


def call(index: int, name: str, arguments: str) -> list[Delta]:
    half = len(arguments) // 2
    return [ToolCallDelta(index=index, call_id=f"call_{index}", name=name, arguments=arguments[:half]),
            ToolCallDelta(index=index, arguments=arguments[half:])]


def answered_weather(arguments: str = '{"city": "Paris"}') -> list[dict[str, Any]]:
    return [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21 C"}]


def gen(messages: list[dict[str, Any]], **kw: Any) -> Generation:
    return Generation(model="m", messages=messages, tools=[WEATHER], **kw)


async def drain(guard: RepeatGuard, g: Generation) -> list[Delta]:
    return [d async for d in guard.generate(g)]


def test_signature_normalises_json() -> None:
    assert signature("f", '{"a": 1, "b": [1, 2]}') == signature("f", '{"b":[1,2],"a":1}')
    assert signature("f", '{"a": 1}') != signature("f", '{"a": 2}')
    assert signature("f", "") == signature("f", "{}")
    assert signature("f", "not json ") == ("f", "not json")


def test_answered_needs_the_output() -> None:
    messages = answered_weather()
    assert answered(messages) == {signature("get_weather", '{"city":"Paris"}')}
    assert answered(messages[:2]) == set()  # a call without its output is not answered


async def test_a_repeated_call_is_asked_again_without_calls() -> None:
    backend = Turns(call(0, "get_weather", '{ "city":"Paris" }') + [Finish("tool_calls", Usage(10, 5))],
                    [TextDelta("It is sunny."), Finish("stop", Usage(12, 4))])
    guard = RepeatGuard(backend)
    out = await drain(guard, gen(answered_weather(), max_output_tokens=50))
    assert not [d for d in out if isinstance(d, ToolCallDelta)]
    assert [d.text for d in out if isinstance(d, TextDelta)] == ["It is sunny."]
    assert out[-1] == Finish("stop", Usage(22, 9))
    second = backend.asked[1]
    assert (second.tool_choice, second.calls_ruled_out, second.tools) == ("none", True, [WEATHER])
    assert second.max_output_tokens == 50  # the answer's own budget: the suppressed call is not output
    assert guard.suppressed == 1


async def test_new_calls_pass_and_repeats_are_dropped() -> None:
    backend = Turns(call(0, "get_weather", '{"city": "Paris"}') + call(1, "get_weather", '{"city": "Oslo"}')
                    + [Finish("tool_calls")])
    out = await drain(RepeatGuard(backend), gen(answered_weather()))
    calls = [d for d in out if isinstance(d, ToolCallDelta)]
    assert {d.index for d in calls} == {0} and "".join(d.arguments for d in calls) == '{"city": "Oslo"}'
    assert out[-1].reason == "tool_calls" and len(backend.asked) == 1  # type: ignore[union-attr]


async def test_a_first_call_and_a_forced_turn_are_left_alone() -> None:
    backend = Turns(call(0, "get_weather", '{"city": "Paris"}') + [Finish("tool_calls")],
                    call(0, "get_weather", '{"city": "Paris"}') + [Finish("tool_calls")])
    out = await drain(RepeatGuard(backend), gen(answered_weather()[:1]))
    assert [d.name for d in out if isinstance(d, ToolCallDelta) and d.name] == ["get_weather"]
    out = await drain(RepeatGuard(backend), gen(answered_weather(), tool_choice="required"))
    assert [d.name for d in out if isinstance(d, ToolCallDelta) and d.name] == ["get_weather"]


def test_modes() -> None:
    embedded, upstream = Turns(), Turns()
    upstream.name = "openai_compat"
    assert isinstance(guarded(embedded, "embedded"), RepeatGuard)
    assert guarded(upstream, "embedded") is upstream
    assert isinstance(guarded(upstream, "on"), RepeatGuard)
    assert guarded(embedded, "off") is embedded


def test_the_history_is_read_only_for_a_guarded_backend() -> None:
    """`ModelRouter.turns` reads the earlier hosted calls (a pass over the whole history) only when the
    mode guards the backend."""
    embedded, upstream = Turns(), Turns()
    upstream.name = "openai_compat"
    reads: list[str] = []

    def earlier() -> frozenset[Any]:
        reads.append("read")
        return frozenset()

    router = ModelRouter([embedded, upstream], repeat_guard="embedded")
    assert router.turns(upstream, earlier) is upstream
    assert reads == []
    assert isinstance(router.turns(embedded, earlier), RepeatGuard)
    assert reads == ["read"]


async def test_hosted_calls_of_earlier_turns_count() -> None:
    tools = HostedTools([FileSearchTool(None)])
    earlier = [{"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["warranty"]},
               {"type": "file_search_call", "id": "fs_2", "status": "failed", "queries": ["kettle"]},
               {"type": "message", "role": "user", "content": []}]
    done = tools.answered(earlier, [])
    assert done == {signature("file_search", '{"query":"warranty"}')}
    search = ToolSpec(name="file_search")
    backend = Turns(call(0, "file_search", '{"query": "warranty"}') + [Finish("tool_calls")],
                    [TextDelta("Two years."), Finish("stop")])
    out = await drain(RepeatGuard(backend, done), Generation(model="m", messages=[], tools=[search]))
    assert not [d for d in out if isinstance(d, ToolCallDelta)] and backend.asked[1].calls_ruled_out


async def test_embedded_the_tool_that_just_answered_is_not_called_again() -> None:
    messages = answered_weather()
    assert just_answered(messages) == {"get_weather"}
    assert just_answered([*messages, {"role": "user", "content": "And Oslo?"}]) == set()
    oslo = call(0, "get_weather", '{"city": "Oslo"}') + [Finish("tool_calls")]
    backend = Turns(oslo, [TextDelta("Sunny."), Finish("stop")], oslo)
    out = await drain(guarded(backend, "embedded"), gen(messages))  # type: ignore[arg-type]
    assert not [d for d in out if isinstance(d, ToolCallDelta)] and len(backend.asked) == 2
    upstream = RepeatGuard(backend)  # elsewhere only the same arguments count
    out = await drain(upstream, gen(messages))
    assert [d.name for d in out if isinstance(d, ToolCallDelta) and d.name] == ["get_weather"]


async def test_embedded_a_turn_opening_with_a_replay_is_a_repeat_whole() -> None:
    # The 0.5B model after the weather of Vexmoor: the call again, then a conversion of the output's -3 C.
    units = ToolSpec(name="convert_units")
    replay = (call(0, "get_weather", '{"city": "Paris"}')
              + call(1, "convert_units", '{"value": -3, "from_unit": "C", "to_unit": "F"}') + [Finish("tool_calls")])
    backend = Turns(replay, [TextDelta("Sunny, 21 C."), Finish("stop")])
    guard = RepeatGuard(backend, same_tool=True)
    out = await drain(guard, Generation(model="m", messages=answered_weather(), tools=[WEATHER, units]))
    assert not [d for d in out if isinstance(d, ToolCallDelta)] and backend.asked[1].calls_ruled_out
    assert [d.text for d in out if isinstance(d, TextDelta)] == ["Sunny, 21 C."] and guard.suppressed == 2
    # a new call written first goes on, the replay after it is dropped
    first = (call(0, "convert_units", '{"value": 21, "from_unit": "C", "to_unit": "F"}')
             + call(1, "get_weather", '{"city": "Paris"}') + [Finish("tool_calls")])
    backend = Turns(first)
    out = await drain(RepeatGuard(backend, same_tool=True), Generation(model="m", messages=answered_weather(), tools=[WEATHER, units]))
    assert [d.name for d in out if isinstance(d, ToolCallDelta) and d.name] == ["convert_units"]
    assert len(backend.asked) == 1
    # elsewhere (an upstream, `--repeat-guard on`) the new call after a replay still goes on
    backend = Turns(replay)
    out = await drain(RepeatGuard(backend), Generation(model="m", messages=answered_weather(), tools=[WEATHER, units]))
    assert [d.name for d in out if isinstance(d, ToolCallDelta) and d.name] == ["convert_units"]
