"""The HTTP adapter: `create_app(service, keys)` composes routes, auth, logging and error mapping.

No state lives at import time; every app is built by its caller (tests build their own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from respond.api import conversations, routes, websocket
from respond.api.auth import KeyRing
from respond.engine.conversations import ConversationService
from respond.engine.service import ResponsesService
from respond.engine.workers import RunManager
from respond.protocol.errors import APIError
from respond.protocol.ids import new_id

log = logging.getLogger("respond.http")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _error(exc: APIError) -> Response:
    return routes.JSON(exc.envelope(), status_code=exc.status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return _error(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error(APIError(404, f"Invalid URL ({request.method} {request.url.path}).", code="not_found"))
    if exc.status_code == 405:
        return _error(routes.not_allowed(request.method, request.url.path))
    return _error(APIError(exc.status_code, str(exc.detail)))


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(APIError(500, "The server had an error while processing your request.", type="server_error",
                           code="server_error"))


class AuthAndLog:
    """Pure ASGI middleware: resolve the owner from the bearer key, log one line per request."""

    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = new_id("req")[:28]
        status = [500]

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            if scope["path"] in ("/health", "/v1/health"):
                scope.setdefault("state", {})["owner"] = "anonymous"
            else:
                auth = None
                for name, value in scope["headers"]:
                    if name == b"authorization":
                        auth = value.decode("latin-1")
                scope.setdefault("state", {})["owner"] = self.keys.owner(auth)
        except APIError as exc:
            await _error(exc)(scope, receive, send_wrapper)
        else:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info("%s %s %s %d %.1fms", rid, scope["method"], scope["path"], status[0],
                     (time.perf_counter() - start) * 1000)


def create_app(service: ResponsesService, runs: RunManager, keys: KeyRing,
               extra_routes: list[Route] | None = None, lifespan: Any = None) -> Starlette:
    r = [
        Route("/v1/responses", routes.create_response, methods=["POST"]),
        Route("/v1/responses/input_tokens", routes.count_input_tokens, methods=["POST"]),
        Route("/v1/responses/compact", routes.compact, methods=["POST"]),
        Route("/v1/responses/{response_id}", routes.retrieve_response, methods=["GET"]),
        Route("/v1/responses/{response_id}", routes.delete_response, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", routes.list_input_items, methods=["GET"]),
        Route("/v1/responses/{response_id}/cancel", routes.cancel_response, methods=["POST"]),
        Route("/v1/models", routes.list_models, methods=["GET"]),
        Route("/health", routes.health, methods=["GET"]),
        *conversations.ROUTES,
        WebSocketRoute("/v1/responses", websocket.responses_socket),
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=r,
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.runs = runs
    app.state.keys = keys
    app.state.conversations = ConversationService(service.store)
    app.add_middleware(AuthAndLog, keys=keys)
    return app
