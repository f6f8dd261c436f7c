"""PostgreSQL's hot path (store/database.py, store/pg_direct.py): a quick write whose function only calls
`execute_rows` is recorded (`Batch`) and run on the asyncpg pool in one transaction, and a read statement
built once runs there too; anything else runs through SQLAlchemy as before.  Needs RESPOND_TEST_POSTGRES."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, bindparam, insert, select, text

from respond.store.availability import data_error
from respond.store.database import Database, execute_rows
from respond.store.safetext import SafeString
from tests.unit.store.pg_scratch import URL, on_scratch_table

pytestmark = pytest.mark.skipif(not URL, reason="RESPOND_TEST_POSTGRES is not set")


def _run(check: Callable[[Database, Table, list[int]], Any]) -> Any:
    return on_scratch_table("batch", check, len)  # runs: the statements each run sends


def test_execute_rows_only_runs_on_asyncpg_in_one_transaction() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> list[Any]:
        stmt = insert(t)

        def write(conn: Connection) -> None:
            execute_rows(conn, stmt, {"id": 1, "v": "a"})
            execute_rows(conn, stmt, [{"id": 2, "v": "b"}, {"id": 3, "v": "c"}])

        await db.write(write, quick=True)
        assert runs == [2]  # two statements, one transaction
        with pytest.raises(Exception) as refused:  # id 3 again: the whole transaction is rolled back
            await db.write(lambda conn: execute_rows(conn, stmt, [{"id": 4, "v": "d"}, {"id": 3, "v": "x"}]),
                           quick=True)
        assert data_error(refused.value)  # asyncpg's own error, recognised as a refused value
        return list(await db.read(lambda conn: conn.execute(select(t).order_by(t.c.id)).all()))

    assert [tuple(r) for r in _run(check)] == [(1, "a"), (2, "b"), (3, "c")]


def test_a_quick_write_that_reads_runs_through_sqlalchemy() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> Any:
        def write(conn: Connection) -> Any:
            execute_rows(conn, insert(t), {"id": 7, "v": "q"})
            return conn.scalar(select(t.c.v).where(t.c.id == 7))

        got = await db.write(write, quick=True)
        assert runs == []
        assert await db.read(lambda conn: conn.scalar(text(f"SELECT count(*) FROM {t.name}"))) == 1
        return got

    assert _run(check) == "q"


def test_a_read_statement_built_once_runs_on_asyncpg() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> Any:
        await db.write(lambda conn: execute_rows(conn, insert(t), [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]),
                       quick=True)
        assert db._direct is not None
        fetched: list[str] = []
        real = db._direct.fetch

        async def counted(sql: str, args: tuple[Any, ...]) -> Any:
            fetched.append(sql)
            return await real(sql, args)

        pytest.MonkeyPatch().setattr(db._direct, "fetch", counted)
        by_id = select(t.c.v).where(t.c.id == bindparam("id"))
        assert await db.scalar(by_id, {"id": 2}) == "b"
        assert await db.scalar(by_id, {"id": 9}) is None
        rows = await db.fetch(select(t.c.id, t.c.v).order_by(t.c.id))
        assert len(fetched) == 3
        safe = Table(t.name, MetaData(), Column("id", Integer, primary_key=True), Column("v", SafeString(8)))
        assert await db.scalar(select(safe.c.v).where(safe.c.id == 1)) == "a"  # converted: SQLAlchemy reads it
        assert len(fetched) == 3
        return [tuple(r) for r in rows]

    assert _run(check) == [(1, "a"), (2, "b")]


def test_statements_that_cannot_see_each_other_run_as_one() -> None:
    """A write of several tables (or a DELETE then an INSERT into one) is one statement: one round trip,
    all of it or none; one that reads what an earlier statement wrote stays a transaction of statements."""
    async def check(db: Database, t: Table, runs: list[int]) -> list[Any]:
        other = Table(f"{t.name}_o", t.metadata, Column("id", Integer, primary_key=True), Column("v", String(8)))
        await db.write(lambda conn: other.create(conn))
        try:
            ins, ins_other = insert(t), insert(other)
            gone = t.delete().where(t.c.v == bindparam("old"))
            renamed = t.update().where(t.c.id == bindparam("key")).values(v=bindparam("new"))

            def first(conn: Connection) -> None:
                execute_rows(conn, ins, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
                execute_rows(conn, ins_other, {"id": 1, "v": "o"})

            def second(conn: Connection) -> None:
                execute_rows(conn, gone, {"old": "b"})
                execute_rows(conn, ins, [{"id": 3, "v": "b"}, {"id": 4, "v": "d"}])

            def third(conn: Connection) -> None:  # the UPDATE must see the INSERT's row
                execute_rows(conn, ins, {"id": 5, "v": "e"})
                execute_rows(conn, renamed, {"key": 5, "new": "E"})

            await db.write(first, quick=True)
            await db.write(second, quick=True)
            await db.write(third, quick=True)
            assert runs == [1, 1, 2]
            def clash(conn: Connection) -> None:
                execute_rows(conn, ins, {"id": 6, "v": "f"})
                execute_rows(conn, ins_other, {"id": 1, "v": "x"})

            with pytest.raises(Exception) as refused:  # id 1 again in `other`: nothing of it is written
                await db.write(clash, quick=True)
            assert data_error(refused.value) and runs == [1, 1, 2, 1]
            assert await db.scalar(select(other.c.v).where(other.c.id == 1)) == "o"
            return [tuple(r) for r in await db.fetch(select(t).order_by(t.c.id))]
        finally:
            await db.write(lambda conn: other.drop(conn))

    assert _run(check) == [(1, "a"), (3, "b"), (4, "d"), (5, "E")]


def test_rows_that_do_nothing_on_a_conflict_join_the_statement() -> None:
    """Several rows of an INSERT ... ON CONFLICT DO NOTHING in the one statement: a row that meets another
    of the same write is skipped, as when the rows go one after the other."""
    async def check(db: Database, t: Table, runs: list[int]) -> list[Any]:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        other = Table(f"{t.name}_o", t.metadata, Column("id", Integer, primary_key=True), Column("v", String(8)))
        await db.write(lambda conn: other.create(conn))
        try:
            quiet = pg_insert(t).on_conflict_do_nothing()
            renamed = other.update().where(other.c.id == bindparam("key")).values(v=bindparam("new"))
            await db.write(lambda conn: execute_rows(conn, insert(other), {"id": 1, "v": "o"}), quick=True)

            def write(conn: Connection) -> None:
                execute_rows(conn, renamed, {"key": 1, "new": "O"})
                execute_rows(conn, quiet, [{"id": 2, "v": "b"}, {"id": 2, "v": "x"}, {"id": 3, "v": "c"}])

            await db.write(write, quick=True)
            assert runs == [1, 1]
            assert await db.scalar(select(other.c.v).where(other.c.id == 1)) == "O"
            return [tuple(r) for r in await db.fetch(select(t).order_by(t.c.id))]
        finally:
            await db.write(lambda conn: other.drop(conn))

    assert _run(check) == [(2, "b"), (3, "c")]


def test_statements_built_per_call_do_not_grow_the_plan_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # plans are kept by the statement's identity (statements are built once); a caller that builds one
    # per call must cost a compile each time, not a cache entry each time, forever
    from sqlalchemy.dialects import postgresql

    from respond.store import database
    monkeypatch.setattr(database, "_PLANS", {})
    monkeypatch.setattr(database, "PLANS_MAX", 50)
    table = Table("t_plans", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
    dialect = postgresql.asyncpg.dialect()
    for i in range(200):
        sql, args = database._compiled(insert(table), [{"id": i, "name": "x"}], dialect) or ("", [])
        assert sql.startswith("INSERT INTO t_plans") and args == [(i, "x")]
    assert len(database._PLANS) == 50
