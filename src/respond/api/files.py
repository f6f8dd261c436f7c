"""HTTP routes of the Files API: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.common import bind, content_disposition, is_multipart, read_upload
from respond.api.routes import JSON, _owner
from respond.protocol.errors import invalid
from respond.protocol.pagination import ListParams

if TYPE_CHECKING:
    from respond.tools.file_search.service import FileSearch


async def upload_file(fs: FileSearch, request: Request) -> Response:
    if not is_multipart(request):
        raise invalid("Uploads must be multipart/form-data with a 'file' and a 'purpose'.", "file", "invalid_request")
    upload, fields = await read_upload(request, fs.max_file_bytes, max_fields=16)
    if upload is None:
        raise invalid("Missing required parameter: 'file'.", "file", "missing_required_parameter")
    from respond.protocol.resource_bodies import FileUpload  # the resources' models: on first use

    form = FileUpload.from_form(fields)
    filename, data = upload
    return JSON(await fs.upload(_owner(request), filename, form.purpose, data, expires_in=form.expires_in()))


async def list_files(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.list_files(
        _owner(request), purpose=request.query_params.get("purpose"),
        **ListParams.parse(request.query_params, limit=10_000, max_limit=10_000).cursor()))


async def retrieve_file(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.get_file(_owner(request), request.path_params["file_id"]))


async def file_content(fs: FileSearch, request: Request) -> Response:
    meta, data = await fs.content(_owner(request), request.path_params["file_id"])
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": content_disposition(meta["filename"])})


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
