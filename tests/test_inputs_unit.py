"""engine.input_files in-process: what a text-only backend and a file-part backend get for file and
image parts."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace
from typing import Any

import pytest

from respond.engine.resolve.input_files import InputFiles
from respond.protocol.errors import APIError

TEXT_ONLY = SimpleNamespace(vision=False, file_parts=False)
FILE_PARTS = SimpleNamespace(vision=True, file_parts=True)


class Files:
    def __init__(self) -> None:
        self.store = {"file-1": ("notes.txt", b"The code word is heron."), "file-img": ("a.png", b"\x89PNGxx")}

    async def read_file(self, file_id: str, owner: str) -> tuple[str, bytes] | None:
        return self.store.get(file_id) if owner == "me" else None

    def extract_text(self, filename: str, data: bytes) -> str:
        return data.decode()

    async def fetch_url(self, url: str) -> tuple[str, bytes]:
        raise ValueError("no network in this test")


def message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "user", "content": list(parts)}


def resolve(items, backend, strict=True, owner="me"):
    return asyncio.run(InputFiles(Files()).for_context(items, owner, backend, strict=strict))


def test_text_only_backend_gets_the_files_text():
    (out,) = resolve([message({"type": "input_file", "file_id": "file-1"})], TEXT_ONLY)
    assert out["content"] == [{"type": "input_text", "text": '<file name="notes.txt">\nThe code word is heron.\n</file>'}]


def test_file_part_backend_gets_the_file():
    data = base64.b64encode(b"hello").decode()
    (out,) = resolve([message({"type": "input_file", "filename": "h.txt", "file_data": data})], FILE_PARTS)
    assert out["content"] == [{"type": "input_file", "filename": "h.txt", "file_data": f"data:text/plain;base64,{data}"}]


def test_image_for_a_text_only_model_is_a_400_naming_the_part():
    items = [message({"type": "input_text", "text": "x"}, {"type": "input_image", "file_id": "file-img"})]
    with pytest.raises(APIError) as err:
        resolve(items, TEXT_ONLY)
    assert err.value.status == 400 and err.value.param == "input[0].content[1]"
    (note,) = resolve(items, TEXT_ONLY, strict=False)  # in history: a note instead
    assert note["content"][1]["type"] == "input_text" and "no longer available" in note["content"][1]["text"]
    (ok,) = resolve(items, FILE_PARTS)
    assert ok["content"][1]["image_url"].startswith("data:image/png;base64,")


def test_another_owners_file_is_not_found():
    with pytest.raises(APIError) as err:
        resolve([message({"type": "input_file", "file_id": "file-1"})], TEXT_ONLY, owner="other")
    assert err.value.status == 404 and err.value.param == "input[0].content[0].file_id"


def test_items_without_files_are_the_same_objects():
    items = [message({"type": "input_text", "text": "hi"})]
    assert resolve(items, TEXT_ONLY) is items
