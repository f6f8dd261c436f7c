"""HTTP routes of vector stores: stores, their files, file batches and search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.common import bind, window_paging
from respond.api.common import parsed_body as _body
from respond.api.routes import JSON, _owner

if TYPE_CHECKING:
    from respond.tools.file_search.service import FileSearch


def _sid(request: Request) -> str:
    sid: str = request.path_params["vector_store_id"]
    return sid


# The bodies' models (protocol/resource_bodies.py) are imported by the first request that needs them:
# ~0.5 MB resident that a server nobody asks for vector stores, files or containers does not hold.

async def create_store(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import CreateVectorStore

    return JSON(await fs.create_store(_owner(request), await _body(request, CreateVectorStore)))


async def list_stores(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.list_stores(_owner(request), **window_paging(request)))


async def retrieve_store(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.get_store(_owner(request), _sid(request)))


async def update_store(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import UpdateVectorStore

    return JSON(await fs.update_store(_owner(request), _sid(request), await _body(request, UpdateVectorStore)))


async def delete_store(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.delete_store(_owner(request), _sid(request)))


async def attach_file(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import CreateVectorStoreFile

    return JSON(await fs.attach(_owner(request), _sid(request), await _body(request, CreateVectorStoreFile)))


async def list_store_files(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.list_vs_files(_owner(request), _sid(request),
                                                       status=request.query_params.get("filter"), **window_paging(request)))


async def retrieve_store_file(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.get_vs_file(_owner(request), _sid(request), request.path_params["file_id"]))


async def update_store_file(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import UpdateVectorStoreFile

    return JSON(await fs.update_vs_file(_owner(request), _sid(request), request.path_params["file_id"],
                                        await _body(request, UpdateVectorStoreFile)))


async def cancel_batch(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.cancel_batch(_owner(request), _sid(request), request.path_params["batch_id"]))


async def delete_store_file(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.detach(_owner(request), _sid(request), request.path_params["file_id"]))


async def create_batch(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import CreateFileBatch

    return JSON(await fs.create_batch(_owner(request), _sid(request), await _body(request, CreateFileBatch)))


async def retrieve_batch(fs: FileSearch, request: Request) -> Response:
    return JSON(await fs.get_batch(_owner(request), _sid(request), request.path_params["batch_id"]))


async def list_batch_files(fs: FileSearch, request: Request) -> Response:
    owner, sid, bid = _owner(request), _sid(request), request.path_params["batch_id"]
    await fs.get_batch(owner, sid, bid)
    return JSON(await fs.list_vs_files(owner, sid, status=request.query_params.get("filter"), batch_id=bid,
                                       **window_paging(request)))


async def search(fs: FileSearch, request: Request) -> Response:
    from respond.protocol.resource_bodies import SearchVectorStore

    return JSON(await fs.search(_owner(request), _sid(request), await _body(request, SearchVectorStore)))


P = "/v1/vector_stores"


def routes(fs: FileSearch) -> list[Route]:
    return [
        Route(P, bind(fs, create_store), methods=["POST"]),
        Route(P, bind(fs, list_stores), methods=["GET"]),
        Route(P + "/{vector_store_id}", bind(fs, retrieve_store), methods=["GET"]),
        Route(P + "/{vector_store_id}", bind(fs, update_store), methods=["POST"]),
        Route(P + "/{vector_store_id}", bind(fs, delete_store), methods=["DELETE"]),
        Route(P + "/{vector_store_id}/files", bind(fs, attach_file), methods=["POST"]),
        Route(P + "/{vector_store_id}/files", bind(fs, list_store_files), methods=["GET"]),
        Route(P + "/{vector_store_id}/files/{file_id}", bind(fs, retrieve_store_file), methods=["GET"]),
        Route(P + "/{vector_store_id}/files/{file_id}", bind(fs, update_store_file), methods=["POST"]),
        Route(P + "/{vector_store_id}/files/{file_id}", bind(fs, delete_store_file), methods=["DELETE"]),
        Route(P + "/{vector_store_id}/file_batches/{batch_id}/cancel", bind(fs, cancel_batch), methods=["POST"]),
        Route(P + "/{vector_store_id}/file_batches", bind(fs, create_batch), methods=["POST"]),
        Route(P + "/{vector_store_id}/file_batches/{batch_id}", bind(fs, retrieve_batch), methods=["GET"]),
        Route(P + "/{vector_store_id}/file_batches/{batch_id}/files", bind(fs, list_batch_files), methods=["GET"]),
        Route(P + "/{vector_store_id}/search", bind(fs, search), methods=["POST"]),
    ]
