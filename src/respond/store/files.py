"""Files, vector stores and their file attachments, on the same SQLAlchemy engine as responses.

File contents live in the database (a BLOB / bytea column): one durable place, backed up with
everything else, owner-scoped like responses.  Rows carry plain columns for what is filtered or
counted and JSON text for the rest.  Chunks and the lexical index live in `store/vectors.py`.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from respond.core.ports import Row
from respond.store.database import Database
from respond.store.paging import page
from respond.store.safetext import SafeText

metadata = MetaData()

files = Table(
    "files", metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("filename", SafeText, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("content", LargeBinary, nullable=False),
    Index("ix_files_owner_created", "owner", "created_at"),
)

vector_stores = Table(
    "vector_stores", metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("body", Text, nullable=False),  # name, metadata, expires_after, expires_at, last_active_at
    Index("ix_vector_stores_owner_created", "owner", "created_at"),
)

vs_files = Table(
    "vector_store_files", metadata,
    Column("vector_store_id", String(64), primary_key=True),
    Column("file_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("batch_id", String(64), nullable=True),
    Column("usage_bytes", BigInteger, nullable=False, default=0),
    Column("body", Text, nullable=False),  # attributes, chunking_strategy, last_error
    Index("ix_vs_files_status", "status"),
    Index("ix_vs_files_batch", "batch_id"),
)

batches = Table(
    "vector_store_file_batches", metadata,
    Column("id", String(64), primary_key=True),
    Column("vector_store_id", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _vs_file(row: Any) -> Row:
    body = orjson.loads(row.body)
    return {"id": row.file_id, "object": "vector_store.file", "created_at": row.created_at,
            "vector_store_id": row.vector_store_id, "status": row.status, "usage_bytes": row.usage_bytes,
            "last_error": body.get("last_error"), "attributes": body.get("attributes"),
            "chunking_strategy": body.get("chunking_strategy"), "batch_id": row.batch_id}


def _rewrite_body(conn: Connection, table: Table, where: list[Any], **changes: Any) -> bool:
    """Update the JSON body of the row `where` selects with `changes`; False when there is none."""
    raw = conn.scalar(select(table.c.body).where(*where))
    if raw is None:
        return False
    conn.execute(update(table).where(*where).values(body=_dumps({**orjson.loads(raw), **changes})))
    return True


class FileStore:
    """The `FileStore` port (core/storage.py): every operation one `Database.read` or `.write`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- files -------------------------------------------------------------------------------------
    async def add_file(self, meta: Row, owner: str, content: bytes) -> None:
        stmt = insert(files).values(
            id=meta["id"], owner=owner, created_at=meta["created_at"], bytes=meta["bytes"],
            filename=meta["filename"], purpose=meta["purpose"], expires_at=meta.get("expires_at"), content=content)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def get_file(self, file_id: str, owner: str) -> Row | None:
        cols = [c for c in files.c if c.name != "content"]
        q = select(*cols).where(files.c.id == file_id, files.c.owner == owner)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return dict(row._mapping) if row is not None else None

    async def file_content(self, file_id: str, owner: str) -> bytes | None:
        q = select(files.c.content).where(files.c.id == file_id, files.c.owner == owner)
        data: bytes | None = await self.db.read(lambda conn: conn.scalar(q))
        return data

    async def list_files(self, owner: str | None, *, purpose: str | None, after: str | None, limit: int,
                         order: str) -> tuple[list[Row], bool]:
        """`owner` None: every owner's (the operator's dashboard)."""
        where = ([files.c.owner == owner] if owner is not None else []) + ([files.c.purpose == purpose] if purpose else [])
        rows, more = await self.db.read(lambda conn: page(conn, files, where, files.c.id, after, None, limit, order))
        return [{k: v for k, v in r._mapping.items() if k != "content"} for r in rows], more

    async def expired_files(self, now: int) -> list[tuple[str, str]]:
        q = select(files.c.id, files.c.owner).where(files.c.expires_at.is_not(None), files.c.expires_at <= now)
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return [(r.id, r.owner) for r in rows]

    async def delete_file(self, file_id: str, owner: str) -> list[str] | None:
        """Delete a file and detach it everywhere; the ids of the vector stores it was in."""
        def write(conn: Connection) -> list[str] | None:
            if not conn.execute(delete(files).where(files.c.id == file_id, files.c.owner == owner)).rowcount:
                return None
            mine = (vs_files.c.file_id == file_id, vs_files.c.owner == owner)
            stores = conn.execute(select(vs_files.c.vector_store_id).where(*mine)).scalars().all()
            conn.execute(delete(vs_files).where(*mine))
            return list(stores)

        return await self.db.write(write)

    # -- vector stores -----------------------------------------------------------------------------
    async def put_store(self, store: Row, owner: str, *, new: bool) -> None:
        body = _dumps({k: store.get(k) for k in ("name", "metadata", "expires_after", "expires_at",
                                                 "last_active_at")})
        if new:
            stmt: Any = insert(vector_stores).values(id=store["id"], owner=owner, created_at=store["created_at"],
                                                     body=body)
        else:
            stmt = update(vector_stores).where(vector_stores.c.id == store["id"],
                                               vector_stores.c.owner == owner).values(body=body)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def touch_store(self, store_id: str, now: int) -> None:
        """A search used the store: move `last_active_at`, and `expires_at` with it."""
        def write(conn: Connection) -> None:
            raw = conn.scalar(select(vector_stores.c.body).where(vector_stores.c.id == store_id))
            if raw is None:
                return
            body = orjson.loads(raw)
            body["last_active_at"] = now
            if body.get("expires_after"):
                body["expires_at"] = now + int(body["expires_after"]["days"]) * 86400
            conn.execute(update(vector_stores).where(vector_stores.c.id == store_id).values(body=_dumps(body)))

        await self.db.write(write)

    @staticmethod
    def _store(row: Any) -> Row:
        return {"id": row.id, "created_at": row.created_at, **orjson.loads(row.body)}

    async def get_store(self, store_id: str, owner: str) -> Row | None:
        q = select(vector_stores).where(vector_stores.c.id == store_id, vector_stores.c.owner == owner)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return self._store(row) if row is not None else None

    async def list_stores(self, owner: str | None, *, after: str | None, before: str | None, limit: int,
                          order: str) -> tuple[list[Row], bool]:
        where = [vector_stores.c.owner == owner] if owner is not None else []  # None: every owner's
        rows, more = await self.db.read(lambda conn: page(
            conn, vector_stores, where, vector_stores.c.id, after, before, limit, order))
        return [self._store(r) for r in rows], more

    async def store_owner(self, store_id: str) -> str | None:
        q = select(vector_stores.c.owner).where(vector_stores.c.id == store_id)
        return await self.db.read(lambda conn: conn.scalar(q))

    async def delete_store(self, store_id: str, owner: str) -> bool:
        def write(conn: Connection) -> bool:
            if not conn.execute(delete(vector_stores).where(
                    vector_stores.c.id == store_id, vector_stores.c.owner == owner)).rowcount:
                return False
            conn.execute(delete(vs_files).where(vs_files.c.vector_store_id == store_id))
            conn.execute(delete(batches).where(batches.c.vector_store_id == store_id))
            return True

        return await self.db.write(write)

    async def file_counts(self, store_ids: list[str], batch_id: str | None = None) -> dict[str, Row]:
        """{store_id: {"in_progress", "completed", "failed", "cancelled", "total", "usage_bytes"}}."""
        out = {sid: {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0, "usage_bytes": 0}
               for sid in store_ids}
        q = select(vs_files.c.vector_store_id, vs_files.c.status, func.count(), func.sum(vs_files.c.usage_bytes)
                   ).where(vs_files.c.vector_store_id.in_(store_ids))
        if batch_id is not None:
            q = q.where(vs_files.c.batch_id == batch_id)
        q = q.group_by(vs_files.c.vector_store_id, vs_files.c.status)
        for sid, status, count, used in await self.db.read(lambda conn: conn.execute(q).all()):
            counts = out[sid]
            counts[status] = counts.get(status, 0) + count
            counts["total"] += count
            counts["usage_bytes"] += int(used or 0)
        return out

    # -- files in vector stores --------------------------------------------------------------------
    async def attach(self, store_id: str, file_id: str, owner: str, created_at: int, body: Row,
                     batch_id: str | None = None) -> None:
        """Attach (or re-attach, restarting ingestion) a file to a store, status in_progress."""
        def write(conn: Connection) -> None:
            conn.execute(delete(vs_files).where(vs_files.c.vector_store_id == store_id,
                                                vs_files.c.file_id == file_id))
            conn.execute(insert(vs_files).values(
                vector_store_id=store_id, file_id=file_id, owner=owner, created_at=created_at,
                status="in_progress", batch_id=batch_id, usage_bytes=0, body=_dumps(body)))

        await self.db.write(write)

    async def set_file_status(self, store_id: str, file_id: str, status: str, *, usage_bytes: int = 0,
                              last_error: Row | None = None) -> None:
        where = [vs_files.c.vector_store_id == store_id, vs_files.c.file_id == file_id]

        def write(conn: Connection) -> None:
            if _rewrite_body(conn, vs_files, where, last_error=last_error):
                conn.execute(update(vs_files).where(*where).values(status=status, usage_bytes=usage_bytes))

        await self.db.write(write)

    async def set_attributes(self, store_id: str, file_id: str, owner: str, attributes: Row | None) -> bool:
        where = [vs_files.c.vector_store_id == store_id, vs_files.c.file_id == file_id, vs_files.c.owner == owner]
        return await self.db.write(lambda conn: _rewrite_body(conn, vs_files, where, attributes=attributes))

    async def cancel_batch(self, batch_id: str) -> None:
        """Files of the batch not yet ingested end `cancelled` (the ingestor skips them)."""
        stmt = update(vs_files).where(vs_files.c.batch_id == batch_id,
                                      vs_files.c.status == "in_progress").values(status="cancelled")
        await self.db.write(lambda conn: conn.execute(stmt))

    async def get_vs_file(self, store_id: str, file_id: str, owner: str) -> Row | None:
        q = select(vs_files).where(vs_files.c.vector_store_id == store_id, vs_files.c.file_id == file_id,
                                   vs_files.c.owner == owner)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return _vs_file(row) if row is not None else None

    async def list_vs_files(self, store_id: str, owner: str, *, status: str | None = None,
                            batch_id: str | None = None, after: str | None = None, before: str | None = None,
                            limit: int = 10_000, order: str = "desc") -> tuple[list[Row], bool]:
        where = [vs_files.c.vector_store_id == store_id, vs_files.c.owner == owner]
        if status:
            where.append(vs_files.c.status == status)
        if batch_id:
            where.append(vs_files.c.batch_id == batch_id)
        rows, more = await self.db.read(lambda conn: page(
            conn, vs_files, where, vs_files.c.file_id, after, before, limit, order))
        return [_vs_file(r) for r in rows], more

    async def detach(self, store_id: str, file_id: str, owner: str) -> bool:
        stmt = delete(vs_files).where(vs_files.c.vector_store_id == store_id, vs_files.c.file_id == file_id,
                                      vs_files.c.owner == owner)
        return bool(await self.db.write(lambda conn: conn.execute(stmt).rowcount))

    async def in_progress(self) -> list[Row]:
        """Every attachment left in_progress (by a restart mid-ingest), with its owner."""
        q = select(vs_files).where(vs_files.c.status == "in_progress")
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return [{**_vs_file(r), "owner": r.owner} for r in rows]

    async def add_batch(self, batch_id: str, store_id: str, owner: str, created_at: int) -> None:
        stmt = insert(batches).values(id=batch_id, vector_store_id=store_id, owner=owner, created_at=created_at)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def get_batch(self, batch_id: str, store_id: str, owner: str) -> Row | None:
        q = select(batches).where(batches.c.id == batch_id, batches.c.vector_store_id == store_id,
                                  batches.c.owner == owner)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return dict(row._mapping) if row is not None else None
