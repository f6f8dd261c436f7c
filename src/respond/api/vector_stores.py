"""HTTP routes of vector stores: stores, their files, file batches and search."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.files import knowledge, order_param
from respond.api.routes import JSON, _int_param, _json_body, _owner
from respond.protocol.errors import invalid


async def _body(request: Request) -> dict:  # type: ignore[type-arg]
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", None, "invalid_json")
    return body


def _sid(request: Request) -> str:
    sid: str = request.path_params["vector_store_id"]
    return sid


def _paging(request: Request) -> dict:  # type: ignore[type-arg]
    q = request.query_params
    return {"after": q.get("after"), "before": q.get("before"), "limit": _int_param(request, "limit", 20, 1, 100),
            "order": order_param(request)}


async def create_store(request: Request) -> Response:
    return JSON(await knowledge(request).create_store(_owner(request), await _body(request)))


async def list_stores(request: Request) -> Response:
    return JSON(await knowledge(request).list_stores(_owner(request), **_paging(request)))


async def retrieve_store(request: Request) -> Response:
    return JSON(await knowledge(request).get_store(_owner(request), _sid(request)))


async def update_store(request: Request) -> Response:
    return JSON(await knowledge(request).update_store(_owner(request), _sid(request), await _body(request)))


async def delete_store(request: Request) -> Response:
    return JSON(await knowledge(request).delete_store(_owner(request), _sid(request)))


async def attach_file(request: Request) -> Response:
    return JSON(await knowledge(request).attach(_owner(request), _sid(request), await _body(request)))


async def list_store_files(request: Request) -> Response:
    return JSON(await knowledge(request).list_vs_files(_owner(request), _sid(request),
                                                       status=request.query_params.get("filter"), **_paging(request)))


async def retrieve_store_file(request: Request) -> Response:
    return JSON(await knowledge(request).get_vs_file(_owner(request), _sid(request), request.path_params["file_id"]))


async def update_store_file(request: Request) -> Response:
    return JSON(await knowledge(request).update_vs_file(_owner(request), _sid(request), request.path_params["file_id"],
                                                        await _body(request)))


async def cancel_batch(request: Request) -> Response:
    return JSON(await knowledge(request).cancel_batch(_owner(request), _sid(request), request.path_params["batch_id"]))


async def delete_store_file(request: Request) -> Response:
    return JSON(await knowledge(request).detach(_owner(request), _sid(request), request.path_params["file_id"]))


async def create_batch(request: Request) -> Response:
    return JSON(await knowledge(request).create_batch(_owner(request), _sid(request), await _body(request)))


async def retrieve_batch(request: Request) -> Response:
    return JSON(await knowledge(request).get_batch(_owner(request), _sid(request), request.path_params["batch_id"]))


async def list_batch_files(request: Request) -> Response:
    fs, owner, sid, bid = knowledge(request), _owner(request), _sid(request), request.path_params["batch_id"]
    await fs.get_batch(owner, sid, bid)
    return JSON(await fs.list_vs_files(owner, sid, status=request.query_params.get("filter"), batch_id=bid,
                                       **_paging(request)))


async def search(request: Request) -> Response:
    return JSON(await knowledge(request).search(_owner(request), _sid(request), await _body(request)))


P = "/v1/vector_stores"
ROUTES = [
    Route(P, create_store, methods=["POST"]),
    Route(P, list_stores, methods=["GET"]),
    Route(P + "/{vector_store_id}", retrieve_store, methods=["GET"]),
    Route(P + "/{vector_store_id}", update_store, methods=["POST"]),
    Route(P + "/{vector_store_id}", delete_store, methods=["DELETE"]),
    Route(P + "/{vector_store_id}/files", attach_file, methods=["POST"]),
    Route(P + "/{vector_store_id}/files", list_store_files, methods=["GET"]),
    Route(P + "/{vector_store_id}/files/{file_id}", retrieve_store_file, methods=["GET"]),
    Route(P + "/{vector_store_id}/files/{file_id}", update_store_file, methods=["POST"]),
    Route(P + "/{vector_store_id}/files/{file_id}", delete_store_file, methods=["DELETE"]),
    Route(P + "/{vector_store_id}/file_batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route(P + "/{vector_store_id}/file_batches", create_batch, methods=["POST"]),
    Route(P + "/{vector_store_id}/file_batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route(P + "/{vector_store_id}/file_batches/{batch_id}/files", list_batch_files, methods=["GET"]),
    Route(P + "/{vector_store_id}/search", search, methods=["POST"]),
]
