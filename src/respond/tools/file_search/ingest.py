"""Background ingestion: file -> text -> token chunks -> embeddings -> chunk rows, one file at a time.

Attaching a file stores the attachment `in_progress` and queues it here; the work runs in an
asyncio task (extraction and embedding in a thread).  The attachment ends `completed` with its
`usage_bytes`, or `failed` with `last_error` (unsupported_file / invalid_file / server_error).
Durable: on startup `resume()` re-queues every attachment a stopped process left in_progress
(the file's bytes are in the database, so the work is simply redone from the start).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from respond.core.storage import FileStore, VectorIndex
from respond.tools.file_search.chunking import ChunkingStrategy, chunk_text, stored_strategy
from respond.tools.file_search.embedder import DIM, LazyEmbedder
from respond.tools.file_search.extract import InvalidFile, UnsupportedFile, extract_text

if TYPE_CHECKING:
    from respond.tools.file_search.minilm import MiniLM

log = logging.getLogger("respond.file_search")


class Ingestor:
    def __init__(self, files: FileStore, index: VectorIndex, embedder: LazyEmbedder) -> None:
        self.files = files
        self.index = index
        self.embedder = embedder
        self._queue: asyncio.Queue[tuple[str, str, str, ChunkingStrategy]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._chunker: Any = None

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="file-search-ingest")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    def submit(self, store_id: str, file_id: str, owner: str, strategy: ChunkingStrategy) -> None:
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait((store_id, file_id, owner, strategy))

    async def resume(self) -> int:
        """Re-queue the attachments left in_progress by a process that stopped mid-ingest."""
        left = await self.files.in_progress()
        for row in left:
            log.info("resuming ingestion of %s into %s", row["id"], row["vector_store_id"])
            self.submit(row["vector_store_id"], row["id"], row["owner"],
                        stored_strategy(row.get("chunking_strategy")))
        return len(left)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            store_id, file_id, owner, strategy = await self._queue.get()
            try:
                await self.ingest(store_id, file_id, owner, strategy)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must fail the file, never leave it in_progress
                log.exception("ingestion of %s into %s failed", file_id, store_id)
                await self.files.set_file_status(store_id, file_id, "failed", last_error={
                    "code": "server_error", "message": "The file could not be processed."})
            finally:
                self._pending -= 1
                if self._pending <= 0:
                    self._idle.set()

    def _models(self) -> tuple[MiniLM | None, Any]:
        model = self.embedder.get()
        if model is not None and self._chunker is None:
            # A copy of the tokenizer without truncation, to cut whole documents into windows.
            from tokenizers import Tokenizer

            chunker = Tokenizer.from_str(model.tokenizer.to_str())
            chunker.no_truncation()
            self._chunker = chunker
        return model, self._chunker

    def _prepare(self, filename: str, data: bytes, strategy: ChunkingStrategy) -> tuple[list[str], Any]:
        model, chunker = self._models()
        text = extract_text(filename, data)
        static = strategy["static"]
        chunks = chunk_text(text, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"], chunker)
        vectors = model.embed(chunks) if model is not None and chunks else None
        return chunks, vectors

    async def ingest(self, store_id: str, file_id: str, owner: str, strategy: ChunkingStrategy) -> None:
        attached = await self.files.get_vs_file(store_id, file_id, owner)
        if attached is None or attached["status"] != "in_progress":
            return  # detached, or its batch cancelled, while it waited
        meta = await self.files.get_file(file_id, owner)
        data = await self.files.file_content(file_id, owner)
        if meta is None or data is None:
            await self.files.set_file_status(store_id, file_id, "failed", last_error={
                "code": "invalid_file", "message": f"File '{file_id}' no longer exists."})
            return
        try:
            chunks, vectors = await asyncio.to_thread(self._prepare, meta["filename"], data, strategy)
        except UnsupportedFile as exc:
            await self.files.set_file_status(store_id, file_id, "failed",
                                             last_error={"code": "unsupported_file", "message": str(exc)})
            return
        except InvalidFile as exc:
            await self.files.set_file_status(store_id, file_id, "failed",
                                             last_error={"code": "invalid_file", "message": str(exc)})
            return
        attached = await self.files.get_vs_file(store_id, file_id, owner)
        if attached is None or attached["status"] != "in_progress":
            return  # detached or cancelled while it was being processed
        await self.index.replace_file(store_id, file_id, chunks, vectors)
        used = sum(len(c.encode()) for c in chunks) + (len(chunks) * DIM * 4 if vectors is not None else 0)
        await self.files.set_file_status(store_id, file_id, "completed", usage_bytes=used)
        log.info("ingested %s into %s: %d chunks", file_id, store_id, len(chunks))
