"""`Guard`: the request's limits and the last word on errors (applied by api/front.py's `Front`).

- **Body size**: a declared `Content-Length` over the cap is a 413 before one byte of the body is
  read; an undeclared (chunked) body is counted as it arrives and cut off at the cap, so memory
  never holds more than the cap whatever the client sends.  `--max-body-mb` (default 10 MiB, the
  Open Responses cap on input); uploads to `/v1/files` get `--max-file-mb` plus room for the
  multipart framing instead.
- **Ids in the path and the query**: a path segment longer than an id or holding a NUL byte is a
  404 (no such object can exist), a query value with a NUL byte (or an over-long cursor) a 400,
  the same on SQLite and PostgreSQL (PostgreSQL rejects NUL in text; SQLite does not).
- **Errors**: anything a route lets escape is answered here, in the envelope, and the keep-alive
  connection stays usable (Starlette's outermost handler re-raises, and uvicorn then closes the
  connection).  An error that says the database is unreachable becomes a 503 with `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any, TypedDict
from urllib.parse import parse_qsl

import orjson

from respond.protocol.errors import APIError, server_error, unavailable
from respond.protocol.limits import ids_in_path_ok, query_problem

log = logging.getLogger("respond.http")

Scope = MutableMapping[str, Any]
MiB = 1024 * 1024
DB_DOWN = "The database is unreachable right now; nothing was changed. Retry in a moment."


class BodyTooLarge(APIError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than this server accepts ({limit / MiB:g} MiB; see "
                              "--max-body-mb).", code="request_too_large")


async def send_error(send: Any, exc: APIError) -> None:
    body = orjson.dumps(exc.envelope())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.retry_after is not None:
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardOptions(TypedDict, total=False):
    """`Guard`'s settings as the composition root gives them (`create_app(..., guard=...)`)."""

    max_body: int
    max_upload: int
    store_unavailable: Callable[[BaseException], bool]
    store_data_error: Callable[[BaseException], bool]


class Guard:
    """The rules `Front` (api/front.py) applies to each request: its body's cap, what is wrong with it before
    its body is read, and the answer to an error a route let escape."""

    def __init__(self, max_body: int = 10 * MiB, max_upload: int = 33 * MiB,
                 store_unavailable: Callable[[BaseException], bool] | None = None,
                 store_data_error: Callable[[BaseException], bool] | None = None) -> None:
        self.max_body = max_body
        self.max_upload = max_upload
        self.store_unavailable = store_unavailable or (lambda exc: False)
        # the database refused a value of this request: a 400 at once, never a retried outage
        self.store_data_error = store_data_error or (lambda exc: False)

    def limit(self, scope: Scope) -> int:
        return self.max_upload if scope["path"].rstrip("/") == "/v1/files" else self.max_body

    def early(self, scope: Scope, limit: int) -> APIError | None:
        """What is wrong with the request before its body is read, if anything."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return BodyTooLarge(limit)
        if not ids_in_path_ok(scope["path"]):
            return APIError(404, "Not found: ids are at most 64 characters long and contain no NUL byte.",
                            code="not_found")
        query = scope.get("query_string", b"").decode("latin-1")
        bad = query_problem(parse_qsl(query, keep_blank_values=True)) if query else None
        if bad is not None:
            return APIError(400, f"Invalid '{bad}': query values cannot contain NUL bytes, and cursors are ids "
                                 "of at most 64 characters.", param=bad, code="invalid_value")
        return None

    def as_api_error(self, exc: Exception, scope: Scope) -> APIError:
        if isinstance(exc, APIError):
            return exc
        if self.store_unavailable(exc):
            log.warning("database unreachable on %s %s: %s", scope["method"], scope["path"], exc)
            return unavailable(DB_DOWN, "database_unavailable", retry_after=2)
        if self.store_data_error(exc):
            log.warning("the database refused a value on %s %s: %s", scope["method"], scope["path"], exc)
            return APIError(400, "A value in this request cannot be stored (the database refused it: too long, "
                                 "or not valid text). Shorten or correct the request's strings.",
                            code="invalid_value")
        log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
        return server_error()
