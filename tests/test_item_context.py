"""items_to_messages in-process: how each item role of protocol.item_types reads to a chat model."""

from __future__ import annotations

import pytest

from respond.bootstrap import HOSTED_TOOLS
from respond.engine.execution.generation import items_to_messages
from respond.engine.intake.client_tools import HostedTypes
from respond.protocol.errors import APIError
from respond.protocol.shapes import JSONObject
from respond.protocol.vocabulary import Vocabulary

SHOT = {"type": "computer_screenshot", "image_url": "data:image/png;base64,AA=="}


def test_parallel_outputs_stay_together_and_images_follow():
    items = [
        {"type": "computer_call", "call_id": "a", "action": {"type": "screenshot"}},
        {"type": "computer_call", "call_id": "b", "action": {"type": "wait"}},
        {"type": "web_search_call", "id": "ws", "action": {"type": "search", "query": "q"}, "status": "completed"},
        {"type": "computer_call_output", "call_id": "a", "output": SHOT},
        {"type": "computer_call_output", "call_id": "b", "output": SHOT},
    ]
    msgs = items_to_messages(items)
    assert [m["role"] for m in msgs] == ["system", "assistant", "tool", "tool", "user"]
    assert [c["id"] for c in msgs[1]["tool_calls"]] == ["a", "b"]
    assert [p["type"] for p in msgs[-1]["content"]] == ["image_url", "image_url"]


def test_hosted_hook_first_then_rule_then_note():
    item = {"type": "mcp_call", "id": "m", "name": "t", "server_label": "s", "arguments": "{}", "output": "ok"}
    assert items_to_messages([item], hosted=lambda it: [{"role": "system", "content": "from the tool"}]) == [
        {"role": "system", "content": "from the tool"}]
    (note,) = items_to_messages([item])
    assert note["role"] == "system" and "mcp_call" in note["content"] and '"ok"' in note["content"]


def test_prefix_is_never_modified():
    prefix = [{"role": "assistant", "content": "let me look"}]
    msgs = items_to_messages([{"type": "shell_call", "call_id": "c", "action": {"commands": ["ls"]}},
                              {"type": "shell_call_output", "call_id": "c", "output": []}], prefix=prefix)
    assert prefix == [{"role": "assistant", "content": "let me look"}]
    assert msgs[0]["tool_calls"][0]["function"]["name"] == "shell"


def test_every_accepted_type_has_a_context_role():
    vocabulary = Vocabulary(k.wire for k in HOSTED_TOOLS)
    assert {"file_search_call", "mcp_call", "web_search_call", "code_interpreter_call"} <= set(vocabulary.item_types)
    for name, spec in vocabulary.item_types.items():
        if spec.context == "reject":
            with pytest.raises(APIError):
                vocabulary.item_type(name, "input[0]")
        else:
            assert spec.context in ("message", "call", "output", "hosted", "reasoning", "compaction")


def test_a_registered_web_search_provider_takes_the_tool(caplog):
    from respond.engine.intake.client_tools import client_tools
    from respond.engine.intake.tool_choice import read_choice

    raw: list[JSONObject] = [{"type": "web_search"}]
    tools = client_tools(raw, HostedTypes(frozenset({"web_search"})))
    assert tools.specs == [] and "no search provider" not in caplog.text
    assert read_choice({"type": "web_search"}, tools, raw).forced is None  # the hosted loop forces it
    with pytest.raises(APIError):
        client_tools([{"type": "image_generation"}])
