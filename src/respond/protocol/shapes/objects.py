"""The other objects the API answers with: a list page, a deletion, a conversation (SDK names)."""

from __future__ import annotations

from typing import Generic, Literal, TypedDict, TypeVar

from respond.protocol.shapes.items import CompactionItem, MessageItem
from respond.protocol.shapes.response import ImageConfig, UsageDict

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


class InputTokensCount(TypedDict):
    """`POST /responses/input_tokens` (the SDK's `InputTokenCountResponse`)."""

    object: Literal["response.input_tokens"]
    input_tokens: int


class CompactedDict(TypedDict):
    """`POST /responses/compact` (the SDK's `CompactedResponse`), with what Respond echoes of the request."""

    id: str
    object: Literal["response.compaction"]
    created_at: int
    output: list[MessageItem | CompactionItem]  # the user's messages, then the compaction item
    usage: UsageDict
    image: ImageConfig | None
    safety_identifier: str | None
    service_tier: str
