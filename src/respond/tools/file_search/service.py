"""The Files and Vector Stores use cases, shaped as OpenAI's objects; errors are OpenAI envelopes.

`FileSearch` composes the file store, the chunk index, the embedder, the ingestor and the
hybrid searcher; the HTTP routes (api/files.py, api/vector_stores.py) call it, the engine sees
only its `Retriever` face (`.retriever`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from respond.core.ports import Row
from respond.core.storage import FileStore, VectorIndex
from respond.protocol.errors import APIError, invalid, not_found
from respond.protocol.ids import new_id, token_id
from respond.protocol.pagination import page
from respond.protocol.shapes import ListPage
from respond.tools.file_search import filters as flt
from respond.tools.file_search.chunking import ChunkingStrategy, resolve_strategy
from respond.tools.file_search.embedder import LazyEmbedder

if TYPE_CHECKING:  # the bodies are parsed by the routes (api/vector_stores.py), which load their models on use
    from respond.protocol.resource_bodies import (
        ChunkingStrategyParam,
        CreateFileBatch,
        CreateVectorStore,
        CreateVectorStoreFile,
        FilePurpose,
        SearchVectorStore,
        UpdateVectorStore,
        UpdateVectorStoreFile,
    )
from respond.tools.file_search.ingest import Ingestor
from respond.tools.file_search.rewrite import rewrite
from respond.tools.file_search.search import HybridSearch, check_ranking

log = logging.getLogger("respond.file_search")

MAX_FILE_BYTES = 32 * 1024 * 1024
SWEEP_EVERY = 30.0  # seconds between two sweeps of expired files when no request triggers one


def file_object(row: Row) -> Row:
    return {"id": row["id"], "object": "file", "bytes": row["bytes"], "created_at": row["created_at"],
            "filename": row["filename"], "purpose": row["purpose"], "status": "processed",
            "expires_at": row.get("expires_at"), "status_details": None}


def _counts(c: Row) -> Row:
    return {k: c[k] for k in ("in_progress", "completed", "failed", "cancelled", "total")}


class FileSearch:
    def __init__(self, files: FileStore, index: VectorIndex, *, embedder: bool = True,
                 max_file_bytes: int = MAX_FILE_BYTES, clock: Callable[[], float] = time.time) -> None:
        self.files = files
        self.clock = clock  # created_at, last_active_at, expiry (tests move it)
        self.index = index
        model = LazyEmbedder(enabled=embedder)  # dense vectors when the model package is installed
        self.ingestor = Ingestor(self.files, self.index, model)
        self.retriever = HybridSearch(self.files, self.index, model, clock=clock)
        self.max_file_bytes = max_file_bytes
        self._swept = -1  # the clock's second of the last expiry sweep
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ingestor.start()
        self._sweeper = asyncio.create_task(self._sweeping())
        resumed = await self.ingestor.resume()
        if resumed:
            log.info("re-queued %d file(s) left in_progress", resumed)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.ingestor.stop()

    # -- files ---------------------------------------------------------------------------------------
    async def upload(self, owner: str, filename: str, purpose: FilePurpose, data: bytes,
                     expires_in: int | None = None) -> Row:
        """A new file (`purpose` and `expires_in` as protocol/resource_bodies.py `FileUpload` checked them)."""
        if not data:
            raise invalid("The uploaded file is empty.", "file", "empty_file")
        if len(data) > self.max_file_bytes:
            raise APIError(413, f"File is too large: {len(data)} bytes; the limit is {self.max_file_bytes} bytes.",
                           param="file", code="file_too_large")
        created = int(self.clock())
        row: Row = {"id": token_id("file", 24, "-"), "bytes": len(data), "created_at": created,
                    "filename": filename or "upload", "purpose": purpose}
        if expires_in is not None:  # expires_after {anchor: created_at, seconds}
            row["expires_at"] = created + expires_in
        await self.files.add_file(row, owner, data)
        return file_object(row)

    async def sweep(self) -> int:
        """Delete the files whose `expires_after` has passed, with their chunks and vector-store entries.
        Run before every file read of the API (at most once per second of the clock) and every
        SWEEP_EVERY seconds by a task, so the hosted tool stops finding them too."""
        now = int(self.clock())
        if now < self._swept + 1:
            return 0
        self._swept = now
        expired = await self.files.expired_files(now)
        for file_id, owner in expired:
            try:
                await self.delete_file(owner, file_id)
            except APIError:  # deleted meanwhile (another request, another replica)
                continue
        if expired:
            log.info("deleted %d expired file(s)", len(expired))
        return len(expired)

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
            except Exception:  # the database may be away; the next round tries again
                log.exception("expired-file sweep failed")

    async def get_file(self, owner: str, file_id: str) -> Row:
        await self.sweep()
        row = await self.files.get_file(file_id, owner)
        if row is None:
            raise not_found("File", file_id)
        return file_object(row)

    async def content(self, owner: str, file_id: str) -> tuple[Row, bytes]:
        meta = await self.get_file(owner, file_id)
        data = await self.files.file_content(file_id, owner)
        return meta, data or b""

    async def list_files(self, owner: str | None, *, purpose: str | None, after: str | None, limit: int,
                         order: str) -> ListPage[Row]:
        await self.sweep()
        rows, more = await self.files.list_files(owner, purpose=purpose, after=after, limit=limit, order=order)
        return page([file_object(r) for r in rows], more)

    async def delete_file(self, owner: str, file_id: str) -> Row:
        stores = await self.files.delete_file(file_id, owner)
        if stores is None:
            raise not_found("File", file_id)
        for sid in stores:
            await self.index.delete(sid, file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- vector stores -------------------------------------------------------------------------------
    async def _store_object(self, store: Row) -> Row:
        counts = (await self.files.file_counts([store["id"]]))[store["id"]]
        expired = store.get("expires_at") is not None and store["expires_at"] < self.clock()
        status = "expired" if expired else "in_progress" if counts["in_progress"] else "completed"
        return {"id": store["id"], "object": "vector_store", "created_at": store["created_at"],
                "name": store.get("name") or "", "usage_bytes": counts["usage_bytes"], "file_counts": _counts(counts),
                "status": status, "expires_after": store.get("expires_after"), "expires_at": store.get("expires_at"),
                "last_active_at": store.get("last_active_at"), "metadata": store.get("metadata") or {}}

    async def _store(self, owner: str, store_id: str) -> Row:
        store = await self.files.get_store(store_id, owner)
        if store is None:
            raise not_found("Vector store", store_id)
        return store

    def _apply(self, store: Row, body: UpdateVectorStore) -> None:
        """The fields the body sets (null clears one), and the expiry they give."""
        sent = body.model_fields_set
        if "name" in sent:
            store["name"] = body.name
        if "metadata" in sent:
            store["metadata"] = body.metadata
        if "expires_after" in sent:
            store["expires_after"] = body.expires_after.model_dump() if body.expires_after else None
        ea = store.get("expires_after")
        store["expires_at"] = store["last_active_at"] + ea["days"] * 86400 if ea else None

    async def create_store(self, owner: str, body: CreateVectorStore) -> Row:
        if body.description is not None:
            raise invalid("'description' is not supported: this server keeps no description of a vector store "
                          "and would not use one. Remove the parameter.", "description", "unsupported_parameter")
        now = int(self.clock())
        store: Row = {"id": new_id("vs"), "created_at": now, "last_active_at": now, "name": None}
        self._apply(store, body)
        file_ids = body.file_ids or []
        strategy = _strategy(body.chunking_strategy)
        for fid in file_ids:
            await self.get_file(owner, fid)
        await self.files.put_store(store, owner, new=True)
        for fid in file_ids:
            await self._attach(owner, store["id"], fid, None, strategy)
        return await self._store_object(store)

    async def get_store(self, owner: str, store_id: str) -> Row:
        return await self._store_object(await self._store(owner, store_id))

    async def update_store(self, owner: str, store_id: str, body: UpdateVectorStore) -> Row:
        store = await self._store(owner, store_id)
        self._apply(store, body)
        await self.files.put_store(store, owner, new=False)
        return await self._store_object(store)

    async def store_owner(self, store_id: str) -> str | None:
        return await self.files.store_owner(store_id)

    async def list_stores(self, owner: str | None, *, after: str | None, before: str | None, limit: int,
                          order: str) -> ListPage[Row]:
        rows, more = await self.files.list_stores(owner, after=after, before=before, limit=limit, order=order)
        return page([await self._store_object(s) for s in rows], more)

    async def delete_store(self, owner: str, store_id: str) -> Row:
        if not await self.files.delete_store(store_id, owner):
            raise not_found("Vector store", store_id)
        await self.index.delete(store_id)
        return {"id": store_id, "object": "vector_store.deleted", "deleted": True}

    # -- files of a vector store ----------------------------------------------------------------------
    async def _attach(self, owner: str, store_id: str, file_id: str, attributes: Any, strategy: ChunkingStrategy,
                      batch_id: str | None = None) -> None:
        body = {"attributes": attributes, "chunking_strategy": strategy, "last_error": None}
        await self.files.attach(store_id, file_id, owner, int(self.clock()), body, batch_id)
        self.ingestor.submit(store_id, file_id, owner, strategy)

    async def attach(self, owner: str, store_id: str, body: CreateVectorStoreFile) -> Row:
        await self._store(owner, store_id)
        await self.get_file(owner, body.file_id)
        await self._attach(owner, store_id, body.file_id, body.attributes, _strategy(body.chunking_strategy))
        return await self.get_vs_file(owner, store_id, body.file_id)

    async def get_vs_file(self, owner: str, store_id: str, file_id: str) -> Row:
        row = await self.files.get_vs_file(store_id, file_id, owner)
        if row is None:
            raise not_found("Vector store file", file_id)
        row.pop("batch_id", None)
        return row

    async def list_vs_files(self, owner: str, store_id: str, *, status: str | None, batch_id: str | None = None,
                            after: str | None, before: str | None, limit: int, order: str) -> ListPage[Row]:
        await self._store(owner, store_id)
        if status not in (None, "in_progress", "completed", "failed", "cancelled"):
            raise invalid(f"Invalid value for 'filter': '{status}'.", "filter", "invalid_value")
        rows, more = await self.files.list_vs_files(store_id, owner, status=status, batch_id=batch_id, after=after,
                                                    before=before, limit=limit, order=order)
        for r in rows:
            r.pop("batch_id", None)
        return page(rows, more)

    async def update_vs_file(self, owner: str, store_id: str, file_id: str, body: UpdateVectorStoreFile) -> Row:
        await self._store(owner, store_id)
        if not await self.files.set_attributes(store_id, file_id, owner, body.attributes):
            raise not_found("Vector store file", file_id)
        return await self.get_vs_file(owner, store_id, file_id)

    async def cancel_batch(self, owner: str, store_id: str, batch_id: str) -> Row:
        await self.get_batch(owner, store_id, batch_id)
        await self.files.cancel_batch(batch_id)
        return await self.get_batch(owner, store_id, batch_id)

    async def detach(self, owner: str, store_id: str, file_id: str) -> Row:
        await self._store(owner, store_id)
        if not await self.files.detach(store_id, file_id, owner):
            raise not_found("Vector store file", file_id)
        await self.index.delete(store_id, file_id)
        return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

    async def create_batch(self, owner: str, store_id: str, body: CreateFileBatch) -> Row:
        await self._store(owner, store_id)
        entries = body.entries()
        for e in entries:
            await self.get_file(owner, e.file_id)
        batch_id = new_id("vsfb")
        await self.files.add_batch(batch_id, store_id, owner, int(self.clock()))
        for e in entries:
            await self._attach(owner, store_id, e.file_id, e.attributes,
                               _strategy(e.chunking_strategy or body.chunking_strategy), batch_id)
        return await self.get_batch(owner, store_id, batch_id)

    async def get_batch(self, owner: str, store_id: str, batch_id: str) -> Row:
        batch = await self.files.get_batch(batch_id, store_id, owner)
        if batch is None:
            raise not_found("Vector store file batch", batch_id)
        counts = (await self.files.file_counts([store_id], batch_id))[store_id]
        status = "in_progress" if counts["in_progress"] else "cancelled" if counts["cancelled"] else \
            "failed" if counts["failed"] == counts["total"] and counts["total"] else "completed"
        return {"id": batch_id, "object": "vector_store.files_batch", "created_at": batch["created_at"],
                "vector_store_id": store_id, "status": status, "file_counts": _counts(counts)}

    # -- search ----------------------------------------------------------------------------------------
    async def search(self, owner: str, store_id: str, body: SearchVectorStore) -> Row:
        await self.sweep()
        await self._store(owner, store_id)
        queries = body.queries()
        if body.filters is not None:
            flt.check(body.filters)
        ranking = check_ranking(body.ranking_options)
        if body.rewrite_query:  # the page's search_query shows the terms searched
            queries = [rewrite(q) for q in queries]
        hits = await self.retriever.search(owner, [store_id], " ".join(queries), max_num_results=body.max_num_results,
                                           filters=body.filters, ranking_options=ranking)
        return {"object": "vector_store.search_results.page", "search_query": queries, "has_more": False,
                "next_page": None, "data": [
                    {"file_id": h.file_id, "filename": h.filename, "score": h.score, "attributes": h.attributes,
                     "content": [{"type": "text", "text": h.text}]} for h in hits]}


def _strategy(parsed: ChunkingStrategyParam | None) -> ChunkingStrategy:
    """The stored form of a parsed chunking strategy (its overlap checked against its size)."""
    return resolve_strategy(parsed.model_dump() if parsed is not None else None)
