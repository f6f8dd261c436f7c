"""backends/upstream_http.py: an upstream body's SSE `data:` payloads, read a chunk at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from respond.backends.upstream_http import Exchange, UpstreamLimits


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class _Resp:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Content(chunks)


async def _payloads(chunks: list[bytes]) -> list[list[bytes]]:
    ex = Exchange(cast(Any, _Resp(chunks)), asyncio.Semaphore(1), "http://up", UpstreamLimits(), 0.0)
    return [found async for found in ex.payloads()]


async def test_the_payloads_of_one_read_come_together_and_other_lines_are_skipped() -> None:
    body = b': comment\n\ndata: {"a":1}\r\n\nevent: x\ndata:{"b":2}\n\ndata: [DONE]\n\n'
    assert await _payloads([body]) == [[b'{"a":1}', b'{"b":2}', b"[DONE]"]]


async def test_a_line_cut_between_two_reads_is_joined() -> None:
    assert await _payloads([b'data: {"a"', b':1}\n\nda', b'ta: {"b":2}\n', b"\n"]) == [
        [b'{"a":1}'], [b'{"b":2}']]


async def test_a_last_line_without_its_newline_still_counts() -> None:
    assert await _payloads([b'data: {"a":1}\n\ndata: [DONE]']) == [[b'{"a":1}'], [b"[DONE]"]]
