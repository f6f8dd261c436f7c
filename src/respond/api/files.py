"""HTTP routes of the Files API: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.routes import JSON, _owner
from respond.protocol.errors import invalid
from respond.protocol.pagination import ListParams

if TYPE_CHECKING:
    from respond.tools.file_search.service import FileSearch


Handler = Callable[["FileSearch", Request], Awaitable[Response]]


def bind(fs: FileSearch, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route endpoint with the service it needs given at construction (no app.state lookup)."""

    async def endpoint(request: Request) -> Response:
        return await handler(fs, request)

    endpoint.__name__ = handler.__name__
    return endpoint


async def upload_file(fs: FileSearch, request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise invalid("Uploads must be multipart/form-data with a 'file' and a 'purpose'.", "file", "invalid_request")
    async with request.form(max_files=1, max_fields=16, max_part_size=fs.max_file_bytes + 1) as form:
        upload = form.get("file")
        purpose = form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise invalid("Missing required parameter: 'file'.", "file", "missing_required_parameter")
        data = await upload.read(fs.max_file_bytes + 1)
        filename = upload.filename or "upload"
    return JSON(await fs.upload(_owner(request), filename, purpose if isinstance(purpose, str) else None, data))


async def list_files(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.list_files(
        _owner(request), purpose=request.query_params.get("purpose"),
        **ListParams.parse(request.query_params, limit=10_000, max_limit=10_000).cursor()))


async def retrieve_file(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.get_file(_owner(request), request.path_params["file_id"]))


async def file_content(fs: FileSearch, request: Request) -> Response:
    meta, data = await fs.content(_owner(request), request.path_params["file_id"])
    name = meta["filename"].replace('"', "")
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def delete_file(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.delete_file(_owner(request), request.path_params["file_id"]))


def routes(fs: FileSearch) -> list[Route]:
    return [
        Route("/v1/files", bind(fs, upload_file), methods=["POST"]),
        Route("/v1/files", bind(fs, list_files), methods=["GET"]),
        Route("/v1/files/{file_id}", bind(fs, retrieve_file), methods=["GET"]),
        Route("/v1/files/{file_id}", bind(fs, delete_file), methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", bind(fs, file_content), methods=["GET"]),
    ]
