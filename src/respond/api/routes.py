"""Thin HTTP handlers: parse the request, call the engine, shape the reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from respond.api.sse import EventStream, Watch, framed
from respond.engine.background.workers import RunManager
from respond.engine.execution.detach import detached
from respond.engine.service import ResponsesService
from respond.engine.started import Running, Started
from respond.engine.stream.include import with_include
from respond.engine.tenants.keys import model_allowed
from respond.protocol.bodies import CompactResponse, CountInputTokens, parse
from respond.protocol.errors import APIError, invalid
from respond.protocol.limits import MAX_DEPTH, check_json
from respond.protocol.pagination import ListParams, int_param
from respond.protocol.shapes import StreamEvent

T = TypeVar("T")


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Answer(Response):
    """A 200 JSON answer sent as `JSON` sends it (the same two messages and headers), without building
    a header object first (`Response.__init__`): the answer of every non-streamed create."""

    def __init__(self, content: Any) -> None:  # (no super().__init__: what this leaves out)
        self.body = orjson.dumps(content)
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = self.body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def error_response(exc: APIError) -> Response:
    """`exc` in the OpenAI envelope (with `Retry-After` when it says when to retry)."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSON(exc.envelope(), status_code=exc.status, headers=headers)


def _service(request: Request) -> ResponsesService:
    svc: ResponsesService = request.app.state.service
    return svc


def _owner(request: Request) -> str:
    owner: str = request.state.owner
    return owner


async def _json_body(request: Request) -> Any:
    return _parsed(await request.body())


async def _whole_body(request: Request) -> bytes:
    """The body, read from `receive` in place (`Request.body` reads it through an async generator)."""
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _parsed(raw: bytes) -> Any:
    if not raw:
        raise invalid("The request body is empty; send a JSON object.", None, "invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc).lower() or "recursion" in str(exc).lower():
            raise invalid(f"The JSON body is nested too deeply: at most {MAX_DEPTH} levels.", None,
                          "nested_too_deeply") from None
        raise invalid(f"We could not parse the JSON body of your request ({exc}). The API expects a "
                      "JSON payload.", None, "invalid_json") from None
    check_json(body, len(raw))
    return body


def _include(request: Request) -> list[str]:
    return request.query_params.getlist("include[]") + request.query_params.getlist("include")


def _runs(request: Request) -> RunManager:
    runs: RunManager = request.app.state.runs
    return runs


def _stream(events: AsyncIterator[StreamEvent], obfuscate: bool,
            before: Callable[[], Awaitable[None]] | None = None) -> EventStream:
    """`obfuscate`: padding on delta events (api/sse.py), on unless the client turned it off; `before`:
    awaited before the first event goes out (a run's `visible`: it is stored then)."""
    return EventStream(framed(detached(events, before), obfuscate), headers_with_first=before is not None)


async def create_response(request: Request) -> Response:
    body = _parsed(await _whole_body(request))
    svc, owner = _service(request), _owner(request)

    async def work() -> Started:
        started = await svc.create(body, owner)
        if isinstance(started, Running) and not started.req.stream:
            async for _ in started.run.events():
                pass
        return started

    started = await _unless_gone(request, work())
    if started is None:
        return Response(status_code=499)  # the client left; nobody is listening any more
    req = started.req
    obfuscate = (req.stream_options or {}).get("include_obfuscation") is not False
    if isinstance(started, Running):
        if req.stream:
            return _stream(started.run.events(), obfuscate, started.run.visible)
        return Answer(with_include(started.run.response, req.include, _service(request).vocabulary))
    if req.stream:  # background: queued for a worker (generate:false is the WebSocket's only)
        return _stream(await _runs(request).follow(started.response["id"], owner, -1, req.include), obfuscate)
    return Answer(started.response)


async def _unless_gone(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work` unless the client disconnects first: then it is cancelled, which closes its
    upstream request at once (a run being drained is stored `cancelled`); None then.  Streams
    are watched by the streaming response itself once their headers are out.  The connection is watched
    once `work` has run `WATCH_AFTER` seconds (`Watch`): most answers are out before then."""
    watch = Watch(request.receive)
    try:
        done = await work
    except asyncio.CancelledError:
        if not watch.ours():
            raise
        return None
    finally:
        watch.stop()
    if watch.left:  # `work` swallowed the cancellation and ended anyway: the client is gone all the same
        watch.uncancel()
        return None
    return done


async def count_input_tokens(request: Request) -> Response:
    return JSON(await _service(request).count_input_tokens(parse(CountInputTokens, await _json_body(request)),
                                                              _owner(request)))


async def compact(request: Request) -> Response:
    return JSON(await _service(request).compact(parse(CompactResponse, await _json_body(request)), _owner(request)))


async def retrieve_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    obfuscate = _bool_param(request, "include_obfuscation", True)  # (a JSON answer has no delta to pad)
    if request.query_params.get("stream", "false").lower() == "true":
        after = _int_param(request, "starting_after", -1, -1, 2**31)
        return _stream(await _runs(request).follow(rid, _owner(request), after, _include(request)), obfuscate)
    return JSON(await _service(request).retrieve(rid, _owner(request), _include(request)))


async def cancel_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    return JSON(await _runs(request).cancel(rid, _owner(request)))


async def delete_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    return JSON(await _service(request).delete(rid, _owner(request)))


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    return int_param(request.query_params, name, default, lo, hi)


def _bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise invalid(f"Invalid type for '{name}': expected a boolean ('true' or 'false'), but got '{raw}'.",
                      name, "invalid_type")
    return raw.lower() == "true"


async def list_input_items(request: Request) -> Response:
    rid = request.path_params["response_id"]
    page = await _service(request).input_items(
        rid, _owner(request), **ListParams.parse(request.query_params).cursor(), include=_include(request))
    return JSON(page)


async def list_models(request: Request) -> Response:
    models = await _service(request).router.models()
    key = getattr(request.state, "tenant_key", None)  # a stored key lists only the models it may use
    if key is not None:
        models = [m for m in models if model_allowed(key.models, m.id) or (m.alias_for is not None and
                                                                         model_allowed(key.models, m.alias_for))]
    return JSON({"object": "list", "data": [
        {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by,
         **({"alias_for": m.alias_for} if m.alias_for else {})} for m in models]})


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


def not_allowed(method: str, path: str) -> APIError:
    return APIError(405, f"Method {method} is not allowed on {path}.", code="method_not_allowed")
