"""`ResponseStore` on SQLAlchemy 2 (async): SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg).

The same statements run on both; the few dialect differences (upsert, pragmas) live here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection, bindparam, create_engine, delete, event, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool, StaticPool

from respond.core.ports import Row
from respond.store import schema
from respond.store.conversations import ConversationsMixin, conversation_rows
from respond.store.files import FileStore
from respond.store.jobs import RunsMixin, job_row
from respond.store.migrations import migrate
from respond.store.vectors import ChunkIndex

log = logging.getLogger("respond.store")

R, IT = schema.responses, schema.items

_CONTEXT = text(
    """
    WITH RECURSIVE chain(id, prev, depth) AS (
        SELECT id, previous_response_id, 0 FROM responses WHERE id = :rid AND owner = :owner
        UNION ALL
        SELECT r.id, r.previous_response_id, c.depth + 1
        FROM responses r JOIN chain c ON r.id = c.prev
        WHERE r.owner = :owner
    )
    SELECT c.depth, i.body FROM chain c LEFT JOIN items i ON i.response_id = c.id
    ORDER BY c.depth DESC, i.position
    """
)


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a process crash loses nothing; an OS crash may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> AsyncEngine:
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Reads open no transaction on SQLite, so returning a connection needs no ROLLBACK round trip.
        engine = create_async_engine(url, pool_size=8, max_overflow=8, pool_reset_on_return=None)

        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=False)


class SerializedWrites:
    """The engine, with SQLite's write transactions taken one at a time in this process.

    SQLite allows one writer; concurrent writers on other pooled connections otherwise wait in
    its busy handler, which sleeps in growing steps (up to 100 ms each) and ruins tail latency.
    An asyncio lock queues them instead.  Everything but `begin()` is the engine itself.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock, self._engine.begin() as conn:
            yield conn


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


T = TypeVar("T")


