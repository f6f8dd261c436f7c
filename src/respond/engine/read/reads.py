"""The read side of a stored response: retrieve (with `include`), delete, list input items.

`ResponsesService` (engine/service.py) holds one and hands it the store, the sealer, the context cache
and the vocabulary; it calls nothing of the create path.
"""

from __future__ import annotations

from respond.core.ports import Store
from respond.engine.assemble.reasoning import sealed_payload
from respond.engine.record.persistence import typed
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.context_cache import ContextCache
from respond.engine.stream.include import with_include
from respond.protocol.errors import not_found
from respond.protocol.pagination import page
from respond.protocol.shapes import Deleted, ListPage, ResponseDict
from respond.protocol.vocabulary import Item, Vocabulary


class Reads:
    def __init__(self, store: Store, sealer: Sealer | None, contexts: ContextCache, vocabulary: Vocabulary) -> None:
        self.store = store
        self.sealer = sealer  # reasoning.encrypted_content on demand (None: an include of it seals nothing)
        self.contexts = contexts  # cleared by a delete
        self.vocabulary = vocabulary

    async def retrieve(self, response_id: str, owner: str, include: list[str] | None = None) -> ResponseDict:
        response = await self.store.get_response(response_id, owner)
        if response is None:
            raise not_found("Response", response_id)
        if self.sealer is not None and "reasoning.encrypted_content" in (include or []):
            for item in response.get("output", []):  # sealed on demand when not sealed at creation
                if item.get("type") == "reasoning" and not item.get("encrypted_content"):
                    item["encrypted_content"] = self.sealer.seal(sealed_payload(item), owner)
        return with_include(typed(response), include, self.vocabulary)

    async def delete(self, response_id: str, owner: str) -> Deleted:
        self.contexts.clear()
        if not await self.store.delete_response(response_id, owner):
            raise not_found("Response", response_id)
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def input_items(self, response_id: str, owner: str, *, after: str | None, limit: int, order: str,
                          include: list[str] | None = None) -> ListPage[Item]:
        found = await self.store.list_input_items(response_id, owner, after=after, limit=limit, order=order)
        if found is None:
            raise not_found("Response", response_id)
        items, more = found
        keep = frozenset(include or [])
        data = [self.vocabulary.strip(it, keep) for it in items]
        return page(data, more)
