"""SQLite's side of the `Database` (store/database.py): transactions on plain sqlite3 connections, one
writer thread, a small reader pool, a connection for quick writes on the event loop's own thread, and
the writer thread's connection driven from the event loop for the migrations (`_ThreadConnection`).

A transaction's function gets either a `Lite` (the sqlite3 connection itself: the statements of the hot
path, store/statement.py) or a SQLAlchemy `Connection` over the same sqlite3 connection (every other
store operation).  SQLAlchemy is imported, and its engines made, on the first transaction that asks for
one: a server whose work is all on the hot path never loads it (issue 20's memory target)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from respond.store.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer

if TYPE_CHECKING:
    from sqlalchemy import Connection, CursorResult, Engine, Executable, Result
    from sqlalchemy.engine import Dialect

T = TypeVar("T")
_URL = re.compile(r"sqlite(?:\+\w+)?://(?:/(?P<path>[^?]*))?")


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite://` URL as SQLAlchemy reads it (`sqlite:///rel.db`, `sqlite:////abs.db`;
    `sqlite://` is a database in memory: ":memory:"); None for another URL, or one with a query string."""
    m = _URL.fullmatch(url)
    if m is None:
        return None
    return m.group("path") or ":memory:"


def not_a_sqlite_path(url: str) -> str:
    """What is wrong with a SQLite URL `sqlite_path` cannot read (SQLAlchemy took query parameters; Respond
    never documented any)."""
    return (f"--database {url!r}: a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db, "
            "with no query parameters")


class Lite:
    """A SQLite transaction's own sqlite3 connection, for the statements written as SQL (store/statement.py):
    `driver.execute(sql, row)`, committed or rolled back by the `Database` around the function."""

    __slots__ = ("driver",)

    def __init__(self, driver: sqlite3.Connection) -> None:
        self.driver = driver


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