class SqliteWriter:
    """SQLite's hot transactions, each run whole in a thread on plain sqlite3 connections: one thread
    hop per transaction instead of several per statement (aiosqlite).  Writes go to one dedicated
    thread (one writer at a time, as SQLite wants); reads to a small pool (WAL lets them run beside
    the writer).  The transaction bodies are the same SQLAlchemy Core code PostgreSQL runs."""

    READERS = 2

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self.engine = create_engine(sync_url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        self.readers = create_engine(sync_url, poolclass=QueuePool, pool_size=self.READERS, max_overflow=0,
                                     pool_reset_on_return=None, connect_args={"check_same_thread": False})
        for engine in (self.engine, self.readers):
            event.listen(engine, "connect", _sqlite_pragmas)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.read_pool = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="sqlite-reader")

    def _run(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return fn(conn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        with self.readers.connect() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._run, fn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, self._read, fn)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.read_pool.shutdown(wait=True)
        self.engine.dispose()
        self.readers.dispose()


class SqlStore(RunsMixin, ConversationsMixin):
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        engine = make_engine(self.url)
        self.dialect = engine.dialect.name
        self.engine: Any = SerializedWrites(engine) if self.dialect == "sqlite" else engine
        self._writer = SqliteWriter(self.url) if self.dialect == "sqlite" else None
        self._statements()
        # file_search's storage, on the same database (the FileStore and VectorIndex ports)
        self.files = FileStore(cast(AsyncEngine, self.engine))
        self.vectors = ChunkIndex(cast(AsyncEngine, self.engine))

    async def tx(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` as one write transaction (sync SQLAlchemy Core inside)."""
        if self._writer is not None:
            async with self.engine._lock:  # not at the same time as the async path's writes
                return await self._writer.run(fn)
        async with self.engine.begin() as conn:
            return cast(T, await conn.run_sync(fn))

    async def rx(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` as a read (sync SQLAlchemy Core inside)."""
        if self._writer is not None:
            return await self._writer.read(fn)
        async with self.engine.connect() as conn:
            return cast(T, await conn.run_sync(fn))

    async def open(self) -> None:
        await migrate(self.engine)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        await self.engine.dispose()

    def _statements(self) -> None:
        """The hot statements, built once: executed with parameters, they skip SQLAlchemy's
        per-call statement construction and cache-key generation."""
        mod = postgresql if self.dialect == "postgresql" else sqlite
        up = mod.insert(R)
        self._upsert_response = up.on_conflict_do_update(
            index_elements=["id"], set_={"status": up.excluded.status, "body": up.excluded.body})
        self._insert_response = insert(R)
        self._insert_items = insert(IT)
        self._delete_outputs = delete(IT).where(IT.c.response_id == bindparam("rid"), IT.c.kind == 1)
        self._insert_events = insert(schema.events)
        self._insert_job = insert(schema.jobs)
        self._finish_job = schema.jobs.update().where(
            schema.jobs.c.response_id == bindparam("rid")).values(state="done")
        self._insert_conv_items = insert(schema.conversation_items)
        self._select_body = select(R.c.body).where(R.c.id == bindparam("rid"), R.c.owner == bindparam("owner"))
        self._select_id = select(R.c.id).where(R.c.id == bindparam("rid"), R.c.owner == bindparam("owner"))

    # -- the explicit writes of a response's life (each one transaction) ----------------------------
    async def insert_response(self, response: Row, owner: str, input_items: list[Row],
                              output_items: list[Row], *, conversation_id: str | None = None) -> None:
        """Store a response whole, once it is terminal (a non-streaming run)."""
        rows = self._item_rows(response["id"], owner, input_items, output_items, with_inputs=True)

        def write(conn: Connection) -> None:
            conn.execute(self._insert_response, self._response_row(response, owner))
            if rows:
                conn.execute(self._insert_items, rows)
            self._join(conn, conversation_id, input_items + output_items)

        await self.tx(write)

    async def start_response(self, response: Row, owner: str, input_items: list[Row], *, worker: str,
                             lease_ms: int) -> None:
        """Store a response that starts running here (a stream), leased to `worker`."""
        await self._insert_with_job(response, owner, input_items, job_row(
            response["id"], owner, state="running", request=None, worker=worker, lease_ms=lease_ms))

    async def enqueue_response(self, response: Row, owner: str, input_items: list[Row], *, request: Any,
                               lease_ms: int) -> None:
        """Store a `queued` response with its job, for a worker to claim."""
        await self._insert_with_job(response, owner, input_items, job_row(
            response["id"], owner, state="queued", request=request, worker=None, lease_ms=lease_ms))

    async def finish_response(self, response: Row, owner: str, input_items: list[Row], output_items: list[Row],
                              *, events: list[Row], conversation_id: str | None = None) -> None:
        """End a started or claimed response: its status and outputs, its last events, its job done."""
        rid = response["id"]
        # Its input items were written when it was first stored and never change.
        rows = self._item_rows(rid, owner, input_items, output_items, with_inputs=False)

        def write(conn: Connection) -> None:
            conn.execute(self._upsert_response, self._response_row(response, owner))
            conn.execute(self._delete_outputs, {"rid": rid})
            if rows:
                conn.execute(self._insert_items, rows)
            self._join(conn, conversation_id, input_items + output_items)
            conn.execute(self._finish_job, {"rid": rid})
            if events:
                conn.execute(self._insert_events, [
                    {"response_id": rid, "seq": ev["sequence_number"], "body": _dumps(ev)} for ev in events])

        await self.tx(write)

    async def _insert_with_job(self, response: Row, owner: str, input_items: list[Row], job: Row) -> None:
        rows = self._item_rows(response["id"], owner, input_items, [], with_inputs=True)

        def write(conn: Connection) -> None:
            conn.execute(self._insert_response, self._response_row(response, owner))
            if rows:
                conn.execute(self._insert_items, rows)
            conn.execute(self._insert_job, job)

        await self.tx(write)

    def _join(self, conn: Connection, conversation_id: str | None, items: list[Row]) -> None:
        if conversation_id:
            conn.execute(self._insert_conv_items, conversation_rows(conversation_id, items))

    @staticmethod
    def _response_row(response: Row, owner: str) -> Row:
        return {"id": response["id"], "owner": owner, "created_at": response["created_at"],
                "status": response["status"], "previous_response_id": response.get("previous_response_id"),
                "background": bool(response.get("background")), "body": _dumps(response)}

    @staticmethod
    def _item_rows(rid: str, owner: str, input_items: list[Row], output_items: list[Row], *,
                   with_inputs: bool) -> list[Row]:
        base = len(input_items)
        rows = [{"id": it.get("id", ""), "response_id": rid, "owner": owner, "position": n, "kind": 0,
                 "body": _dumps(it)} for n, it in enumerate(input_items)] if with_inputs else []
        return rows + [{"id": it.get("id", ""), "response_id": rid, "owner": owner, "position": base + n,
                        "kind": 1, "body": _dumps(it)} for n, it in enumerate(output_items)]

    async def update_response(self, response: Row) -> None:
        """Rewrite the body and status of a stored response (its items unchanged)."""
        stmt = R.update().where(R.c.id == response["id"]).values(status=response["status"], body=_dumps(response))
        await self.tx(lambda conn: conn.execute(stmt))

    async def get_response(self, response_id: str, owner: str) -> Row | None:
        params = {"rid": response_id, "owner": owner}
        body = await self.rx(lambda conn: conn.scalar(self._select_body, params))
        return orjson.loads(body) if body is not None else None

    async def response_exists(self, response_id: str, owner: str) -> bool:
        params = {"rid": response_id, "owner": owner}
        return await self.rx(lambda conn: conn.scalar(self._select_id, params)) is not None

    async def delete_response(self, response_id: str, owner: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(R).where(R.c.id == response_id, R.c.owner == owner))
            if not result.rowcount:
                return False
            await conn.execute(delete(IT).where(IT.c.response_id == response_id))
            await conn.execute(delete(schema.events).where(schema.events.c.response_id == response_id))
            await conn.execute(delete(schema.jobs).where(schema.jobs.c.response_id == response_id))
        return True

    async def load_context(self, response_id: str, owner: str) -> list[Row] | None:
        params = {"rid": response_id, "owner": owner}
        rows = await self.rx(lambda conn: conn.execute(_CONTEXT, params).all())
        if not rows:
            return None
        return [orjson.loads(body) for _depth, body in rows if body is not None]

    async def list_input_items(self, response_id: str, owner: str, *, after: str | None, limit: int,
                               order: str) -> tuple[list[Row], bool] | None:
        async with self.engine.connect() as conn:
            exists = await conn.scalar(select(R.c.id).where(R.c.id == response_id, R.c.owner == owner))
            if exists is None:
                return None
            q = select(IT.c.body).where(IT.c.response_id == response_id, IT.c.kind == 0)
            if after is not None:
                pos = await conn.scalar(select(IT.c.position).where(
                    IT.c.response_id == response_id, IT.c.kind == 0, IT.c.id == after))
                if pos is not None:
                    q = q.where(IT.c.position > pos if order == "asc" else IT.c.position < pos)
            q = q.order_by(IT.c.position.asc() if order == "asc" else IT.c.position.desc()).limit(limit + 1)
            bodies = (await conn.execute(q)).scalars().all()
        items = [orjson.loads(b) for b in bodies[:limit]]
        return items, len(bodies) > limit

    async def get_items(self, item_ids: list[str], owner: str) -> dict[str, Row]:
        if not item_ids:
            return {}
        async with self.engine.connect() as conn:
            bodies = (await conn.execute(select(IT.c.id, IT.c.body).where(
                IT.c.id.in_(item_ids), IT.c.owner == owner).order_by(IT.c.pk.desc()))).all()
        found: dict[str, Row] = {}
        for item_id, body in bodies:
            found.setdefault(item_id, orjson.loads(body))
        return found
