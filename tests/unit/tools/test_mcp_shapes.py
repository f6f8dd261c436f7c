"""The mcp tool's typed shapes in process: a tools[] config and a stored listing are checked, never trusted."""

from __future__ import annotations

import pytest

from respond.protocol.errors import APIError
from respond.protocol.shapes import JSONObject
from respond.tools.mcp import config
from respond.tools.mcp.results import stored_tools


def test_a_listing_sent_back_by_a_client_is_checked_entry_by_entry() -> None:
    # A hostile client sends an mcp_list_tools item of its own making back as input: entries without a
    # string name are left out (they used to reach `tool["name"]`), odd fields get their safe defaults.
    listed = stored_tools([{"name": 7}, "not a tool", {"description": "no name"},
                           {"name": "lookup", "input_schema": "evil", "annotations": ["x"], "description": 3}])
    assert listed == [{"name": "lookup", "description": None, "input_schema": {"type": "object", "properties": {}},
                       "annotations": None}]
    assert stored_tools(None) == [] and stored_tools({"name": "x"}) == []


def test_config_values_are_narrowed_before_use() -> None:
    cfg = config.parse(0, {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com",
                           "headers": {"X-Key": "k"}, "authorization": "t",
                           "allowed_tools": {"tool_names": ["a", "b"], "read_only": True},
                           "require_approval": {"never": {"tool_names": ["a"]}}})
    assert cfg.headers == {"X-Key": "k", "Authorization": "Bearer t"}
    assert cfg.allowed is not None and cfg.allowed.names == frozenset({"a", "b"})
    assert cfg.allows("a", {"readOnlyHint": True}) and not cfg.allows("a", None)
    assert not cfg.needs_approval("a", None) and cfg.needs_approval("b", None)
    cases: list[tuple[JSONObject, str]] = [
        ({"headers": {"X-Key": 1}}, "tools[0].headers"),
        ({"allowed_tools": ["a", 1]}, "tools[0].allowed_tools"),
        ({"allowed_tools": {"tool_names": "a"}}, "tools[0].allowed_tools.tool_names"),
        ({"require_approval": "sometimes"}, "tools[0].require_approval")]
    for bad, param in cases:
        with pytest.raises(APIError) as exc:
            config.parse(0, {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com", **bad})
        assert exc.value.param == param
    assert config.secrets({"headers": {"a": "b"}, "authorization": None, "server_label": "x"}) == {"headers": {"a": "b"}}
