"""The other objects the API answers with: a list page, a deletion, a conversation (SDK names)."""

from __future__ import annotations

from typing import Generic, Literal, TypedDict, TypeVar

T = TypeVar("T")


class ListPage(TypedDict, Generic[T]):
    """Every list endpoint's page (`SyncCursorPage` in the SDK)."""

    object: Literal["list"]
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


class Deleted(TypedDict):
    """`response.deleted`, `conversation.deleted`, `file`, `vector_store.deleted`..."""

    id: str
    object: str
    deleted: bool


class ConversationDict(TypedDict):
    id: str
    object: Literal["conversation"]
    created_at: int
    metadata: dict[str, str]
