"""SQLite's side of the `Database` (store/database.py): transactions on plain sqlite3 connections, one
writer thread, a small reader pool, a connection for quick writes on the event loop's own thread, and
the writer thread's connection driven from the event loop for the migrations (`_ThreadConnection`), so
SQLAlchemy's asyncio layer is never loaded for SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Executable, Result, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool, StaticPool

from respond.store.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer

T = TypeVar("T")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a process crash loses nothing; an OS crash may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    # checkpoints run on their own thread (store/sqlite_checkpoint.py); a writer checkpoints only past this
    cur.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class _NoRows:
    """The result of a statement that returns no rows (DDL, an UPDATE), read after its transaction moved on."""

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return []

    def first(self) -> None:
        return None


def _buffered(result: CursorResult[Any]) -> Result[Any] | _NoRows:
    """All of `result`, read in the thread that ran it."""
    return result.freeze()() if result.returns_rows else _NoRows(result.rowcount)


class _ThreadConnection:
    """A transaction of the SQLite writer thread's connection, driven from the event loop: each call runs
    in that thread; results come back buffered."""

    def __init__(self, conn: Connection, pool: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._pool = pool

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any] | _NoRows:
        args = () if parameters is None else (parameters,)
        return await self._in_thread(lambda: _buffered(self._conn.exec_driver_sql(statement, *args)))

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any] | _NoRows:
        return await self._in_thread(lambda: _buffered(self._conn.execute(statement, parameters)))

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return await self._in_thread(lambda: self._conn.scalar(statement, parameters))

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        return await self._in_thread(lambda: fn(self._conn))


QUICK_BUSY_MS = 20  # how long a quick write on the event loop waits for another process's write lock
# The quick writes' page cache, KiB (SQLite's default: 2,000).  They append rows and index entries (ids
# are time-ordered, protocol/ids.py): what they read again is the last pages of each table and index,
# a few dozen.  The default cache filled to its 2 MB with pages never read again (the resident set's
# growth under load, bench/memory.py); 512 KiB cost no instructions and 0.07 more page reads a request
# on a 30,000-response database (bench/instructions.py, strace; BENCHMARKS.md).
QUICK_CACHE_KIB = 512


def _quick_pragmas(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    dbapi_conn.execute(f"PRAGMA busy_timeout={QUICK_BUSY_MS}")
    dbapi_conn.execute(f"PRAGMA cache_size=-{QUICK_CACHE_KIB}")


def _locked(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", None) or exc)  # SQLAlchemy's wrapping, or the driver's own (execute_rows)
    return "locked" in text or "busy" in text


class SqliteThreads:
    """SQLite's transactions on plain sqlite3 connections: one writer thread, a small reader pool,
    and a connection for quick writes on the event loop's own thread."""

    READERS = 2

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self.checkpointer: Checkpointer | None = None
        if sync_url.database and sync_url.database != ":memory:":
            path = Path(sync_url.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.checkpointer = Checkpointer(str(path))
        self.engine = create_engine(sync_url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        self.readers = create_engine(sync_url, poolclass=QueuePool, pool_size=self.READERS, max_overflow=0,
                                     pool_reset_on_return=None, connect_args={"check_same_thread": False})
        self.quick = create_engine(sync_url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        for engine in (self.engine, self.readers):
            event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(self.quick, "connect", _quick_pragmas)
        self._quick_conn: Connection | None = None
        self._group: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.read_pool = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="sqlite-reader")

    def _write(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            result = fn(conn)
        self._wrote(1)
        return result

    def _wrote(self, n: int) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wrote(n)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        with self.readers.connect() as conn:
            return fn(conn)

    async def write(self, fn: Callable[[Connection], T], quick: bool = False) -> T:
        if quick:
            conn = self._quick()
            try:
                with conn.begin():  # rolled back whole if it raises: `fn` may run again
                    result = fn(conn)
                self._wrote(1)
                return result
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not _locked(exc):
                    raise
                # another process writes: wait for it in the writer thread, not on the event loop
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._write, fn)

    def _quick(self) -> Connection:
        if self._quick_conn is None:  # one connection kept open: no pool checkout and reset per write
            self._quick_conn = self.quick.connect()
        return self._quick_conn

    def grouped(self, fn: Callable[[Connection], T], lock: asyncio.Lock) -> asyncio.Future[T]:
        """A quick write joined to the others asked for in this turn of the event loop: one transaction
        for all of them, committed at the end of the turn (a group commit: the pages that concurrent
        responses share, the tables' and the time-ordered indexes' last leaves, are written once, and
        there is one commit instead of one each).  Its future is done once that commit is."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._group is None:
            self._group = []
            loop.call_soon(self._commit_group, lock)
        self._group.append((fn, fut))
        return fut

    def _commit_group(self, lock: asyncio.Lock) -> None:
        group, self._group = self._group or [], None
        locked = False  # another process held SQLite's write lock: the writes go to the writer thread
        if not lock.locked():  # (held: a write of the writer thread, or a migration, is under way)
            try:
                results = self._transaction(group)
            except Exception as exc:  # noqa: BLE001 - each is run again on its own, its own error to its caller
                locked = isinstance(exc, (OperationalError, sqlite3.OperationalError)) and _locked(exc)
            else:
                self._wrote(len(group))
                for (_fn, fut), result in zip(group, results, strict=True):
                    if not fut.done():  # (its caller may have been cancelled meanwhile: it is stored all the same)
                        fut.set_result(result)
                return
        retry = asyncio.get_running_loop().create_task(self._one_by_one(group, lock, locked))
        self._retries.add(retry)
        retry.add_done_callback(self._retries.discard)

    def _transaction(self, group: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]]) -> list[Any]:
        """The group's writes in one transaction of the driver's own: sqlite3 begins it at the first write
        and `commit` ends it, as SQLAlchemy's `begin()` would (it adds nothing on SQLite but its
        bookkeeping, measured: bench/instructions.py); a write that had SQLAlchemy execute a statement
        (it began its own transaction then) ends through SQLAlchemy."""
        conn = self._quick()
        driver = conn.connection.dbapi_connection
        assert driver is not None
        try:
            results = [fn(conn) for fn, _fut in group]
            (conn.commit if conn.in_transaction() else driver.commit)()
        except BaseException:
            with contextlib.suppress(Exception):  # (its own error is the one its callers hear)
                (conn.rollback if conn.in_transaction() else driver.rollback)()
            raise
        return results

    async def _one_by_one(self, group: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]],
                          lock: asyncio.Lock, locked: bool) -> None:
        """A group that failed (or could not run at once): each write in a transaction of its own, as
        `write(quick=True)` runs it, or at once in the writer thread when another process held the lock."""
        loop = asyncio.get_running_loop()
        for fn, fut in group:
            try:
                async with lock:
                    result = await (loop.run_in_executor(self.pool, self._write, fn) if locked
                                    else self.write(fn, quick=True))
            except Exception as exc:  # noqa: BLE001 - handed to its caller
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, self._read, fn)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[_ThreadConnection]:
        """One write transaction on the writer thread's connection, held across awaits (a migration)."""
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self.pool, self.engine.connect)
        try:
            tx = await loop.run_in_executor(self.pool, conn.begin)
            try:
                yield _ThreadConnection(conn, self.pool)
            except BaseException:
                await loop.run_in_executor(self.pool, tx.rollback)
                raise
            await loop.run_in_executor(self.pool, tx.commit)
        finally:
            await loop.run_in_executor(self.pool, conn.close)

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.pool.shutdown(wait=True)
        self.read_pool.shutdown(wait=True)
        if self._quick_conn is not None:
            self._quick_conn.close()
        self.engine.dispose()
        self.readers.dispose()
        self.quick.dispose()
