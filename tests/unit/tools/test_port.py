"""The hosted-tool port in process: a toy tool declared like a plugin, run by the engine's loop.

This is the whole cost of a new hosted tool: a `HostedKind` (its `Wire` and a factory), a
`HostedTool` + `Binding`, and its kind in bootstrap's list (or an entry point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from respond import tools
from respond.backends.scripted import ScriptedBackend
from respond.bootstrap import HOSTED_TOOLS
from respond.core.hosted import (
    Added,
    BaseTool,
    Binding,
    Context,
    Done,
    Halt,
    HostedCall,
    HostedKind,
    HostedTool,
    Item,
    ItemType,
    Progress,
    Step,
    ToolContext,
    ToolServices,
    Wire,
    no_steps,
)
from respond.core.types import Delta, Finish, Generation, ToolCallDelta, ToolSpec, Usage
from respond.engine.stream.events import EventBuilder, replay
from respond.engine.stream.operations import Operation
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.errors import APIError
from respond.protocol.requests import parse_create
from respond.protocol.shapes import Annotation
from respond.protocol.vocabulary import CORE, Vocabulary


def _strip(item: Item, include: frozenset[str]) -> Item:
    return item if "dice_call.rolls" in include else {**item, "rolls": None}


WIRE = Wire(("dice",), items=(ItemType("dice_call", "dice", "hosted", ("rolls",)),), includes=("dice_call.rolls",),
            strip=_strip)


class DiceTool(BaseTool):
    wire = WIRE

    async def bind(self, configs: list[tuple[int, dict[str, Any]]], ctx: ToolContext) -> Binding:
        return DiceBinding(halt=bool(configs[0][1].get("halt")))

    def replay(self, item: Item) -> list[tuple[str, dict[str, Any]]]:
        return [("response.dice_call.rolling", {})]


class DiceBinding:
    def __init__(self, halt: bool) -> None:
        self.halt = halt
        self.closed = False

    @property
    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(name="roll", parameters={"type": "object", "properties": {}})]

    def claims(self, name: str) -> bool:
        return name == "roll"

    def forced(self, tool_choice: Any) -> str | None:
        return "roll" if isinstance(tool_choice, dict) and tool_choice.get("type") == "dice" else None

    def start(self) -> AsyncIterator[Step]:
        return no_steps()

    async def run(self, call: HostedCall) -> AsyncIterator[Step]:
        item: Item = {"id": "dice_1", "type": "dice_call", "status": "in_progress", "rolls": None}
        yield Added(item)
        yield Progress(item, "response.dice_call.rolling")
        item.update(status="completed", rolls=[4])
        yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": "4"}])
        yield Done(item)
        if self.halt:
            yield Halt()

    def annotations(self, text: str) -> list[Annotation]:
        return [{"type": "url_citation", "url": "https://dice.test", "title": "dice", "start_index": 0,
                 "end_index": len(text)}]

    async def close(self) -> None:
        self.closed = True


class CallsThenAnswers(ScriptedBackend):
    """Calls `roll` as long as the tool is offered and no result came back, then answers."""

    def __init__(self) -> None:
        super().__init__(reply="Rolled.")
        self.seen: list[Generation] = []

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        self.seen.append(replace(gen, tools=list(gen.tools), messages=list(gen.messages)))
        if any(t.name == "roll" for t in gen.tools) and gen.messages[-1]["role"] != "tool":
            yield ToolCallDelta(0, "{}", "call_1", "roll")
            yield Finish("tool_calls", Usage(3, 1))
            return
        async for delta in super().generate(gen):
            yield delta


DICE = HostedKind("dice", WIRE, lambda services: DiceTool())


def _load() -> HostedTools:
    """What bootstrap does: the kinds' wires make the vocabulary, the configured ones are built."""
    kinds = tools.kinds(HOSTED_TOOLS, [DICE])
    return HostedTools(tools.build(tools.pick(kinds, ["dice"]), ToolServices()), Vocabulary(k.wire for k in kinds))


async def _drive(hosted: HostedTools, body: dict[str, Any]) -> tuple[Any, list[Any], Any]:
    req = parse_create(body, hosted.vocabulary)
    gen = Generation(model="scripted", messages=[{"role": "user", "content": "roll"}])
    loop = await hosted.prepare(req.tools, gen, ToolContext("owner", frozenset(req.include or []), req.tool_choice),
                                req.max_tool_calls)
    assert loop is not None
    backend = CallsThenAnswers()
    response: Any = {"id": "resp_1", "output": []}
    b = EventBuilder(response, include=set(req.include or []), vocabulary=hosted.vocabulary)
    events: list[Any] = []
    stream = loop.run(backend)
    async for delta in stream:
        if isinstance(delta, Operation):
            events.extend(b.operation(delta))
        elif isinstance(delta, ToolCallDelta):
            events.extend(b.tool_call(delta))
        elif isinstance(delta, Finish):
            events.extend(b.close_all())
            break
        elif hasattr(delta, "text"):
            events.extend(b.text(delta))  # type: ignore[arg-type]
    await stream.aclose()  # type: ignore[attr-defined]  # as the Run does: closing ends the bindings
    return response, events, (backend, loop)


