"""PostgreSQL's hot path: statements on an asyncpg pool of its own, without SQLAlchemy's asyncio layer.

Through SQLAlchemy's async engine a transaction costs a pool checkout and checkin through greenlets (three
switches) and each statement its execution context: most of the CPU of a small write or read.  The
statements a store builds once (module or store constants, with `bindparam`s) are compiled by SQLAlchemy
Core once per key set to SQL with positional parameters (store/database.py `_compiled`), and run here with
asyncpg's prepared statements (asyncpg keeps them per connection):

- `run(steps)`: a quick write's recorded statements (`Batch`) in one transaction (a lone statement is a
  transaction of its own: no BEGIN and COMMIT, two round trips fewer);
- `fetch(sql, args)`: the rows of one read statement.

The pool is asyncpg's, opened on first use in the running loop, beside the async engine's (which keeps
the migrations and every other transaction).  A released connection is not reset with a query (asyncpg's
default sends `RESET ALL; UNLISTEN *; ...`: a round trip per transaction): these connections never set
session state, take session advisory locks, listen or keep cursors; an open transaction is still rolled
back.  A connection whose statement failed because the database went away, or was interrupted, is
terminated (the pool opens a new one on next use), as SQLAlchemy's invalidation did; the error itself is
asyncpg's own (or the OSError of a refused connect), which `store/availability.py` recognises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Dialect, make_url

from respond.store.availability import unavailable

if TYPE_CHECKING:
    import asyncpg

MAX_CONNECTIONS = 10  # beside the async engine's 5 + 5: as many in all as that engine alone had before
Steps = list[tuple[str, list[tuple[Any, ...]]]]


async def _no_reset(_conn: Any) -> None:
    """Nothing to reset but an open transaction, which asyncpg rolls back before this (see the docstring)."""


def connect_args(url: str, dialect: Dialect) -> dict[str, Any]:
    """asyncpg.connect's arguments for this URL, as SQLAlchemy's asyncpg dialect makes them."""
    _args, kwargs = dialect.create_connect_args(make_url(url))
    kwargs = dict(kwargs)
    kwargs["statement_cache_size"] = int(kwargs.pop("prepared_statement_cache_size", 100))
    kwargs.pop("prepared_statement_name_func", None)
    return kwargs


class PgDirect:
    """The asyncpg pool of the hot statements (see the module docstring)."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self._kwargs = connect_args(url, dialect)
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Future[asyncpg.Pool] | None = None

    async def _open(self) -> asyncpg.Pool:
        import asyncpg

        pool = asyncpg.create_pool(min_size=0, max_size=MAX_CONNECTIONS, max_inactive_connection_lifetime=0,
                                   reset=_no_reset, **self._kwargs)
        await pool  # (min_size 0: no connection yet, nothing to fail while the database is away)
        self._pool = pool
        return pool

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._opening)

    async def run(self, steps: Steps) -> None:
        """Statements in one transaction (see the module docstring)."""
        pool = self._pool or await self.pool()
        async with pool.acquire() as conn:
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

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
        """The rows of one read statement (asyncpg Records: tuples by position)."""
        pool = self._pool or await self.pool()
        async with pool.acquire() as conn:
            try:
                rows: Sequence[Sequence[Any]] = await conn.fetch(sql, *args)
                return rows
            except BaseException as exc:
                _drop_if_broken(conn, exc)
                raise

    async def close(self) -> None:
        if self._opening is not None and self._pool is None:
            await asyncio.gather(self._opening, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _execute(conn: Any, sql: str, args: list[tuple[Any, ...]]) -> None:
    if len(args) == 1:
        await conn.execute(sql, *args[0])
    else:
        await conn.executemany(sql, args)


def _drop_if_broken(conn: Any, exc: BaseException) -> None:
    """Not to be handed out again: a connection the database dropped, or one left mid-statement."""
    if not isinstance(exc, Exception) or unavailable(exc):
        conn.terminate()
