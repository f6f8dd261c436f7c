"""The plans of the statements a store call runs, on SQLite and PostgreSQL, instead of running them.

`explained(store, call)` runs `call()` with the store's `Database` answering every statement with its
plan (SQLite: `EXPLAIN QUERY PLAN` with the statement's own parameters; PostgreSQL: `EXPLAIN EXECUTE`
of a prepared statement under `plan_cache_mode = force_generic_plan` and `enable_seqscan = off`, so
the plan is the one any parameter values get, and an index that can serve it is chosen over a scan
of a table of a few rows).  Reads come back empty; the calls' results are not used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Connection

from respond.store.sql import SqlStore
from respond.store.statement import Sql


class _Empty:
    def all(self) -> list[Any]:
        return []

    def first(self) -> None:
        return None

    def scalars(self) -> _Empty:
        return self

    def scalar(self) -> None:
        return None

    rowcount = 0


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::varchar[]"
    return "'" + str(value).replace("'", "''") + "'"


class _Explaining:
    """A connection that explains what it is asked to execute (the plans go to `plans`)."""

    def __init__(self, conn: Connection, plans: list[str]) -> None:
        self.conn, self.plans = conn, plans
        self.dialect = conn.dialect

    def execute(self, stmt: Any, params: Any = None) -> _Empty:
        if isinstance(stmt, Sql):
            stmt = stmt.clause(self.dialect.name)
        if isinstance(params, list):
            params = params[0] if params else None
        compiled = stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.construct_params(params)
        args = [values[name] for name in compiled.positiontup or []]
        sql = str(compiled)
        if self.dialect.name == "sqlite":
            rows = self.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(args)).all()
            self.plans.append("\n".join(str(r[-1]) for r in rows))
        else:
            self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            self.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            self.conn.exec_driver_sql("PREPARE idx_plan AS " + sql)
            try:
                call = f"EXECUTE idx_plan({', '.join(_literal(a) for a in args)})" if args else "EXECUTE idx_plan"
                rows = self.conn.exec_driver_sql("EXPLAIN " + call).all()
            finally:
                self.conn.exec_driver_sql("DEALLOCATE idx_plan")
            self.plans.append("\n".join(str(r[0]) for r in rows))
        return _Empty()

    def scalar(self, stmt: Any, params: Any = None) -> None:
        self.execute(stmt, params)
        return None


async def explained(store: SqlStore, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """The plan of each statement `call` runs through `store.db`, in order."""
    db = store.db
    plans: list[str] = []
    real_read = db.read

    async def read(fn: Callable[[Any], Any], quick: bool = False, *, lite: bool = False) -> Any:
        # (a lite function's helpers take `_Explaining` for a SQLAlchemy connection: its `Sql`s are explained too)
        # a read transaction on the engine's own path (on PostgreSQL the async engine's, where PREPARE works)
        return await real_read(lambda conn: fn(_Explaining(conn, plans)))

    async def one(stmt: Any, params: Any = None) -> Any:
        await read(lambda conn: conn.execute(stmt, params))
        return None

    async def rows(stmt: Any, params: Any = None) -> list[Any]:
        await one(stmt, params)
        return []

    with pytest.MonkeyPatch.context() as patch:
        for name, fake in (("read", read), ("write", read), ("scalar", one), ("fetch", rows),
                           ("write_returning", rows)):
            patch.setattr(db, name, fake)
        await call()
    return plans
