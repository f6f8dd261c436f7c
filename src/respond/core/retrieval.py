"""The retrieval port: what the engine's hosted `file_search` tool needs from a knowledge base.

`tools/file_search` implements it (files, vector stores, hybrid search); bootstrap injects it
into the engine, which never sees the store or the embedding model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from respond.protocol.shapes import JSONObject


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One retrieved chunk: its file, a relevance score in [0, 1] and the text."""

    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, str | float | bool] = field(default_factory=dict)  # a file's attributes (the API: strings, numbers, booleans)


class UnknownVectorStore(Exception):
    """A vector store id that does not exist for this owner."""

    def __init__(self, store_id: str) -> None:
        super().__init__(store_id)
        self.store_id = store_id


class Retriever(Protocol):
    async def check_stores(self, owner: str, store_ids: list[str]) -> None:
        """Raise `UnknownVectorStore` for the first id that is not this owner's."""
        ...

    async def search(
        self,
        owner: str,
        store_ids: list[str],
        query: str,
        *,
        max_num_results: int = 10,
        filters: JSONObject | None = None,
        ranking_options: JSONObject | None = None,
    ) -> list[SearchHit]:
        """The best chunks for `query` across the stores, best first (validated `filters`)."""
        ...

    async def file_names(self, owner: str, store_ids: list[str], limit: int) -> tuple[list[str], int]:
        """The names of the stores' searchable files (at most `limit`) and how many files there are."""
        ...

    def check_options(self, filters: Any, ranking_options: Any, param: str) -> None:
        """Raise the protocol's 400 `APIError` for invalid filters or ranking options."""
        ...
