"""WebSocket mode (`client.responses.connect()`): `response.create` messages in, events out.

One connection carries many responses, one at a time, each through the same event pipeline as
HTTP.  A failed request answers an `error` event (flat as the SDK reads it, nested as Open
Responses specifies) and the connection stays open.  Each connection has its own `LocalState`:
its `store: false` responses can be continued on it (and only on it); a failed turn evicts the
response it continued; `generate: false` prepares a response without calling the model.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from respond.api.auth import Principals
from respond.engine.detach import detached
from respond.engine.events import replay
from respond.engine.local_state import LocalState
from respond.engine.service import ResponsesService
from respond.engine.started import Running, Warmed
from respond.engine.workers import RunManager
from respond.protocol.errors import APIError
from respond.protocol.limits import check_json

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
    body: dict[str, Any] = {k: v for k, v in msg.items() if k not in CLIENT_ONLY}
    body["stream"] = True  # every response on a socket is streamed
    previous = body.get("previous_response_id")
    previous = previous if isinstance(previous, str) else None
    try:
        check_json(body)
        generate = msg.get("generate", True)
        if not isinstance(generate, bool):
            raise APIError(400, "Invalid type for 'generate': expected a boolean.", param="generate",
                           code="invalid_type")
        started = await service.create(body, owner, local=local, generate=generate)
    except APIError as exc:
        local.evict(previous)  # a failed continuation ends that chain on this connection
        await ws.send_text(error_event(exc).decode())
        return
    if isinstance(started, Warmed):  # prepared, not generated: created ... completed, no output
        for ev in replay(started.response):
            await ws.send_text(orjson.dumps(ev).decode())
        return
    events = started.run.events() if isinstance(started, Running) else await runs.follow(
        started.response["id"], owner, -1, started.req.include)
    last = None
    async for batch in detached(events):
        for ev in batch:
            await ws.send_text(orjson.dumps(ev).decode())
            last = ev
    if last is None or last["type"] in ("response.failed", "error"):
        local.evict(previous)
