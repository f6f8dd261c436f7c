"""HTTP handlers for /v1/conversations (the SDK's `client.conversations`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.routes import JSON, _include, _json_body, _owner
from respond.engine.resolve.conversations import ConversationService
from respond.protocol.bodies import AddConversationItems, CreateConversation, UpdateConversation, parse
from respond.protocol.pagination import ListParams


def _svc(request: Request) -> ConversationService:
    svc: ConversationService = request.app.state.conversations
    return svc


def _cid(request: Request) -> str:
    cid: str = request.path_params["conversation_id"]
    return cid


async def create(request: Request) -> Response:
    return JSON(await _svc(request).create(parse(CreateConversation, await _json_body(request)), _owner(request)))


async def retrieve(request: Request) -> Response:
    return JSON(await _svc(request).retrieve(_cid(request), _owner(request)))


async def update(request: Request) -> Response:
    return JSON(await _svc(request).update(_cid(request), _owner(request),
                                              parse(UpdateConversation, await _json_body(request))))


async def delete(request: Request) -> Response:
    return JSON(await _svc(request).delete(_cid(request), _owner(request)))


async def add_items(request: Request) -> Response:
    return JSON(await _svc(request).add_items(_cid(request), _owner(request),
                                              parse(AddConversationItems, await _json_body(request)),
                                              _include(request)))


async def list_items(request: Request) -> Response:
    return JSON(await _svc(request).list_items(
        _cid(request), _owner(request), **ListParams.parse(request.query_params).cursor(),
        include=_include(request)))


async def get_item(request: Request) -> Response:
    return JSON(await _svc(request).get_item(_cid(request), _owner(request), request.path_params["item_id"],
                                             _include(request)))


async def delete_item(request: Request) -> Response:
    return JSON(await _svc(request).delete_item(_cid(request), _owner(request), request.path_params["item_id"]))


ROUTES = [
    Route("/v1/conversations", create, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", retrieve, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", update, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", delete, methods=["DELETE"]),
    Route("/v1/conversations/{conversation_id}/items", add_items, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}/items", list_items, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", get_item, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", delete_item, methods=["DELETE"]),
]