async def test_a_plugin_tool_runs_in_the_loop() -> None:
    hosted = _load()
    assert "dice" in hosted.types
    response, events, (backend, loop) = await _drive(hosted, {"model": "scripted", "input": "roll",
                                                             "tools": [{"type": "dice"}], "include": ["dice_call.rolls"]})
    assert [it["type"] for it in response["output"]] == ["dice_call", "message"]
    assert [e["type"] for e in events][:3] == ["response.output_item.added", "response.dice_call.rolling",
                                               "response.output_item.done"]
    assert events[2]["item"]["rolls"] == [4]  # asked for with include
    assert response["output"][1]["content"][0]["annotations"][0]["type"] == "url_citation"
    assert backend.seen[1].messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "4"}
    assert all(b.closed for b in loop.bindings)
    # at rest: include stripping, input items and replay know the plugin's item
    assert hosted.vocabulary.strip(response["output"][0], set())["rolls"] is None
    assert hosted.vocabulary.normalize_item({"type": "dice_call", "id": "dice_9", "rolls": [4]}, 0)["id"] == "dice_9"
    done: Any = {**response, "status": "completed"}
    types = [e["type"] for e in replay(done, hosted.replay)]
    assert types[2:5] == ["response.output_item.added", "response.dice_call.rolling", "response.output_item.done"]


async def test_halt_and_max_tool_calls() -> None:
    hosted = _load()
    response, _, (backend, _) = await _drive(hosted, {"model": "scripted", "input": "x",
                                                      "tools": [{"type": "dice", "halt": True}]})
    assert [it["type"] for it in response["output"]] == ["dice_call"] and len(backend.seen) == 1
    response, _, (backend, _) = await _drive(hosted, {"model": "scripted", "input": "x", "max_tool_calls": 1,
                                                      "tools": [{"type": "dice"}], "tool_choice": {"type": "dice"}})
    assert backend.seen[0].forced_tool == "roll" and backend.seen[1].tools == []
    assert [it["type"] for it in response["output"]] == ["dice_call", "message"]


def test_unknown_tool_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Known tools: .*file_search.*mcp"):
        tools.pick(tools.kinds(HOSTED_TOOLS), ["nope"])
    with pytest.raises(ValueError, match="Two hosted tools are named 'dice'"):
        tools.kinds([DICE], [DICE])


def test_protocol_accepts_a_declared_include_only_on_its_server() -> None:
    vocabulary = _load().vocabulary
    assert parse_create({"model": "m", "include": ["dice_call.rolls"]}, vocabulary).include == ["dice_call.rolls"]
    tool: HostedTool = DiceTool()  # structurally a HostedTool (mypy checks it)
    assert tool.wire.tool_types == ("dice",)
    # no process-wide registry: a server built without the tool (here: the core) never learnt it
    with pytest.raises(APIError, match="Invalid value: 'dice_call.rolls'") as exc:
        parse_create({"model": "m", "include": ["dice_call.rolls"]}, CORE)
    assert exc.value.param == "include[0]"
    with pytest.raises(APIError, match="Invalid value: 'dice_call'"):
        CORE.normalize_item({"type": "dice_call", "rolls": [1]}, 0)


def test_a_plugin_item_type_is_validated_and_gets_its_declared_prefix() -> None:
    vocabulary = _load().vocabulary
    item = vocabulary.normalize_item({"type": "dice_call", "rolls": [6], "id": None}, 2)
    assert item["id"].startswith("dice_") and item["status"] == "completed"
    with pytest.raises(APIError, match="Missing required parameter: 'input\\[2\\].rolls'") as exc:
        vocabulary.normalize_item({"type": "dice_call"}, 2)
    assert exc.value.param == "input[2].rolls"


def test_two_declarations_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="item type 'dice_call' is declared twice"):
        Vocabulary([WIRE, Wire(("dice2",), items=WIRE.items)])
    with pytest.raises(ValueError, match="tools\\[\\] type 'dice'"):
        Vocabulary([WIRE, Wire(("dice",))])
    with pytest.raises(ValueError, match="item type 'message' is declared twice"):
        Vocabulary([Wire(("x",), items=(ItemType("message", "m", "hosted"),))])
    with pytest.raises(ValueError, match="lacks the wire"):
        HostedTools([DiceTool()], CORE)


def test_entry_points_must_name_a_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryPoint:
        def __init__(self, name: str, value: object) -> None:
            self.name, self.value = name, value

        def load(self) -> object:
            return self.value

    monkeypatch.setattr(tools, "entry_points", lambda group: [EntryPoint("dice", DICE)])
    assert tools.plugins() == [DICE]
    monkeypatch.setattr(tools, "entry_points", lambda group: [EntryPoint("dice", lambda services: DiceTool())])
    with pytest.raises(ValueError, match="must name a HostedKind"):
        tools.plugins()
