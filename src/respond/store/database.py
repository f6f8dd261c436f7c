"""The SQL database under every store adapter: a `UnitOfWork` (core/storage.py) on SQLAlchemy 2.

`Database.read(fn)` / `Database.write(fn)` run `fn(connection)` (sync SQLAlchemy Core) as one
read or one write transaction, the same call on both dialects:

- SQLite: each transaction runs whole in a thread on plain sqlite3 connections: one thread hop
  per transaction instead of several per statement (as aiosqlite would).  Writes go to one dedicated
  thread (one writer at a time, as SQLite wants); reads to a small pool (WAL lets them run beside
  the writer).  That single-writer thread is this adapter's detail, invisible to the stores.
  A `quick` write (the few small rows of a response's life: a hot path) runs on the event loop
  itself, on its own connection that waits at most `QUICK_BUSY_MS` for another process's lock
  (then it goes to the writer thread): measured, the thread hop and the GIL handoffs cost more CPU
  than such a transaction does (bench/peers.py, BENCHMARKS.md).  The quick writes asked for in one
  turn of the event loop share one transaction, committed at the end of the turn (a group commit,
  `SqliteThreads.grouped`: concurrent responses' rows land on the same last pages of the tables and
  time-ordered indexes, written once); a group that fails runs again one write at a time, so each
  caller gets its own outcome.
- PostgreSQL: the hot statements go straight to an asyncpg pool of their own (store/pg_direct.py),
  compiled by SQLAlchemy Core once per statement and key set to SQL with positional parameters: a
  `quick` write whose function only calls `execute_rows` (every hot write does) is first run against a
  `Batch`, which records its statements, then they run there as one statement where that changes
  nothing (data-modifying `WITH` queries, store/pg_merge.py: one round trip) or else in one transaction,
  joined with the writes of the same statements asked for in the same turn of the event loop (a group
  commit, store/pg_group.py);
  `fetch`, `scalar` and `write_returning` run one statement there.  No greenlet switch, no SQLAlchemy
  execution per statement (measured: bench/instructions.py, BENCHMARKS.md).  Anything else (a function
  that does more with its connection, a statement SQLAlchemy must execute itself) runs on the async
  engine's pool with `run_sync`.

Every store operation (responses, jobs, conversations, files, chunks) is a `read` or a `write`.
Only the migrations run on async connections (`begin()`, as each step is an async function); on
SQLite that transaction is the writer thread's own, driven from the event loop (store/sqlite_threads.py;
SQLAlchemy's asyncio layer is never imported there), under the same lock as the writer's other
transactions, so writers never meet in SQLite's busy handler (which sleeps in growing steps of up to
100 ms and ruins tail latency).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect, make_url

if TYPE_CHECKING:  # imported where PostgreSQL needs it: on SQLite the asyncio layer (8 MB) and the
    # asyncpg path's modules are never loaded (tests/test_memory_at_rest.py)
    from sqlalchemy.ext.asyncio import AsyncEngine

    from respond.store.pg_direct import PgDirect, Steps
    from respond.store.pg_group import Grouper

from respond.store.sqlite_threads import SqliteThreads

log = logging.getLogger("respond.store")
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str) -> AsyncEngine:
    """PostgreSQL's async engine (asyncpg)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    # the cold paths' pool: the hot statements have their own (store/pg_direct.py)
    return create_async_engine(normalize_url(url), pool_size=5, max_overflow=5, pool_pre_ping=False)


