"""HTTP routes of the Containers API: containers, and their files (multipart upload or a file_id)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.files import order_param
from respond.api.routes import JSON, _int_param, _json_body, _owner
from respond.protocol.errors import invalid

if TYPE_CHECKING:
    from respond.tools.code_interpreter.containers import Containers


def containers(request: Request) -> Containers:
    c: Containers | None = getattr(request.app.state, "containers", None)
    if c is None:
        raise invalid("Containers are not enabled on this server.", None, "not_enabled")
    return c


def _cid(request: Request) -> str:
    cid: str = request.path_params["container_id"]
    return cid


def _paging(request: Request) -> dict:  # type: ignore[type-arg]
    return {"after": request.query_params.get("after"), "limit": _int_param(request, "limit", 20, 1, 100),
            "order": order_param(request)}


async def create(request: Request) -> Response:
    return JSON(await containers(request).create(_owner(request), await _json_body(request)))


async def list_(request: Request) -> Response:
    return JSON(await containers(request).list_containers(_owner(request), name=request.query_params.get("name"),
                                               **_paging(request)))


async def retrieve(request: Request) -> Response:
    return JSON(await containers(request).retrieve(_owner(request), _cid(request)))


async def delete(request: Request) -> Response:
    return JSON(await containers(request).delete(_owner(request), _cid(request)))


async def create_file(request: Request) -> Response:
    c = containers(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=8, max_part_size=c.max_file_bytes + 1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                file_id = form.get("file_id")
                return JSON(await c.copy(_owner(request), _cid(request), file_id))
            data = await upload.read(c.max_file_bytes + 1)
            name = upload.filename or "upload"
        return JSON(await c.upload(_owner(request), _cid(request), name, data))
    body = await _json_body(request)
    return JSON(await c.copy(_owner(request), _cid(request), body.get("file_id") if isinstance(body, dict) else None))


async def list_files(request: Request) -> Response:
    return JSON(await containers(request).list_files(_owner(request), _cid(request), **_paging(request)))


async def retrieve_file(request: Request) -> Response:
    return JSON(await containers(request).get_file(_owner(request), _cid(request), request.path_params["file_id"]))


async def file_content(request: Request) -> Response:
    meta, data = await containers(request).content(_owner(request), _cid(request), request.path_params["file_id"])
    name = meta["path"].rsplit("/", 1)[-1].replace('"', "")
    return Response(data, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def delete_file(request: Request) -> Response:
    return JSON(await containers(request).delete_file(_owner(request), _cid(request), request.path_params["file_id"]))


ROUTES = [
    Route("/v1/containers", create, methods=["POST"]),
    Route("/v1/containers", list_, methods=["GET"]),
    Route("/v1/containers/{container_id}", retrieve, methods=["GET"]),
    Route("/v1/containers/{container_id}", delete, methods=["DELETE"]),
    Route("/v1/containers/{container_id}/files", create_file, methods=["POST"]),
    Route("/v1/containers/{container_id}/files", list_files, methods=["GET"]),
    Route("/v1/containers/{container_id}/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/containers/{container_id}/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/containers/{container_id}/files/{file_id}/content", file_content, methods=["GET"]),
]
