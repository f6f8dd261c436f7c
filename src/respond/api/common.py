"""What the resource routes (files, vector stores, containers) share: binding a handler to its service,
a JSON body parsed by its model, list paging, a multipart upload, a download's Content-Disposition.

Routes stay thin: each reads the request with these helpers and hands plain values to its service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from respond.api.routes import _json_body
from respond.protocol.bodies import parse
from respond.protocol.pagination import Cursor, ListParams, Window

S = TypeVar("S")
B = TypeVar("B", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]


def bind(service: S, handler: Callable[[S, Request], Awaitable[Response]]) -> Endpoint:
    """A route endpoint with the service it needs given at construction (no app.state lookup)."""

    async def endpoint(request: Request) -> Response:
        return await handler(service, request)

    endpoint.__name__ = handler.__name__
    return endpoint


async def parsed_body(request: Request, model: type[B]) -> B:
    """The request's JSON body as `model` (protocol/bodies.py `parse`: a 400 names what to fix)."""
    return parse(model, await _json_body(request))


def cursor_paging(request: Request) -> Cursor:
    """`after`/`before`/`limit`/`order` as the keyword arguments of a cursor-paged listing."""
    return ListParams.parse(request.query_params).cursor()


def window_paging(request: Request) -> Window:
    """The same parameters as the keyword arguments of a windowed listing (vector stores)."""
    return ListParams.parse(request.query_params).window()


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def read_upload(request: Request, max_bytes: int, *, max_fields: int,
                      ) -> tuple[tuple[str, bytes] | None, dict[str, str]]:
    """A multipart form's `file` part, (filename, bytes) read up to one byte past `max_bytes` so that the
    service can refuse a larger one; and its text fields.  No `file` part: None."""
    async with request.form(max_files=1, max_fields=max_fields, max_part_size=max_bytes + 1) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return None, fields
        return (upload.filename or "upload", await upload.read(max_bytes + 1)), fields


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII `filename` fallback and the exact name as UTF-8 in `filename*` (a header is
    Latin-1, so a name outside it must not be put there raw)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
