"""The read side of a stored response: retrieve (with `include`), delete, list input items.

A mixin of `ResponsesService` (engine/service.py), which gives it the store, the sealer and the
context cache; it calls nothing of the create path.
"""

from __future__ import annotations

from typing import Any

from respond.core.ports import Store
from respond.engine.assemble.reasoning import sealed_payload
from respond.engine.record.persistence import typed
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.context_cache import ContextCache
from respond.engine.stream.include import with_include
from respond.protocol.errors import not_found
from respond.protocol.pagination import page
from respond.protocol.shapes import Deleted, ListPage, ResponseDict
from respond.protocol.vocabulary import Vocabulary


class ReadSide:
    store: Store
    sealer: Sealer | None
    contexts: ContextCache
    vocabulary: Vocabulary

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
                          include: list[str] | None = None) -> ListPage[dict[str, Any]]:
        found = await self.store.list_input_items(response_id, owner, after=after, limit=limit, order=order)
        if found is None:
            raise not_found("Response", response_id)
        items, more = found
        keep = frozenset(include or [])
        data = [self.vocabulary.strip(it, keep) for it in items]
        return page(data, more)
