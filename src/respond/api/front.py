"""`Front`: the one pure-ASGI layer every request passes, and the direct path of `POST /v1/responses`.

In one coroutine and one `send` wrapper, in this order (outermost first), what three middlewares did:
- metrics: every HTTP request counted and timed by route template (when metrics are on; api/metrics.py);
- auth and log: the request id (in the log context, echoed as `x-request-id`), the owner from the bearer
  key, the key's `x-ratelimit-*` headers, one log line per request;
- the guard's limits and its last word on errors (api/guard.py).

`POST /v1/responses` (the request a gateway serves most) then goes straight to its handler, an `APIError`
answered as Starlette's exception handler would; every other request goes on through Starlette's
`ExceptionMiddleware` and router.  Starlette's `ServerErrorMiddleware` stays outside this layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from respond.api import routes
from respond.api.auth import KeyRing, Principals
from respond.api.guard import BodyTooLarge, Guard, send_error
from respond.api.metrics import PrometheusMetrics, route_template
from respond.core.logctx import request_id, sane_request_id
from respond.engine.tenants.tenancy import RATE_HEADERS, Tenancy
from respond.protocol.errors import APIError
from respond.protocol.ids import token_id

log = logging.getLogger("respond.http")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

# Paths that do their own access control (or need none): no bearer key asked here.
OPEN_PATHS = ("/health", "/v1/health", "/openapi.json", "/docs")
OWN_AUTH_PREFIXES = ("/dashboard", "/admin/")
CREATE = "/v1/responses"


def incoming_request_id(scope: Scope) -> str:
    """The client's `x-request-id` when it is a sane token, else a new one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            found = sane_request_id(value.decode("latin-1"))
            if found:
                return found
    return token_id("req", 24)


class Front:
    def __init__(self, app: ASGIApp, keys: KeyRing, guard: Guard, create: BaseRoute, http_error: ErrorHandler,
                 metrics: PrometheusMetrics | None = None, routes: list[BaseRoute] | None = None,
                 metrics_keys: KeyRing | None = None, tenancy: Tenancy | None = None) -> None:
        """`app`: Starlette's stack below this layer; `create`: the route of `POST /v1/responses` (its
        template for the metrics); `http_error`: the app's handler of Starlette's HTTPException."""
        self.app = app
        self.principals = Principals(keys, tenancy)
        self.tenancy = tenancy
        # the operator's keys (--metrics-key, --admin-key): when any is set, /metrics asks for one of them and
        # never takes a tenant's API key (it shows every tenant's figures); with none, an API key as elsewhere
        self.metrics_keys = metrics_keys
        self.guard = guard
        self.create = create
        self.http_error = http_error
        self.metrics = metrics
        self.routes = routes or []

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
        if scope["type"] != "http":
            if scope["type"] != "websocket":
                await self.app(scope, receive, send)
                return
            token = request_id.set(incoming_request_id(scope))  # one id for the whole session
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return
        start = time.perf_counter()
        rid = incoming_request_id(scope)
        token = request_id.set(rid)
        status = 500
        started = False
        limits: dict[str, str] = {}  # x-ratelimit-* headers, left by the key's admission (engine/tenants/tenancy.py)
        limits_token = RATE_HEADERS.set(limits)

        async def reply(message: MutableMapping[str, Any]) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", rid.encode()))
                key = scope.get("state", {}).get("tenant_key")
                if not limits and key is not None and self.tenancy is not None:
                    limits.update(self.tenancy.last_headers(key))
                headers.extend((k.encode(), v.encode()) for k, v in limits.items())
            await send(message)

        try:
            try:
                scope.setdefault("state", {})["owner"] = await self._owner(scope)
            except APIError as exc:
                await send_error(reply, exc)
                return
            limit = self.guard.limit(scope)
            early = self.guard.early(scope, limit)
            if early is not None:
                await send_error(reply, early)
                return
            received = 0

            async def counted_receive() -> Any:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                return message

            try:
                if scope["path"] == CREATE and scope["method"] == "POST" and not scope.get("root_path"):
                    await self._create(scope, counted_receive, reply)
                else:
                    await self.app(scope, counted_receive, reply)
            except Exception as exc:
                if started:
                    raise  # part of the answer is out: nothing better to do than to drop the connection
                await send_error(reply, self.guard.as_api_error(exc, scope))
        finally:
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, (time.perf_counter() - start) * 1000)
            request_id.reset(token)
            RATE_HEADERS.reset(limits_token)
            if self.metrics is not None:
                m, route, method = self.metrics, route_template(self.routes, scope), scope["method"]
                m.child(m.requests, route, method, str(status)).inc()
                m.child(m.latency, route, method).observe(time.perf_counter() - start)

    async def _create(self, scope: Scope, receive: Any, send: Any) -> None:
        """`POST /v1/responses` without the router: what Starlette's route and exception handling did."""
        scope["route"] = self.create
        request = Request(scope, receive, send)
        try:
            response = await routes.create_response(request)
        except APIError as exc:
            response = routes.error_response(exc)
        except HTTPException as exc:
            response = await self.http_error(request, exc)
        await response(scope, receive, send)
