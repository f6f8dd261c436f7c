"""WebSocket mode (`client.responses.connect()`): `response.create` messages in, events out.

One connection carries many responses, one at a time, each through the same event pipeline as
HTTP.  A failed request answers an `error` event (flat as the SDK reads it, nested as Open
Responses specifies) and the connection stays open.  Each connection has its own `LocalState`:
its `store: false` responses can be continued on it (and only on it); a failed turn evicts the
response it continued; `generate: false` prepares a response without calling the model; delta events
carry stream obfuscation padding unless `stream_options.include_obfuscation` is false (api/sse.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from respond.api.auth import Principals
from respond.api.sse import payload
from respond.engine.background.workers import RunManager
from respond.engine.execution.detach import detached
from respond.engine.resolve.local_state import LocalState
from respond.engine.service import ResponsesService
from respond.engine.started import Running, Warmed
from respond.engine.stream.events import replay
from respond.protocol.errors import APIError, server_error
from respond.protocol.limits import check_json
from respond.protocol.params import check_nested
from respond.protocol.requests import to_api_error
from respond.protocol.shapes.values import JSONObject

log = logging.getLogger("respond.websocket")
CLIENT_ONLY = ("type", "generate", "stream_id", "stream", "stream_options")


def error_event(exc: APIError, seq: int = 0) -> bytes:
    flat = {"code": exc.code, "message": exc.message, "param": exc.param}
    return orjson.dumps({"type": "error", "sequence_number": seq, **flat, "error": {**flat, "type": exc.type}})


async def responses_socket(ws: WebSocket) -> None:
    principals: Principals = ws.app.state.principals
    service: ResponsesService = ws.app.state.service
    runs: RunManager = ws.app.state.runs
    try:
        owner, _key = await principals.owner(ws.headers.get("authorization"))
    except APIError as exc:
        await ws.accept()
        await ws.send_bytes(error_event(exc))
        await ws.close(code=1008)
        return
    await ws.accept()
    local = LocalState()
    start, count = time.perf_counter(), 0
    log.info("websocket session opened")
    try:
        while True:
            raw = await ws.receive_text()
            count += 1
            await _one(ws, raw, owner, service, runs, local)
    except WebSocketDisconnect:
        return
    finally:
        log.info("websocket session closed: %d messages in %.1fs", count, time.perf_counter() - start)


async def _one(ws: WebSocket, raw: str, owner: str, service: ResponsesService, runs: RunManager,
               local: LocalState) -> None:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        await ws.send_text(error_event(APIError(400, "Messages must be JSON objects.", code="invalid_json"))
                           .decode())
        return
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind != "response.create":
        await ws.send_text(error_event(APIError(
            400, f"Unsupported message type '{kind}'. Supported: 'response.create'.", param="type",
            code="invalid_value")).decode())
        return
    previous = msg.get("previous_response_id")
    try:
        ok = await _turn(ws, msg, owner, service, runs, local)
    except WebSocketDisconnect:
        raise
    except APIError as exc:
        ok = False
        await ws.send_text(error_event(exc).decode())
    except Exception:  # the connection stays open; the turn failed with a 5xx
        log.exception("a websocket turn failed")
        ok = False
        await ws.send_text(error_event(server_error()).decode())
    if not ok:  # a failed turn ends, on this connection, the chain it continued
        local.evict(previous if isinstance(previous, str) else None)


async def _turn(ws: WebSocket, msg: JSONObject, owner: str, service: ResponsesService, runs: RunManager,
                local: LocalState) -> bool:
    """One `response.create`: its events sent; False when it failed (its error is the last event)."""
    body: JSONObject = {k: v for k, v in msg.items() if k not in CLIENT_ONLY}
    body["stream"] = True  # every response on a socket is streamed
    check_json(body)
    generate = msg.get("generate", True)
    if not isinstance(generate, bool):
        raise APIError(400, "Invalid type for 'generate': expected a boolean.", param="generate",
                       code="invalid_type")
    obfuscate = _obfuscation(msg.get("stream_options"))
    started = await service.create(body, owner, local=local, generate=generate)
    if isinstance(started, Warmed):  # prepared, not generated: created ... completed, no output
        for ev in replay(started.response, include=started.req.include, vocabulary=service.vocabulary):
            await ws.send_text(orjson.dumps(ev).decode())
        return True
    events = started.run.events() if isinstance(started, Running) else await runs.follow(
        started.response["id"], owner, -1, started.req.include)
    last = None
    async for batch in detached(events, started.run.visible if isinstance(started, Running) else None):
        for ev in batch:
            await ws.send_text(payload(ev, obfuscate).decode())
            last = ev
    return last is not None and last["type"] not in ("response.failed", "error")


def _obfuscation(options: Any) -> bool:
    """`stream_options.include_obfuscation` of a `response.create` message (every response on a socket
    streams): padding on delta events, as over SSE, unless turned off."""
    if options is None:
        return True
    if not isinstance(options, dict):
        raise APIError(400, "Invalid type for 'stream_options': expected an object.", param="stream_options",
                       code="invalid_type")
    exc = check_nested("stream_options", options)
    if exc is not None:
        raise to_api_error(exc, ("stream_options",))
    return options.get("include_obfuscation") is not False
