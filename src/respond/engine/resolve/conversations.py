"""Conversations: a durable list of items that responses read as context and append to."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from respond.core.ports import Store
from respond.protocol.bodies import AddConversationItems, CreateConversation, Items, UpdateConversation
from respond.protocol.errors import invalid, not_found
from respond.protocol.ids import new_id
from respond.protocol.pagination import page
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes import ConversationDict, Deleted, ListPage
from respond.protocol.vocabulary import Vocabulary


def _items(raw: Items | None, vocabulary: Vocabulary, param: str = "items") -> list[dict[str, Any]]:
    """The items of a body (its model bounds their number), each normalized by the server's vocabulary."""
    items = [vocabulary.normalize_item(it, i) for i, it in enumerate(raw or ())]
    if any(it["type"] == "item_reference" for it in items):
        raise invalid("Item references cannot be added to a conversation.", param, "invalid_value")
    return items


def _conversation(stored: Mapping[str, Any]) -> ConversationDict:
    """A conversation as the store gives it back, as the API answers it."""
    return {"id": str(stored["id"]), "object": "conversation", "created_at": int(stored["created_at"]),
            "metadata": dict(stored.get("metadata") or {})}


class ConversationService:
    def __init__(self, store: Store, vocabulary: Vocabulary) -> None:
        self.store = store
        self.vocabulary = vocabulary  # the server's item types and include values

    async def _get(self, conv_id: str, owner: str) -> ConversationDict:
        conv = await self.store.get_conversation(conv_id, owner)
        if conv is None:
            raise not_found("Conversation", conv_id)
        return _conversation(conv)

    async def create(self, body: CreateConversation, owner: str) -> ConversationDict:
        items = _items(body.items, self.vocabulary)
        return _conversation(await self.store.create_conversation(new_id("conv"), owner, int(time.time()),
                                                                  body.metadata or {}, items))

    async def retrieve(self, conv_id: str, owner: str) -> ConversationDict:
        return await self._get(conv_id, owner)

    async def update(self, conv_id: str, owner: str, body: UpdateConversation) -> ConversationDict:
        await self._get(conv_id, owner)
        updated = await self.store.update_conversation(conv_id, owner, body.metadata or {})
        assert updated is not None
        return _conversation(updated)

    async def delete(self, conv_id: str, owner: str) -> Deleted:
        if not await self.store.delete_conversation(conv_id, owner):
            raise not_found("Conversation", conv_id)
        return {"id": conv_id, "object": "conversation.deleted", "deleted": True}

    async def add_items(self, conv_id: str, owner: str, body: AddConversationItems,
                        include: list[str] | None = None) -> ListPage[dict[str, Any]]:
        await self._get(conv_id, owner)
        items = _items(body.items, self.vocabulary)
        await self.store.add_conversation_items(conv_id, items)
        keep = frozenset(include or ())
        return page([self.vocabulary.strip(it, keep) for it in items], False)

    async def list_items(self, conv_id: str, owner: str, *, after: str | None, limit: int, order: str,
                         include: list[str]) -> ListPage[dict[str, Any]]:
        await self._get(conv_id, owner)
        items, more = await self.store.conversation_items(conv_id, after=after, limit=limit, order=order)
        keep = frozenset(include)
        return page([self.vocabulary.strip(it, keep) for it in items], more)

    async def get_item(self, conv_id: str, owner: str, item_id: str, include: list[str]) -> dict[str, Any]:
        await self._get(conv_id, owner)
        item = await self.store.get_conversation_item(conv_id, item_id)
        if item is None:
            raise not_found("Item", item_id)
        return self.vocabulary.strip(item, frozenset(include))

    async def delete_item(self, conv_id: str, owner: str, item_id: str) -> ConversationDict:
        conv = await self._get(conv_id, owner)
        if not await self.store.delete_conversation_item(conv_id, item_id):
            raise not_found("Item", item_id)
        return conv


def conversation_id(req: CreateResponse) -> str | None:
    """The id of the conversation a create request names (an id, or an object with one), if any."""
    named = req.conversation
    if named is None:
        return None
    conv = named.get("id") if isinstance(named, dict) else named
    if not isinstance(conv, str) or not conv:
        raise invalid("Invalid 'conversation': expected a conversation id or an object with an 'id'.",
                      "conversation", "invalid_value")
    return conv
