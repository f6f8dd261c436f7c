"""The request's open JSON (tools, tool_choice, input) as the engine reads it: taken as parsed by the
model, checked where it is read (client tools, moderation answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from respond.core.ports import ModerationInput
from respond.core.types import Finish, TextDelta, Usage
from respond.engine.intake.client_tools import client_tools
from respond.engine.intake.moderation import Moderation, Step
from respond.engine.intake.tool_choice import read_choice
from respond.engine.resolve.prompts import PromptStore
from respond.protocol.errors import APIError
from respond.protocol.requests import parse_create
from respond.protocol.shapes import JSON, JSONObject, ResponseDict
from respond.protocol.vocabulary import CORE


def test_the_model_takes_open_json_as_parsed_and_still_checks_its_outer_shape() -> None:
    schema: JSONObject = {"type": "object", "properties": {"q": {"type": "string"}}}
    content: list[JSON] = [{"type": "input_text", "text": "hi"}]
    body: JSONObject = {"model": "m", "tools": [{"type": "function", "name": "f", "parameters": schema}],
                        "input": [{"type": "message", "role": "user", "content": content}],
                        "tool_choice": {"type": "function", "name": "f"}}
    req = parse_create(body, CORE)
    assert req.tools is not None and req.tools[0]["parameters"] is schema  # not walked, not copied
    assert isinstance(req.input, list) and req.input[0]["content"] is content
    with pytest.raises(APIError):
        parse_create({"model": "m", "input": ["not an item"]}, CORE)
    with pytest.raises(APIError):
        parse_create({"model": "m", "tools": [["not", "a", "tool"]]}, CORE)
    tools = client_tools(req.tools)
    assert read_choice(req.tool_choice, tools, req.tools).forced == "f"


@pytest.mark.parametrize(("tool", "param"), [
    ({"type": "function", "name": "f", "description": 7}, "tools[0].description"),
    ({"type": "function", "name": "f", "strict": "yes"}, "tools[0].strict"),
    ({"type": "custom", "name": "c", "description": ["x"]}, "tools[0].description"),
])
def test_a_tool_field_of_the_wrong_type_is_a_400_naming_it(tool: JSONObject, param: str) -> None:
    with pytest.raises(APIError) as exc:
        client_tools([tool])
    assert exc.value.envelope()["error"]["param"] == param


class _Moderator:
    def __init__(self, answer: JSONObject) -> None:
        self.answer = answer
        self.seen: list[list[ModerationInput]] = []

    async def moderate(self, model: str, inputs: list[ModerationInput]) -> JSONObject:
        self.seen.append(inputs)
        return self.answer

    async def close(self) -> None:
        pass


async def _steps() -> AsyncIterator[Step]:
    yield TextDelta(text="fine")
    yield Finish(usage=Usage())


async def test_a_moderation_answer_is_read_field_by_field_into_the_sdk_shape() -> None:
    moderator = _Moderator({"flagged": 1, "categories": {"violence": 0, "hate": True},
                            "category_scores": {"violence": 0.25, "hate": 1},
                            "category_applied_input_types": {"violence": ["text", "audio"], "hate": "text"},
                            "unknown": [1]})
    req = parse_create({"model": "m", "input": "x", "moderation": {"model": "omni"}}, CORE)
    response = cast("ResponseDict", {})
    moderation = Moderation(moderator, req, response)
    steps = [s async for s in moderation.wrap([{"type": "text", "text": "x"}], _steps())]
    assert isinstance(steps[-1], Finish) and steps[-1].reason == "stop"
    result = {"type": "moderation_result", "model": "omni", "flagged": True,
              "categories": {"violence": False, "hate": True}, "category_scores": {"violence": 0.25, "hate": 1.0},
              "category_applied_input_types": {"violence": ["text"]}}
    assert response["moderation"] == {"input": result, "output": result}
    assert moderator.seen == [[{"type": "text", "text": "x"}], [{"type": "text", "text": "fine"}]]


@pytest.mark.parametrize("text", ['["a list"]', '{"versions": {"1": "not a table"}}', '{"versions": {}}'])
def test_a_prompt_file_that_is_not_a_table_of_versions_is_a_400(tmp_path: Path, text: str) -> None:
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(APIError) as exc:
        PromptStore(tmp_path).resolve({"id": "p"})
    assert exc.value.envelope()["error"]["code"] == "invalid_prompt"


def test_prompt_variables_are_strings_or_input_text_parts(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('instructions = "Hi {{a}} and {{b}}."')
    store = PromptStore(tmp_path)
    assert store.resolve({"id": "p", "variables": {"a": "x", "b": {"type": "input_text", "text": "y"}}}) == \
        ("1", "Hi x and y.", None)
    with pytest.raises(APIError) as exc:
        store.resolve({"id": "p", "variables": {"a": "x", "b": {"type": "input_image", "image_url": "u"}}})
    assert exc.value.envelope()["error"]["param"] == "prompt.variables.b"
