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

from respond.api import admin, conversations, openapi, routes, websocket
from respond.api.auth import KeyRing, Principals
from respond.api.guard import Guard, GuardOptions
from respond.api.metrics import HttpMetrics, PrometheusMetrics, metrics_endpoint
from respond.core.logctx import request_id, sane_request_id
from respond.engine.background.workers import RunManager
from respond.engine.read.queries import Operations
from respond.engine.resolve.conversations import ConversationService
from respond.engine.service import ResponsesService
from respond.engine.tenants.tenancy import RATE_HEADERS, Tenancy
from respond.protocol.errors import APIError
from respond.protocol.ids import new_id

log = logging.getLogger("respond.http")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _error(exc: APIError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return routes.JSON(exc.envelope(), status_code=exc.status, headers=headers)


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


# Paths that do their own access control (or need none): no bearer key asked here.
OPEN_PATHS = ("/health", "/v1/health", "/openapi.json", "/docs")
OWN_AUTH_PREFIXES = ("/dashboard", "/admin/")


def incoming_request_id(scope: Scope) -> str:
    """The client's `x-request-id` when it is a sane token, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            found = sane_request_id(value.decode("latin-1"))
            if found:
                return found
    return new_id("req")[:28]


class AuthAndLog:
    """Pure ASGI middleware: the request id (in the log context, and echoed), the owner from the
    bearer key, one log line per request."""

    def __init__(self, app: ASGIApp, keys: KeyRing, metrics_keys: KeyRing | None = None,
                 tenancy: Tenancy | None = None) -> None:
        self.app = app
        self.keys = keys
        self.principals = Principals(keys, tenancy)
        self.tenancy = tenancy
        # the operator's keys (--metrics-key, --admin-key): when any is set, /metrics asks for one of them and
        # never takes a tenant's API key (it shows every tenant's figures); with none, an API key as elsewhere
        self.metrics_keys = metrics_keys

    async def _owner(self, scope: Scope) -> str:
        path: str = scope["path"]
        if path in OPEN_PATHS or path.startswith(OWN_AUTH_PREFIXES):
            return "anonymous"
        auth = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
        if path == "/metrics" and self.metrics_keys is not None and self.metrics_keys.enabled:
            return self.metrics_keys.owner(auth)
        owner, key = await self.principals.owner(auth)
        scope.setdefault("state", {})["tenant_key"] = key
        return owner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            token = request_id.set(incoming_request_id(scope))  # one id for the whole session
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = incoming_request_id(scope)
        token = request_id.set(rid)
        status = [500]
        limits: dict[str, str] = {}  # x-ratelimit-* headers, left by the key's admission (engine/tenants/tenancy.py)
        limits_token = RATE_HEADERS.set(limits)

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", rid.encode()))
                key = scope.get("state", {}).get("tenant_key")
                if not limits and key is not None and self.tenancy is not None:
                    limits.update(self.tenancy.last_headers(key))
                headers.extend((k.encode(), v.encode()) for k, v in limits.items())
            await send(message)

        try:
            scope.setdefault("state", {})["owner"] = await self._owner(scope)
        except APIError as exc:
            await _error(exc)(scope, receive, send_wrapper)
        else:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status[0],
                     (time.perf_counter() - start) * 1000)
            request_id.reset(token)
            RATE_HEADERS.reset(limits_token)


def create_app(service: ResponsesService, runs: RunManager, keys: KeyRing,
               extra_routes: list[Any] | None = None, lifespan: Any = None,
               metrics: PrometheusMetrics | None = None, metrics_keys: KeyRing | None = None,
               operations: Operations | None = None, guard: GuardOptions | None = None,
               tenancy: Tenancy | None = None, admin_keys: KeyRing | None = None) -> Starlette:
    """`guard`: Guard's settings (max_body, max_upload, store_unavailable; api/guard.py); `tenancy`:
    keys stored in the database, their limits and usage, managed at /admin/v1 with `admin_keys`."""
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
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        Route("/docs", openapi.docs_page, methods=["GET"]),
        *(extra_routes or []),
        *(admin.routes(tenancy, admin_keys or KeyRing([])) if tenancy is not None else []),
    ]
    if metrics is not None:
        r.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    app = Starlette(
        routes=r,
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.runs = runs
    app.state.keys = keys
    app.state.principals = Principals(keys, tenancy)
    app.state.tenancy = tenancy
    app.state.conversations = ConversationService(service.store, service.vocabulary)
    app.state.metrics = metrics
    app.state.operations = operations or Operations(service.store, runs)  # type: ignore[arg-type]
    app.add_middleware(Guard, **(guard or {}))  # inside auth and logging: its answers are logged
    app.add_middleware(AuthAndLog, keys=keys, metrics_keys=metrics_keys, tenancy=tenancy)
    if metrics is not None:  # outermost: it times auth failures too
        app.add_middleware(HttpMetrics, metrics=metrics, routes=r)
    return app
