"""PostgreSQL's hot path: statements on an asyncpg pool of its own, without SQLAlchemy's asyncio layer.

Through SQLAlchemy's async engine a transaction costs a pool checkout and checkin through greenlets (three
switches) and each statement its execution context: most of the CPU of a small write or read.  The
statements a store builds once (module or store constants, with `bindparam`s) are compiled by SQLAlchemy
Core once per key set to SQL with positional parameters (store/database.py `_compiled`), and run here with
asyncpg's prepared statements (asyncpg keeps them per connection):

- `run(steps)`: a quick write's recorded statements (`Batch`) in one transaction (a lone statement is a
  transaction of its own: no BEGIN and COMMIT, two round trips fewer);
- `fetch(sql, args)`: the rows of one read statement.

The pool (`_Pool`) is a list of idle asyncpg connections, opened on first use in the running loop,
beside the async engine's (which keeps the migrations and every other transaction).  Not asyncpg's own
`Pool`: its checkout and checkin cost more CPU than the statement they carry (a holder, a proxy, a future
and a shielded task per use, and a reset), measured: bench/instructions.py, BENCHMARKS.md.  Here a
checkout pops a connection and a checkin, which never awaits (a cancelled caller cannot leave a
connection out), pushes it back or hands it to the first waiter.  A released connection is not reset:
these connections never set session state, take session advisory locks, listen or keep cursors.  One
that is closed, or still in a transaction (a statement interrupted, a ROLLBACK that did not run), or whose
statement failed because the database went away, is terminated and its place given to the next caller,
who opens a new one, as SQLAlchemy's invalidation did; the error itself is asyncpg's own (or the OSError
of a refused connect), which `store/availability.py` recognises.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Dialect, make_url

from respond.store.availability import unavailable

if TYPE_CHECKING:
    import asyncpg

MAX_CONNECTIONS = 10  # beside the async engine's 5 + 5: as many in all as that engine alone had before
Steps = list[tuple[str, list[tuple[Any, ...]]]]


def connect_args(url: str, dialect: Dialect) -> dict[str, Any]:
    """asyncpg.connect's arguments for this URL, as SQLAlchemy's asyncpg dialect makes them."""
    _args, kwargs = dialect.create_connect_args(make_url(url))
    kwargs = dict(kwargs)
    kwargs["statement_cache_size"] = int(kwargs.pop("prepared_statement_cache_size", 100))
    kwargs.pop("prepared_statement_name_func", None)
    return kwargs


class _Pool:
    """At most `size` asyncpg connections, idle ones kept for the next caller (see the module docstring)."""

    def __init__(self, kwargs: dict[str, Any], size: int) -> None:
        self._kwargs, self._size = kwargs, size
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._open = 0  # connections out, idle or being opened
        self._closed = False

    async def acquire(self) -> asyncpg.Connection:
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1  # (the database went away while it was idle)
            if self._closed:
                raise RuntimeError("the PostgreSQL pool is closed")
            if self._open < self._size:
                import asyncpg

                self._open += 1
                try:
                    conn = await asyncpg.connect(**self._kwargs)
                except BaseException:
                    self._give_place()
                    raise
                if self._closed:  # (closed while it was being opened)
                    self.release(conn)
                    continue
                return conn
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                got = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # handed over as this caller was cancelled
                    handed = waiter.result()
                    if handed is not None:
                        self.release(handed)
                    else:
                        self._give_place(freed=False)
                raise
            if got is not None:
                return got  # (None: a place came free, the loop opens a connection)

    def release(self, conn: asyncpg.Connection) -> None:
        """Never awaits: a checkin cannot be interrupted half way."""
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._give_place()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _give_place(self, freed: bool = True) -> None:
        """A connection went (`freed`), or a place handed over was not taken: the next waiter may open one."""
        if freed:
            self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        await asyncio.gather(*(conn.close() for conn in idle), return_exceptions=True)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class PgDirect:
    """The connections of the hot statements (see the module docstring)."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self._pool = _Pool(connect_args(url, dialect), MAX_CONNECTIONS)

    async def run(self, steps: Steps) -> None:
        """Statements in one transaction (see the module docstring)."""
        conn = await self._pool.acquire()
        try:
            if len(steps) == 1:  # one statement is a transaction of its own (asyncpg wraps an
                await _execute(conn, *steps[0])  # executemany in one): two round trips fewer
            else:
                async with conn.transaction():
                    for sql, args in steps:
                        await _execute(conn, sql, args)
        except BaseException as exc:
            _drop_if_broken(conn, exc)
            raise
        finally:
            self._pool.release(conn)

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
        """The rows of one read statement (asyncpg Records: tuples by position)."""
        conn = await self._pool.acquire()
        try:
            rows: Sequence[Sequence[Any]] = await conn.fetch(sql, *args)
            return rows
        except BaseException as exc:
            _drop_if_broken(conn, exc)
            raise
        finally:
            self._pool.release(conn)

    async def close(self) -> None:
        await self._pool.close()


async def _execute(conn: Any, sql: str, args: list[tuple[Any, ...]]) -> None:
    if len(args) == 1:
        await conn.execute(sql, *args[0])
    else:
        await conn.executemany(sql, args)


def _drop_if_broken(conn: Any, exc: BaseException) -> None:
    """Not to be handed out again: a connection the database dropped, or one left mid-statement."""
    if not isinstance(exc, Exception) or unavailable(exc):
        conn.terminate()
