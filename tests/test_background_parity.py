"""Issue 11 item 6: background mode validates exactly as the foreground does, before queueing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import UpstreamThread

FN = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
CASES: dict[str, dict[str, Any]] = {
    "unknown forced function": {"tools": [FN], "tool_choice": {"type": "function", "name": "nope"}},
    "unknown vector store": {"tools": [{"type": "file_search", "vector_store_ids": ["vs_missing"]}]},
    "required + json_schema": {"tools": [FN], "tool_choice": "required", "text": {"format": {
        "type": "json_schema", "name": "out", "schema": {"type": "object", "properties": {}}}}},
    "required without tools": {"tool_choice": "required"},
    "bad text.format": {"text": {"format": {"type": "json_schema"}}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_background_answers_what_the_foreground_answers(server: Any, upstream: UpstreamThread, case: str) -> None:
    body = {"model": "scripted", "input": "x", **CASES[case]}
    with server.http() as http:
        upstream.reply({"content": "fine"})
        fore = http.post("/responses", json=body)
        back = http.post("/responses", json={**body, "background": True})
        if fore.status_code != 200:
            assert (back.status_code, back.json()["error"]) == (fore.status_code, fore.json()["error"])
            return
        assert back.status_code == 200 and back.json()["status"] == "queued"
        upstream.reply({"content": "fine"})
        deadline = time.monotonic() + 20
        while (got := http.get(f"/responses/{back.json()['id']}").json())["status"] in ("queued", "in_progress"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert got["status"] == fore.json()["status"], got.get("error")
