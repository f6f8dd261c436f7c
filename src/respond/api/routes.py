"""Thin HTTP handlers: parse the request, call the engine, shape the reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from respond.api.sse import SSE_HEADERS, frame
from respond.engine.detach import detached
from respond.engine.service import ResponsesService, with_include
from respond.engine.workers import RunManager
from respond.protocol.errors import APIError, invalid
from respond.protocol.pagination import ListParams, int_param


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _service(request: Request) -> ResponsesService:
    svc: ResponsesService = request.app.state.service
    return svc


def _owner(request: Request) -> str:
    owner: str = request.state.owner
    return owner


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise invalid("The request body is empty; send a JSON object.", None, "invalid_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"We could not parse the JSON body of your request ({exc}). The API expects a "
                      "JSON payload.", None, "invalid_json") from None


def _include(request: Request) -> list[str]:
    return request.query_params.getlist("include[]") + request.query_params.getlist("include")


async def _sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for batch in detached(events):
        yield b"".join(frame(ev) for ev in batch)  # each event whole; ready ones in one write


def _runs(request: Request) -> RunManager:
    runs: RunManager = request.app.state.runs
    return runs


def _stream(events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    return StreamingResponse(_sse(events), media_type="text/event-stream", headers=SSE_HEADERS)


async def create_response(request: Request) -> Response:
    body = await _json_body(request)
    run, req, response = await _service(request).create(body, _owner(request))
    if run is None:  # background: queued for a worker
        if req.stream:
            return _stream(await _runs(request).follow(response["id"], _owner(request), -1))
        return JSON(response)
    if req.stream:
        return _stream(run.events())
    async for _ in run.events():
        pass
    return JSON(with_include(run.response, req.include))


async def count_input_tokens(request: Request) -> Response:
    return JSON(await _service(request).count_input_tokens(await _json_body(request), _owner(request)))


async def compact(request: Request) -> Response:
    return JSON(await _service(request).compact(await _json_body(request), _owner(request)))


async def retrieve_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    if request.query_params.get("stream", "false").lower() == "true":
        after = _int_param(request, "starting_after", -1, -1, 2**31)
        return _stream(await _runs(request).follow(rid, _owner(request), after))
    return JSON(await _service(request).retrieve(rid, _owner(request), _include(request)))


async def cancel_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    return JSON(await _runs(request).cancel(rid, _owner(request)))


async def delete_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    return JSON(await _service(request).delete(rid, _owner(request)))


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    return int_param(request.query_params, name, default, lo, hi)


async def list_input_items(request: Request) -> Response:
    rid = request.path_params["response_id"]
    page = await _service(request).input_items(
        rid, _owner(request), **ListParams.parse(request.query_params).cursor(), include=_include(request))
    return JSON(page)


async def list_models(request: Request) -> Response:
    models = await _service(request).router.models()
    return JSON({"object": "list", "data": [
        {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in models]})


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


def not_allowed(method: str, path: str) -> APIError:
    return APIError(405, f"Method {method} is not allowed on {path}.", code="method_not_allowed")
