"""HTTP routes of the Containers API: containers, and their files (multipart upload or a file_id)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.common import (
    bind,
    content_disposition,
    cursor_paging,
    is_multipart,
    parsed_body,
    read_upload,
)
from respond.api.routes import JSON, _owner

if TYPE_CHECKING:
    from respond.tools.code_interpreter.containers import Containers


def _cid(request: Request) -> str:
    cid: str = request.path_params["container_id"]
    return cid


async def create(c: Containers, request: Request) -> Response:
    from respond.protocol.resource_bodies import CreateContainer  # the resources' models: on first use

    return JSON(await c.create(_owner(request), await parsed_body(request, CreateContainer)))


async def list_(c: Containers, request: Request) -> Response:
    return JSON(await c.list_containers(_owner(request), name=request.query_params.get("name"), **cursor_paging(request)))


async def retrieve(c: Containers, request: Request) -> Response:
    return JSON(await c.retrieve(_owner(request), _cid(request)))


async def delete(c: Containers, request: Request) -> Response:
    return JSON(await c.delete(_owner(request), _cid(request)))


async def create_file(c: Containers, request: Request) -> Response:
    if is_multipart(request):
        upload, fields = await read_upload(request, c.max_file_bytes, max_fields=8)
        if upload is None:
            return JSON(await c.copy(_owner(request), _cid(request), fields.get("file_id")))
        name, data = upload
        return JSON(await c.upload(_owner(request), _cid(request), name, data))
    from respond.protocol.resource_bodies import CreateContainerFile

    body = await parsed_body(request, CreateContainerFile)
    return JSON(await c.copy(_owner(request), _cid(request), body.file_id))


async def list_files(c: Containers, request: Request) -> Response:
    return JSON(await c.list_files(_owner(request), _cid(request), **cursor_paging(request)))


async def retrieve_file(c: Containers, request: Request) -> Response:
    return JSON(await c.get_file(_owner(request), _cid(request), request.path_params["file_id"]))


async def file_content(c: Containers, request: Request) -> Response:
    meta, data = await c.content(_owner(request), _cid(request), request.path_params["file_id"])
    # the stored path is escaped text (no control character); RFC 6266/5987 for what is not ASCII
    name = meta["path"].rsplit("/", 1)[-1]
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": content_disposition(name)})


async def delete_file(c: Containers, request: Request) -> Response:
    return JSON(await c.delete_file(_owner(request), _cid(request), request.path_params["file_id"]))


def routes(c: Containers) -> list[Route]:
    return [
        Route("/v1/containers", bind(c, create), methods=["POST"]),
        Route("/v1/containers", bind(c, list_), methods=["GET"]),
        Route("/v1/containers/{container_id}", bind(c, retrieve), methods=["GET"]),
        Route("/v1/containers/{container_id}", bind(c, delete), methods=["DELETE"]),
        Route("/v1/containers/{container_id}/files", bind(c, create_file), methods=["POST"]),
        Route("/v1/containers/{container_id}/files", bind(c, list_files), methods=["GET"]),
        Route("/v1/containers/{container_id}/files/{file_id}", bind(c, retrieve_file), methods=["GET"]),
        Route("/v1/containers/{container_id}/files/{file_id}", bind(c, delete_file), methods=["DELETE"]),
        Route("/v1/containers/{container_id}/files/{file_id}/content", bind(c, file_content), methods=["GET"]),
    ]
