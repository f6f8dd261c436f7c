"""The storage ports besides responses: one unit of work, and what file_search keeps.

- `UnitOfWork`: run a function as one read or one write transaction.  The store adapters
  build every operation on it, so SQLite and PostgreSQL take the same path; how a
  transaction is executed (SQLite: one writer thread and a small reader pool on plain sqlite3
  connections; PostgreSQL: the async engine's pool) is the adapter's business.  Generic in
  the connection type it hands to the function: core names no database library.
- `FileStore`: uploaded files, vector stores, their attachments and batches (owner-scoped).
- `VectorIndex`: the chunks of those files, searched lexically and densely.

Tools reach storage only through these; the store package implements them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np

Row = dict[str, Any]
T = TypeVar("T")
C = TypeVar("C", covariant=True)


class UnitOfWork(Protocol[C]):
    async def read(self, fn: Callable[[C], T]) -> T:
        """`fn(connection)` as a read: it sees one consistent state, writes nothing."""
        ...

    async def write(self, fn: Callable[[C], T], quick: bool = False) -> T:
        """`fn(connection)` as one write transaction: all of it is committed, or none.  `quick`: a
        few small rows on a hot path, which an adapter may run where it costs least (`fn` may then
        run twice: a first attempt that could not take the lock is rolled back whole)."""
        ...


class FileStore(Protocol):
    async def add_file(self, meta: Row, owner: str, content: bytes) -> None: ...

    async def get_file(self, file_id: str, owner: str) -> Row | None: ...

    async def file_content(self, file_id: str, owner: str) -> bytes | None: ...

    async def list_files(self, owner: str | None, *, purpose: str | None, after: str | None, limit: int,
                         order: str) -> tuple[list[Row], bool]: ...

    async def delete_file(self, file_id: str, owner: str) -> list[str] | None:
        """Delete a file and detach it everywhere; the ids of the vector stores it was in."""
        ...

    async def expired_files(self, now: int) -> list[tuple[str, str]]:
        """(file id, owner) of the files whose `expires_at` has passed."""
        ...

    async def put_store(self, store: Row, owner: str, *, new: bool) -> None: ...

    async def touch_store(self, store_id: str, now: int) -> None:
        """A search used the store: move `last_active_at`, and `expires_at` with it."""
        ...

    async def get_store(self, store_id: str, owner: str) -> Row | None: ...

    async def store_owner(self, store_id: str) -> str | None: ...

    async def list_stores(self, owner: str | None, *, after: str | None, before: str | None, limit: int,
                          order: str) -> tuple[list[Row], bool]: ...

    async def delete_store(self, store_id: str, owner: str) -> bool: ...

    async def file_counts(self, store_ids: list[str], batch_id: str | None = None) -> dict[str, Row]:
        """{store_id: {"in_progress", "completed", "failed", "cancelled", "total", "usage_bytes"}}."""
        ...

    async def attach(self, store_id: str, file_id: str, owner: str, created_at: int, body: Row,
                     batch_id: str | None = None) -> None:
        """Attach (or re-attach, restarting ingestion) a file to a store, status in_progress."""
        ...

    async def set_file_status(self, store_id: str, file_id: str, status: str, *, usage_bytes: int = 0,
                              last_error: Row | None = None) -> None: ...

    async def set_attributes(self, store_id: str, file_id: str, owner: str, attributes: Row | None) -> bool: ...

    async def cancel_batch(self, batch_id: str) -> None:
        """Files of the batch not yet ingested end `cancelled` (the ingestor skips them)."""
        ...

    async def get_vs_file(self, store_id: str, file_id: str, owner: str) -> Row | None: ...

    async def list_vs_files(self, store_id: str, owner: str, *, status: str | None = None,
                            batch_id: str | None = None, after: str | None = None, before: str | None = None,
                            limit: int = 10_000, order: str = "desc") -> tuple[list[Row], bool]: ...

    async def detach(self, store_id: str, file_id: str, owner: str) -> bool: ...

    async def in_progress(self) -> list[Row]:
        """Every attachment left in_progress (by a restart mid-ingest), with its owner."""
        ...

    async def add_batch(self, batch_id: str, store_id: str, owner: str, created_at: int) -> None: ...

    async def get_batch(self, batch_id: str, store_id: str, owner: str) -> Row | None: ...


class VectorIndex(Protocol):
    def invalidate(self, store_id: str) -> None:
        """Forget what this process cached of the store (its chunks changed)."""
        ...

    async def replace_file(self, store_id: str, file_id: str, texts: list[str],
                           vectors: np.ndarray | None) -> None:
        """Write a file's chunks (and their lexical entries) in one transaction."""
        ...

    async def delete(self, store_id: str, file_id: str | None = None) -> None: ...

    async def lexical(self, store_ids: list[str], query: str, limit: int,
                      file_ids: set[str] | None = None) -> list[tuple[int, float]]:
        """(chunk pk, score) best first."""
        ...

    async def dense(self, store_ids: list[str], vector: np.ndarray, limit: int,
                    file_ids: set[str] | None = None) -> list[tuple[int, float]]:
        """(chunk pk, cosine similarity) best first, exact, across the stores."""
        ...

    async def fetch(self, pks: list[int]) -> dict[int, tuple[str, str]]:
        """{pk: (file_id, text)}."""
        ...
