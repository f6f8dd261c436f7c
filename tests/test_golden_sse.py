"""Golden SSE streams: the main scenarios' event streams, byte for byte after normalising ids and times.

Each scenario streams `POST /v1/responses` from a real server in front of the scripted upstream and
compares the parsed events with tests/data/golden/<scenario>.json.  Ids become `<prefix#n>`
(numbered by first appearance, so that references between events still have to agree) and
timestamps `<time>`.  After an intended change of the stream, regenerate with
`RESPOND_UPDATE_GOLDEN=1 pytest tests/test_golden_sse.py -k sqlite` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests._kb import MANUAL_MD, make_store
from tests.spec import check_event

GOLDEN = Path(__file__).parent / "data" / "golden"
ID = re.compile(r"\b(resp|msg|fc|fs|rs|file|vs|conv|ws)[-_][0-9A-Za-z]{16,}\b")
TIMES = {"created_at", "completed_at"}


def normalise(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: "<time>" if k in TIMES and isinstance(v, int | float) else normalise(v, ids)
                for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, ids) for v in value]
    if isinstance(value, str):
        return ID.sub(lambda m: ids.setdefault(m.group(0), f"<{m.group(1)}#{len(ids) + 1}>"), value)
    return value


def stream(server: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with server.http() as http, http.stream("POST", "/responses", json={**body, "stream": True}) as resp:
        assert resp.status_code == 200
        name = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["type"] == name
                if name.endswith(".delta"):  # random stream obfuscation padding (api/sse.py), on by default
                    assert isinstance(event.pop("obfuscation"), str)
                events.append(event)
    return events


def compare(scenario: str, events: list[dict[str, Any]]) -> None:
    got = normalise(events, {})
    path = GOLDEN / f"{scenario}.json"
    if os.environ.get("RESPOND_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text()), f"the {scenario} stream changed (see the module docstring)"


def test_text(server: Any, upstream: Any) -> None:
    upstream.reply({"content": "The sky is blue because of Rayleigh scattering.", "chunks": 4,
                    "usage": {"prompt_tokens": 12, "completion_tokens": 9}})
    events = stream(server, {"model": "scripted", "input": "Why is the sky blue?", "instructions": "Be brief."})
    for ev in events:
        check_event(ev)
    compare("text", events)


def test_function_call(server: Any, upstream: Any) -> None:
    upstream.reply({"tool_calls": [{"id": "call_weather", "name": "get_weather",
                                    "arguments": '{"city": "Paris", "unit": "celsius"}'}],
                    "usage": {"prompt_tokens": 30, "completion_tokens": 12}})
    tools = [{"type": "function", "name": "get_weather", "description": "Weather of a city.",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                              "unit": {"type": "string"}},
                             "required": ["city", "unit"], "additionalProperties": False}, "strict": True}]
    events = stream(server, {"model": "scripted", "input": "Weather in Paris?", "tools": tools})
    for ev in events:
        check_event(ev)
    compare("function_call", events)


def test_file_search(server: Any, upstream: Any) -> None:
    store, _ = make_store(server.client(), {"manual.md": (MANUAL_MD, {"kind": "manual"})})
    upstream.reply({"tool_calls": [{"id": "call_fs", "name": "file_search",
                                    "arguments": '{"query": "warranty length"}'}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 5}},
                   {"content": "The warranty lasts two years.", "usage": {"prompt_tokens": 80, "completion_tokens": 7}})
    events = stream(server, {"model": "scripted", "input": "How long is the warranty?",
                             "tools": [{"type": "file_search", "vector_store_ids": [store.id]}]})
    compare("file_search", events)  # file_search_call is not in the Open Responses schema: golden only


def test_failure(server: Any, upstream: Any) -> None:
    upstream.reply({"error": {"status": 500, "message": "the upstream broke"}})
    events = stream(server, {"model": "scripted", "input": "hi"})
    for ev in events:
        check_event(ev)
    assert events[-1]["type"] == "response.failed"
    compare("failure", events)


@pytest.fixture(autouse=True)
def _sqlite_only(database: str) -> None:
    if not database.startswith("sqlite"):
        pytest.skip("one database is enough for the stream's shape (the same engine writes it)")
