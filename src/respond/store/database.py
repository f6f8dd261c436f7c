"""The SQL database under every store adapter: a `UnitOfWork` (core/storage.py) on SQLAlchemy 2.

`Database.read(fn)` / `Database.write(fn)` run `fn(connection)` (sync SQLAlchemy Core) as one
read or one write transaction, the same call on both dialects.  With `lite=True`, `fn` uses its
connection only through `execute_rows`, `fetch_rows`, `fetch_value` and `run` with `Sql` statements
(store/statement.py): on SQLite it gets the sqlite3 connection itself (a `Lite`) and SQLAlchemy is not
loaded (the hot path's operations: issue 20's memory target); on PostgreSQL, SQLAlchemy's connection.

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
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypeVar, cast, overload

from respond.store.sqlite_threads import Lite, SqliteThreads, not_a_sqlite_path, sqlite_path
from respond.store.statement import Sql

if TYPE_CHECKING:  # SQLAlchemy is imported where it is used: a server on SQLite whose work is all on the
    # hot path (store/statement.py) never loads it; nor, on SQLite, the asyncio layer (8 MB) and the asyncpg
    # path's modules (tests/test_memory_at_rest.py)
    from sqlalchemy import Connection, Executable
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncEngine

    from respond.store.pg_direct import PgDirect, Steps
    from respond.store.pg_group import Grouper

    Conn: TypeAlias = "Connection | Lite | Batch"  # what a lite transaction's function gets (`Database.write`)

log = logging.getLogger("respond.store")
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    path = sqlite_path(url)
    if path is not None:  # as SQLAlchemy renders it (a journal's database tag is a hash of it: store/journal.py)
        return "sqlite+aiosqlite://" if path == ":memory:" else f"sqlite+aiosqlite:///{path}"
    from sqlalchemy.engine import make_url

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


def execute_rows(conn: Conn, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """`conn.execute(stmt, params)` for a statement built once (a module or store constant; a `Sql`, or a
    SQLAlchemy statement) whose result is not read.  On SQLite it goes straight to the driver: a `Sql`'s
    own SQL, or a statement's compiled once per set of keys (SQLAlchemy's per-execution work is most of the
    CPU of a small write); on PostgreSQL a quick write records it (`Batch`, run on asyncpg by
    `Database.write`); elsewhere, as usual."""
    rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
    if not rows:
        return
    if type(conn) is Lite:
        args = stmt.rows(rows)
        if len(args) == 1:
            conn.driver.execute(stmt.sqlite, args[0])
        else:
            conn.driver.executemany(stmt.sqlite, args)
        return
    if isinstance(conn, Batch):
        conn.steps.append((stmt.clause("postgresql") if isinstance(stmt, Sql) else stmt, rows))
        return
    sa = cast("Connection", conn)
    if isinstance(stmt, Sql):
        stmt = stmt.clause(sa.dialect.name)
    compiled = _compiled(stmt, rows, sa.dialect) if sa.dialect.name == "sqlite" else None
    if compiled is None:
        sa.execute(stmt, params)
        return
    sql, args = compiled
    driver = sa.connection.dbapi_connection
    assert driver is not None
    if len(args) == 1:
        driver.execute(sql, args[0])
    else:
        driver.executemany(sql, args)


def fetch_rows(conn: Conn, stmt: Sql, params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of one read statement (`Sql`) in a transaction's function, as tuples (or SQLAlchemy's rows)."""
    if type(conn) is Lite:
        return conn.driver.execute(stmt.sqlite, params or {}).fetchall()
    sa = cast("Connection", conn)
    return list(sa.execute(stmt.clause(sa.dialect.name), params).all())


