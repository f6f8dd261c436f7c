"""The create route's own reading of its body and sending of its answer (api/routes.py): the same bytes
in and out as Starlette's `Request.body` and the `JSON` response."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from respond.api.routes import JSON, Answer, _whole_body

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/responses", "headers": []}


async def _sent(response: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("an answer reads nothing")

    await response(dict(SCOPE), receive, send)
    return out


@pytest.mark.parametrize("content", [{"id": "resp_1", "output": [{"text": "é \u2028"}]}, {}, [1, None]])
async def test_answer_sends_what_json_sends(content: Any) -> None:
    assert await _sent(Answer(content)) == await _sent(JSON(content))


def _request(messages: list[dict[str, Any]]) -> Request:
    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return Request(dict(SCOPE), receive)


@pytest.mark.parametrize("parts", [[b'{"a": 1}'], [b'{"a"', b"", b": 1}"], [b""]])
async def test_whole_body_is_what_request_body_reads(parts: list[bytes]) -> None:
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    assert await _whole_body(_request(list(messages))) == await _request(list(messages)).body() == b"".join(parts)


async def test_a_client_gone_mid_body_is_a_disconnect() -> None:
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b"{", "more_body": True},
                                      {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        await _whole_body(_request(list(messages)))
    with pytest.raises(ClientDisconnect):
        await _request(list(messages)).body()
