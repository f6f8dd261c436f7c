"""The HTTP adapter: `create_app(service, keys)` composes routes, auth, logging and error mapping.

No state lives at import time; every app is built by its caller (tests build their own).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from respond.api import admin, conversations, routes, websocket
from respond.api.auth import KeyRing, Principals
from respond.api.front import Front
from respond.api.guard import Guard, GuardOptions
from respond.api.metrics import PrometheusMetrics, metrics_endpoint
from respond.engine.background.workers import RunManager
from respond.engine.read.queries import Operations
from respond.engine.resolve.conversations import ConversationService
from respond.engine.service import ResponsesService
from respond.engine.tenants.tenancy import Tenancy
from respond.protocol.errors import APIError

log = logging.getLogger("respond.http")


_error = routes.error_response


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


async def _openapi_json(request: Request) -> Response:
    """The API description's module (its document builder and TypedDicts) is loaded by its first request."""
    from respond.api import openapi

    return await openapi.openapi_json(request)


async def _docs_page(request: Request) -> Response:
    from respond.api import openapi

    return await openapi.docs_page(request)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(APIError(500, "The server had an error while processing your request.", type="server_error",
                           code="server_error"))


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
        Route("/openapi.json", _openapi_json, methods=["GET"]),
        Route("/docs", _docs_page, methods=["GET"]),
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
    # metrics, auth and log, the guard: one layer (api/front.py), `POST /v1/responses` dispatched by it
    app.add_middleware(Front, keys=keys, guard=Guard(**(guard or {})), create=r[0], http_error=_http_error,
                       metrics=metrics, routes=r, metrics_keys=metrics_keys, tenancy=tenancy)
    return app