def fetch_value(conn: Conn, stmt: Sql, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row of one read statement (`Sql`), or None."""
    if type(conn) is Lite:
        row = conn.driver.execute(stmt.sqlite, params or {}).fetchone()
        return None if row is None else row[0]
    sa = cast("Connection", conn)
    return sa.scalar(stmt.clause(sa.dialect.name), params)


def run(conn: Conn, stmt: Sql, params: Mapping[str, Any] | None = None) -> int:
    """One write statement (`Sql`) in a transaction's function; the number of rows it changed."""
    if type(conn) is Lite:
        return int(conn.driver.execute(stmt.sqlite, stmt.rows([params or {}])[0]).rowcount)
    sa = cast("Connection", conn)
    return int(sa.execute(stmt.clause(sa.dialect.name), params).rowcount)


class Database:
    """The unit of work of the SQL stores (see the module docstring)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite") and sqlite_path(url) is None:
            raise ValueError(not_a_sqlite_path(url))
        self.url = normalize_url(url)
        self._lock = asyncio.Lock()  # SQLite: one write transaction at a time in this process
        self._threads: SqliteThreads | None = None
        self._async: AsyncEngine | None = None
        self._direct: PgDirect | None = None
        self._group: Grouper | None = None
        self._dialect: Dialect | None = None
        if self.url.startswith("sqlite"):
            self._threads = SqliteThreads(self.url)
            self.name = "sqlite"
        else:
            self._async = make_engine(self.url)
            self._dialect = self._async.dialect
            from respond.store.pg_direct import PgDirect
            from respond.store.pg_group import Grouper

            self._direct = PgDirect(self.url, self._dialect)
            self._group = Grouper(lambda steps: self._run(steps))
            self.name = self._dialect.name

    @property
    def dialect(self) -> Dialect:
        """SQLAlchemy's dialect (on SQLite, made on first use: it loads SQLAlchemy)."""
        if self._dialect is None:
            assert self._threads is not None
            self._dialect = self._threads.dialect
        return self._dialect

    @property
    def _engine(self) -> AsyncEngine:
        assert self._async is not None, "SQLite runs on its threads (SqliteThreads), not on an async engine"
        return self._async

    @overload
    async def write(self, fn: Callable[[Connection], T], quick: bool = False) -> T: ...

    @overload
    async def write(self, fn: Callable[[Conn], T], quick: bool = False, *,
                    lite: Literal[True]) -> T: ...

    async def write(self, fn: Callable[[Any], T], quick: bool = False, *, lite: bool = False) -> T:
        """`quick`: a transaction of a few small rows, on a hot path (SQLite runs it on the event loop).
        `lite`: `fn` uses its connection only through `execute_rows`, `fetch_rows`, `fetch_value` and `run`
        with `Sql` statements (store/statement.py): on SQLite it gets the driver's connection (a `Lite`),
        and SQLAlchemy is not needed."""
        if self._threads is not None:
            if quick:  # with the others of this turn of the event loop, in one transaction (a group commit)
                return await self._threads.grouped(fn, self._lock, lite)
            async with self._lock:  # not at the same time as the async path's writes
                return await self._threads.write(fn, quick, lite)
        if quick:
            batch = Batch()
            try:
                done = fn(batch)
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

    @overload
    async def read(self, fn: Callable[[Connection], T]) -> T: ...

    @overload
    async def read(self, fn: Callable[[Conn], T], *, lite: Literal[True]) -> T: ...

    async def read(self, fn: Callable[[Any], T], *, lite: bool = False) -> T:
        """`lite`: as for `write`."""
        if self._threads is not None:
            return await self._threads.read(fn, lite)
        async with self._engine.connect() as conn:
            return cast(T, await conn.run_sync(fn))

    async def _direct_rows(self, stmt: Any, params: Mapping[str, Any] | None) -> Sequence[Sequence[Any]] | None:
        """One statement's rows on the asyncpg pool; None where it cannot run there (SQLite, or a
        statement SQLAlchemy must execute itself)."""
        if self._direct is None:
            return None
        compiled = _compiled(stmt, [params or {}], self.dialect)
        return None if compiled is None else await self._direct.fetch(compiled[0], compiled[1][0])

    def _clause(self, stmt: Any) -> Any:
        return stmt.clause(self.name) if isinstance(stmt, Sql) else stmt

    async def fetch(self, stmt: Any, params: Mapping[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """The rows of one read statement built once (a `Sql`, or a module or store constant: its SQL is
        kept by its identity), as `read(lambda conn: conn.execute(stmt, params).all())`."""
        if self._threads is not None and isinstance(stmt, Sql):
            return await self.read(lambda conn: fetch_rows(conn, stmt, params), lite=True)
        stmt = self._clause(stmt)
        rows = await self._direct_rows(stmt, params)
        return rows if rows is not None else await self.read(lambda conn: conn.execute(stmt, params).all())

    async def write_returning(self, stmt: Any, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """One statement built once that writes, as its own transaction, and the rows it returns
        (`write(lambda conn: conn.execute(stmt, params).all())`; on PostgreSQL on the asyncpg pool)."""
        if self._threads is not None and isinstance(stmt, Sql):
            return await self.write(lambda conn: fetch_rows(conn, stmt, params), lite=True)
        stmt = self._clause(stmt)
        rows = await self._direct_rows(stmt, params)
        return rows if rows is not None else await self.write(lambda conn: conn.execute(stmt, params).all())

    async def scalar(self, stmt: Any, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row of one read statement built once (see `fetch`)."""
        if self._threads is not None and isinstance(stmt, Sql):
            return await self.read(lambda conn: fetch_value(conn, stmt, params), lite=True)
        stmt = self._clause(stmt)
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
