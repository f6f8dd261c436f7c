"""The TypedDict shapes against their reference, the `openai` SDK's models: same keys, same required ones.

A shape may leave out a key the SDK has as optional (Respond never sends it) and may add a key only
where it is listed in EXTRA with the reason; every key the SDK requires, the shape has, and requires.
"""

from __future__ import annotations

import re
import typing

import pytest
from openai.types import responses as sdk
from openai.types.responses import response_input_item as sdk_in
from openai.types.responses import response_output_item as sdk_out
from pydantic import BaseModel

from respond.protocol import shapes

PAIRS: list[tuple[type, type[BaseModel]]] = [
    (shapes.ResponseDict, sdk.Response),
    (shapes.UsageDict, sdk.ResponseUsage),
    (shapes.OutputMessage, sdk.ResponseOutputMessage),
    (shapes.OutputTextPart, sdk.ResponseOutputText),
    (shapes.RefusalPart, sdk.ResponseOutputRefusal),
    (shapes.FunctionCallItem, sdk.ResponseFunctionToolCall),
    (shapes.FunctionCallOutputItem, sdk.ResponseFunctionToolCallOutputItem),
    (shapes.CustomToolCallItem, sdk.ResponseCustomToolCall),
    (shapes.CustomToolCallOutputItem, sdk.ResponseCustomToolCallOutputItem),
    (shapes.ReasoningItem, sdk.ResponseReasoningItem),
    (shapes.CompactionItem, sdk.ResponseCompactionItem),
    (shapes.ShellCallItem, sdk.ResponseFunctionShellToolCall),
    (shapes.ShellCallOutputItem, sdk.ResponseFunctionShellToolCallOutput),
    (shapes.ApplyPatchCallItem, sdk.ResponseApplyPatchToolCall),
    (shapes.ApplyPatchCallOutputItem, sdk.ResponseApplyPatchToolCallOutput),
    (shapes.ComputerCallItem, sdk.ResponseComputerToolCall),
    (shapes.ComputerCallOutputItem, sdk.ResponseComputerToolCallOutputItem),
    (shapes.LocalShellCallItem, sdk_out.LocalShellCall),
    (shapes.LocalShellCallOutputItem, sdk_in.LocalShellCallOutput),
]
EXTRA = {
    # Open Responses' ResponseResource has them; the SDK's Response does not (its clients ignore them).
    "ResponseDict": {"frequency_penalty", "presence_penalty", "store"},
    # Respond gives every call item a status (the SDK's ResponseItem list types require one).
    "CustomToolCallItem": {"status"},
    # The private upstream state of a reasoning item: removed by strip_for_include before a client sees it.
    "ReasoningItem": {"_upstream"},
    # Respond names the function again in the done event, as Open Responses does.
    "FunctionCallArgumentsDoneEvent": {"name"},
    "CustomToolCallOutputItem": {"id", "status"},
    "ApplyPatchCallOutputItem": {"output"},
}


def _sdk_events() -> dict[str, type[BaseModel]]:
    union = typing.get_args(sdk.ResponseStreamEvent)[0]
    out = {}
    for cls in typing.get_args(union):
        for name in typing.get_args(cls.model_fields["type"].annotation):
            out[name] = cls
    return out


def _event_shapes() -> list[tuple[type, str]]:
    """(shape, event type) for every event shape: the `type` key's Literal values, read from its annotation."""
    found = []
    for name in shapes.__all__:
        obj = getattr(shapes, name)
        if isinstance(obj, type) and name.endswith("Event") and name != "ToolProgressEvent":
            hint = next(b.__annotations__["type"] for b in obj.__mro__ if "type" in getattr(b, "__annotations__", {}))
            if "LifecycleType" in str(hint):
                hint = str(shapes.LifecycleType)
            found += [(obj, value) for value in re.findall(r"['\"]((?:response\.|error)[a-z_.]*)['\"]", str(hint))]
    return found


def _check(shape: type, model: type[BaseModel]) -> None:
    ours, required = _keys(shape), set(shape.__required_keys__)  # type: ignore[attr-defined]
    theirs = {f.alias or n for n, f in model.model_fields.items()}
    must = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    assert must <= required, f"{shape.__name__} misses or does not require {sorted(must - required)}"
    extra = ours - theirs - EXTRA.get(shape.__name__, set())
    assert not extra, f"{shape.__name__} has keys {sorted(extra)} that {model.__name__} does not"


def _keys(shape: type) -> set[str]:
    return set(shape.__required_keys__) | set(shape.__optional_keys__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("shape", "model"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_shape_matches_sdk(shape: type, model: type[BaseModel]) -> None:
    _check(shape, model)


def test_every_event_shape_matches_sdk() -> None:
    known = _sdk_events()
    checked = set()
    for shape, name in _event_shapes():
        if name in known:
            _check(shape, known[name])
            checked.add(name)
    # every event the SDK knows that names no hosted tool has its shape here
    hosted = ("file_search", "web_search", "code_interpreter", "mcp", "image_generation")
    client_side = {"response.create", "response.steer", "response.steer.accepted", "response.steer.failed",
                   "response.steer.pending"}
    wanted = {n for n in known if not any(h in n for h in hosted)} - client_side
    assert wanted <= checked, f"stream events without a shape: {sorted(wanted - checked)}"