def _connect(path: str, quick: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas (sqlite3's default transactions: begun by the first write, ended by
    `commit`, as SQLAlchemy drives them too)."""
    conn = sqlite3.connect(path, check_same_thread=False)
    _sqlite_pragmas(conn, None)
    if quick:
        conn.execute(f"PRAGMA busy_timeout={QUICK_BUSY_MS}")
        conn.execute(f"PRAGMA cache_size=-{QUICK_CACHE_KIB}")
    return conn


def _locked(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy's wrapping, or the driver's own (a `Lite`)
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))


def _engine(creator: Callable[[], sqlite3.Connection], one: bool) -> Engine:
    """A SQLAlchemy engine over connections made here: `one`, the same connection every time (StaticPool)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool, StaticPool

    if one:
        return create_engine("sqlite://", creator=creator, poolclass=StaticPool)
    return create_engine("sqlite://", creator=creator, poolclass=QueuePool, pool_size=SqliteThreads.READERS,
                         max_overflow=0, pool_reset_on_return=None)


Group = list[tuple[Callable[[Any], Any], "asyncio.Future[Any]", bool]]


class SqliteThreads:
    """SQLite's transactions on plain sqlite3 connections: one writer thread, a small reader pool,
    and a connection for quick writes on the event loop's own thread."""

    READERS = 2

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        if path is None:
            raise ValueError(not_a_sqlite_path(url))
        self.path = path
        self.checkpointer: Checkpointer | None = None
        if path != ":memory:":
            file = Path(path).expanduser()
            file.parent.mkdir(parents=True, exist_ok=True)
            self.path = str(file)
            self.checkpointer = Checkpointer(self.path)
        self._lock = threading.Lock()  # the connections made on first use, from any thread
        self._writer: sqlite3.Connection | None = None
        self._quick_driver: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._reader = threading.local()
        self._engines: dict[str, Engine] = {}  # SQLAlchemy's, made on first use
        self._quick_conn: Connection | None = None
        self._group: Group | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.read_pool = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="sqlite-reader")

    # -- the connections -------------------------------------------------------------------------------
    def _writer_driver(self) -> sqlite3.Connection:
        with self._lock:
            if self._writer is None:
                self._writer = _connect(self.path)
            return self._writer

    def _quick_raw(self) -> sqlite3.Connection:
        if self._quick_driver is None:
            self._quick_driver = _connect(self.path, quick=True)
        return self._quick_driver

    def _reader_driver(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader, "conn", None)
        if conn is None:  # one per reader thread
            conn = self._reader.conn = _connect(self.path)
            with self._lock:
                self._readers.append(conn)
        return conn

    def _sa(self, name: str) -> Engine:
        got = self._engines.get(name)
        if got is None:
            creator = {"writer": self._writer_driver, "quick": self._quick_raw,
                       "readers": lambda: _connect(self.path)}[name]
            got = self._engines.setdefault(name, _engine(creator, one=name != "readers"))
        return got

    @property
    def engine(self) -> Engine:
        """The writer's connection, as SQLAlchemy's (made on first use)."""
        return self._sa("writer")

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    def _quick(self) -> Connection:
        if self._quick_conn is None:  # one connection kept open: no pool checkout and reset per write
            self._quick_conn = self._sa("quick").connect()
        return self._quick_conn

    # -- transactions --------------------------------------------------------------------------------
    def _write(self, fn: Callable[[Any], T], lite: bool = False) -> T:
        if lite:
            result = _lite_tx(self._writer_driver(), fn)
        else:
            with self.engine.begin() as conn:
                result = fn(conn)
        self._wrote(1)
        return result

    def _wrote(self, n: int) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wrote(n)

    def _read(self, fn: Callable[[Any], T], lite: bool = False) -> T:
        if lite:
            return fn(Lite(self._reader_driver()))
        with self._sa("readers").connect() as conn:
            return fn(conn)

    def _quick_tx(self, fn: Callable[[Any], T], lite: bool) -> T:
        if lite:
            return _lite_tx(self._quick_raw(), fn)
        conn = self._quick()
        with conn.begin():  # rolled back whole if it raises: `fn` may run again
            return fn(conn)

    async def write(self, fn: Callable[[Any], T], quick: bool = False, lite: bool = False) -> T:
        if quick:
            try:
                result = self._quick_tx(fn, lite)
                self._wrote(1)
                return result
            except Exception as exc:
                if not _locked(exc):
                    raise
                # another process writes: wait for it in the writer thread, not on the event loop
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._write, fn, lite)

    def grouped(self, fn: Callable[[Any], T], lock: asyncio.Lock, lite: bool = False) -> asyncio.Future[T]:
        """A quick write joined to the others asked for in this turn of the event loop: one transaction
        for all of them, committed at the end of the turn (a group commit: the pages that concurrent
        responses share, the tables' and the time-ordered indexes' last leaves, are written once, and
        there is one commit instead of one each).  Its future is done once that commit is."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._group is None:
            self._group = []
            loop.call_soon(self._commit_group, lock)
        self._group.append((fn, fut, lite))
        return fut

    def _commit_group(self, lock: asyncio.Lock) -> None:
        group, self._group = self._group or [], None
        locked = False  # another process held SQLite's write lock: the writes go to the writer thread
        if not lock.locked():  # (held: a write of the writer thread, or a migration, is under way)
            try:
                results = self._transaction(group)
            except Exception as exc:  # noqa: BLE001 - each is run again on its own, its own error to its caller
                locked = _locked(exc)
            else:
                self._wrote(len(group))
                for (_fn, fut, _lite), result in zip(group, results, strict=True):
                    if not fut.done():  # (its caller may have been cancelled meanwhile: it is stored all the same)
                        fut.set_result(result)
                return
        retry = asyncio.get_running_loop().create_task(self._one_by_one(group, lock, locked))
        self._retries.add(retry)
        retry.add_done_callback(self._retries.discard)

    def _transaction(self, group: Group) -> list[Any]:
        """The group's writes in one transaction of the driver's own: sqlite3 begins it at the first write
        and `commit` ends it, as SQLAlchemy's `begin()` would (it adds nothing on SQLite but its
        bookkeeping, measured: bench/instructions.py); a write that had SQLAlchemy execute a statement
        (it began its own transaction then) ends through SQLAlchemy."""
        driver = self._quick_raw()
        # (made before any write: SQLAlchemy rolls a connection back when it first connects to it)
        conn = self._quick() if not all(lite for _fn, _fut, lite in group) else None
        try:
            results = [fn(Lite(driver)) if lite else fn(conn) for fn, _fut, lite in group]
            (conn.commit if conn is not None and conn.in_transaction() else driver.commit)()
        except BaseException:
            try:  # (its own error is the one its callers hear)
                (conn.rollback if conn is not None and conn.in_transaction() else driver.rollback)()
            except Exception:  # noqa: BLE001, S110
                pass
            raise
        return results

    async def _one_by_one(self, group: Group, lock: asyncio.Lock, locked: bool) -> None:
        """A group that failed (or could not run at once): each write in a transaction of its own, as
        `write(quick=True)` runs it, or at once in the writer thread when another process held the lock."""
        loop = asyncio.get_running_loop()
        for fn, fut, lite in group:
            try:
                async with lock:
                    result = await (loop.run_in_executor(self.pool, self._write, fn, lite) if locked
                                    else self.write(fn, quick=True, lite=lite))
            except Exception as exc:  # noqa: BLE001 - handed to its caller
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)

    async def read(self, fn: Callable[[Any], T], lite: bool = False) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, self._read, fn, lite)

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
        for engine in self._engines.values():
            engine.dispose()
        for conn in (self._writer, self._quick_driver, *self._readers):
            if conn is not None:
                conn.close()


def _lite_tx(driver: sqlite3.Connection, fn: Callable[[Lite], T]) -> T:
    """`fn` as one transaction of `driver`: committed when it returns, rolled back whole if it raises."""
    try:
        result = fn(Lite(driver))
        driver.commit()
    except BaseException:
        driver.rollback()
        raise
    return result