class MigrationConnection(Protocol):
    """What a migration step uses of its connection: an `AsyncConnection` on PostgreSQL, the writer
    thread's own connection behind `_ThreadConnection` on SQLite."""

    @property
    def dialect(self) -> Dialect: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any: ...

    async def execute(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any: ...

    async def run_sync(self, fn: Callable[[Connection], T]) -> T: ...


_REQUIRED = object()
Plan = tuple[Any, str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]
_PLANS: dict[tuple[int, str, str, tuple[str, ...]], Plan | None] = {}
PLANS_MAX = 4096
_UNPLANNED: Any = object()


def _plan(stmt: Any, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
    """SQL and argument order of a statement built once, for rows with these keys; None when it needs
    SQLAlchemy's own execution (expanding or literal parameters, a default that is not a constant, a
    result column it converts)."""
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if compiled.positiontup is None or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    defaults: dict[str, object] = {}  # a column's constant default, a value written into the statement
    for col in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        if col.default is None or not col.default.is_scalar:
            return None
        defaults[col.key] = col.default.arg
    for name in compiled.positiontup:
        bind = compiled.binds.get(name)
        if name in keys or name in defaults:
            continue
        if bind is None or bind.callable is not None or bind.required:
            return None
        defaults[name] = bind.value  # a value written into the statement (`.values(state="done")`)
    if any(col[3]._cached_result_processor(dialect, None) is not None for col in compiled._result_columns):
        return None  # a column SQLAlchemy converts when it reads it
    procs = compiled._bind_processors
    return stmt, compiled.string, _arguments([(name, procs.get(name), _REQUIRED if name in keys else defaults[name])
                                              for name in compiled.positiontup])


def _arguments(columns: list[tuple[str, Callable[[Any], Any] | None, Any]]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's arguments in the statement's order: taken by one `itemgetter` (in C) when every one is
    the row's own, then converted where the column says so (a boolean, a `SafeString`)."""
    names = [name for name, _proc, _default in columns]
    if len(names) < 2 or any(default is not _REQUIRED for _name, _proc, default in columns):
        def each(row: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple((row[name] if default is _REQUIRED else row.get(name, default)) if proc is None
                         else proc(row[name] if default is _REQUIRED else row.get(name, default))
                         for name, proc, default in columns)
        return each
    take = itemgetter(*names)
    converted = [(n, proc) for n, (_name, proc, _default) in enumerate(columns) if proc is not None]
    if not converted:
        return take

    def convert(row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = list(take(row))
        for n, proc in converted:
            values[n] = proc(values[n])
        return tuple(values)
    return convert


def _compiled(stmt: Any, rows: Sequence[Mapping[str, Any]], dialect: Dialect) -> tuple[str, list[tuple[Any, ...]]] | None:
    """The SQL of `stmt` for these rows (compiled once per statement, dialect and key set) and each
    row's arguments in its order; None when SQLAlchemy's own execution is needed."""
    keys = tuple(rows[0])
    key = (id(stmt), dialect.name, dialect.driver, keys)  # (the plan holds `stmt`: its id stays its own)
    plan = _PLANS.get(key, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _plan(stmt, keys, dialect)
        if len(_PLANS) < PLANS_MAX:  # statements are built once; one built per call must not grow this forever
            _PLANS[key] = plan
    if plan is None:
        return None
    try:
        return plan[1], [*map(plan[2], rows)]
    except KeyError:  # rows with other keys than the first: SQLAlchemy sorts that out (or says what is wrong)
        return None


class NotABatch(Exception):
    """A quick write's function used its connection for more than `execute_rows`."""


class Batch:
    """Stands for the connection of a quick write on PostgreSQL: records what `execute_rows` is asked."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, Sequence[Mapping[str, Any]]]] = []

    def __getattr__(self, name: str) -> Any:
        raise NotABatch(name)


def execute_rows(conn: Connection | Batch, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """`conn.execute(stmt, params)` for a statement built once (a module or store constant) whose
    result is not read.  On SQLite it goes straight to the driver with SQL compiled once per set of
    keys (SQLAlchemy's per-execution work is most of the CPU of a small write); on PostgreSQL a
    quick write records it (`Batch`, run on asyncpg by `Database.write`); elsewhere, as usual."""
    rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
    if not rows:
        return
    if isinstance(conn, Batch):
        conn.steps.append((stmt, rows))
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, params)
        return
    compiled = _compiled(stmt, rows, conn.dialect)
    if compiled is None:
        conn.execute(stmt, params)
        return
    sql, args = compiled
    driver = conn.connection.dbapi_connection
    assert driver is not None
    if len(args) == 1:
        driver.execute(sql, args[0])
    else:
        driver.executemany(sql, args)


class Database:
    """The unit of work of the SQL stores (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self._lock = asyncio.Lock()  # SQLite: one write transaction at a time in this process
        self._threads: SqliteThreads | None = None
        self._async: AsyncEngine | None = None
        self._direct: PgDirect | None = None
        self._group: Grouper | None = None
        if make_url(self.url).get_backend_name() == "sqlite":
            self._threads = SqliteThreads(self.url)
            self.dialect: Dialect = self._threads.engine.dialect
        else:
            self._async = make_engine(self.url)
            self.dialect = self._async.dialect
            from respond.store.pg_direct import PgDirect
            from respond.store.pg_group import Grouper

            self._direct = PgDirect(self.url, self.dialect)
            self._group = Grouper(lambda steps: self._run(steps))
        self.name = self.dialect.name

    @property
    def _engine(self) -> AsyncEngine:
        assert self._async is not None, "SQLite runs on its threads (SqliteThreads), not on an async engine"
        return self._async

    async def write(self, fn: Callable[[Connection], T], quick: bool = False) -> T:
        """`quick`: a transaction of a few small rows, on a hot path (SQLite runs it on the event loop)."""
        if self._threads is not None:
            if quick:  # with the others of this turn of the event loop, in one transaction (a group commit)
                return await self._threads.grouped(fn, self._lock)
            async with self._lock:  # not at the same time as the async path's writes
                return await self._threads.write(fn, quick)
        if quick:
            batch = Batch()
            try:
                done = fn(cast(Connection, batch))
                steps = [_compiled(stmt, rows, self.dialect) for stmt, rows in batch.steps]
            except NotABatch:
                steps = [None]
            if None not in steps:  # as one statement where they join, with the same writes of this turn
                assert self._group is not None
                await self._group.write([stmt for stmt, _rows in batch.steps], cast("Steps", steps))
                return done
        async with self._engine.begin() as conn:
            return cast(T, await conn.run_sync(fn))

    async def _run(self, steps: Steps) -> None:
        """A quick write's statements in one transaction on the asyncpg pool (see the module docstring)."""
        assert self._direct is not None
        await self._direct.run(steps)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        if self._threads is not None:
            return await self._threads.read(fn)
        async with self._engine.connect() as conn:
            return cast(T, await conn.run_sync(fn))

    async def _direct_rows(self, stmt: Any, params: Mapping[str, Any] | None) -> Sequence[Sequence[Any]] | None:
        """One statement's rows on the asyncpg pool; None where it cannot run there (SQLite, or a
        statement SQLAlchemy must execute itself)."""
        if self._direct is None:
            return None
        compiled = _compiled(stmt, [params or {}], self.dialect)
        return None if compiled is None else await self._direct.fetch(compiled[0], compiled[1][0])

    async def fetch(self, stmt: Any, params: Mapping[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """The rows of one read statement built once (a module or store constant: its SQL is kept by
        its identity), as `read(lambda conn: conn.execute(stmt, params).all())`."""
        rows = await self._direct_rows(stmt, params)
        return rows if rows is not None else await self.read(lambda conn: conn.execute(stmt, params).all())

    async def write_returning(self, stmt: Any, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """One statement built once that writes, as its own transaction, and the rows it returns
        (`write(lambda conn: conn.execute(stmt, params).all())`; on PostgreSQL on the asyncpg pool)."""
        rows = await self._direct_rows(stmt, params)
        return rows if rows is not None else await self.write(lambda conn: conn.execute(stmt, params).all())

    async def scalar(self, stmt: Any, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row of one read statement built once (see `fetch`)."""
        if self._direct is None:
            return await self.read(lambda conn: conn.scalar(stmt, params))
        rows = await self.fetch(stmt, params)
        return rows[0][0] if rows else None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[MigrationConnection]:
        if self._threads is None:
            async with self._engine.begin() as conn:
                yield cast(MigrationConnection, conn)
            return
        async with self._lock, self._threads.begin() as thread_conn:
            yield thread_conn

    async def close(self) -> None:
        if self._threads is not None:
            self._threads.close()
        if self._direct is not None:
            await self._direct.close()
        if self._async is not None:
            await self._async.dispose()
