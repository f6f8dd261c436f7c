"""PostgreSQL's group commit (store/pg_group.py): the quick writes of the same statements asked for in one
turn of the event loop run as one statement; a group that fails runs again one write at a time, so each
caller gets its own outcome; a statement whose rows cannot join runs alone.  Needs RESPOND_TEST_POSTGRES."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from respond.store.availability import data_error
from respond.store.database import Database, execute_rows
from tests.unit.store.pg_scratch import URL, on_scratch_table

pytestmark = pytest.mark.skipif(not URL, reason="RESPOND_TEST_POSTGRES is not set")


def _run(check: Callable[[Database, Table, list[int]], Any]) -> Any:
    async def rows(db: Database, table: Table) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await db.read(lambda conn: conn.execute(select(table).order_by(table.c.id)).all())]

    # runs: the rows (or statements joined) each run sends
    return on_scratch_table("group", check, lambda steps: sum(len(args) for _sql, args in steps), tables=2,
                            after=rows)


def _put(db: Database, t: Table, *rows: tuple[int, str]) -> Any:
    return db.write(lambda conn: execute_rows(conn, insert(t), [{"id": i, "v": v} for i, v in rows]), quick=True)


def test_the_writes_of_one_turn_are_one_statement() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> None:
        await asyncio.gather(_put(db, t, (1, "a")), _put(db, t, (2, "b"), (3, "c")), _put(db, t, (4, "d")))
        assert runs == [4]  # one executemany of the four rows: one round trip, one commit
        await _put(db, t, (5, "e"))
        assert runs == [4, 1]

    assert _run(check) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]


def test_a_group_that_fails_runs_again_one_write_at_a_time() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> None:
        got = await asyncio.gather(_put(db, t, (1, "a")), _put(db, t, (1, "x")), _put(db, t, (2, "b")),
                                   return_exceptions=True)
        assert got[0] is None and got[2] is None
        assert type(got[1]).__name__ == "UniqueViolationError" and data_error(got[1])  # its own error
        assert runs == [3, 1, 1, 1]

    assert _run(check) == [(1, "a"), (2, "b")]


def test_upserts_deletes_and_updates_of_several_writes_join_by_their_conditions() -> None:
    """An upsert's rows, a DELETE's and an UPDATE's that set the same values, from several writes, are one
    statement (the conditions joined by OR); upserts that meet, or UPDATEs that set other values, run alone."""
    async def check(db: Database, t: Table, runs: list[int]) -> None:
        t2 = t.metadata.tables[f"{t.name}_2"]
        await _put(db, t, (1, "a"), (2, "b"))
        await db.write(lambda conn: execute_rows(conn, insert(t2), [{"id": i, "v": "k"} for i in (1, 2, 3, 4)]),
                       quick=True)
        up = pg_insert(t)
        upsert = up.on_conflict_do_update(index_elements=["id"], set_={"v": up.excluded.v})
        drop = delete(t2).where(t2.c.id == bindparam("key"))
        set_v = update(t).where(t.c.id == bindparam("key")).values(v=bindparam("val"))

        def end(new: int, v: str, key: int) -> Callable[[Connection], None]:
            def write(conn: Connection) -> None:
                execute_rows(conn, upsert, {"id": new, "v": v})
                execute_rows(conn, drop, {"key": key})
            return write

        def change(key: int, val: str) -> Callable[[Connection], None]:
            def write(conn: Connection) -> None:
                execute_rows(conn, set_v, {"key": key, "val": val})
                execute_rows(conn, drop, {"key": key})
            return write

        del runs[:]
        await asyncio.gather(*(db.write(end(n, "u", k), quick=True) for n, k in ((1, 1), (3, 2), (4, 9))))
        assert runs == [1]
        await asyncio.gather(db.write(end(5, "x", 9), quick=True), db.write(end(5, "y", 9), quick=True))
        assert runs == [1, 1, 1, 1]  # they meet: the statement fails, each runs alone
        await asyncio.gather(db.write(change(3, "s"), quick=True), db.write(change(4, "s"), quick=True))
        assert runs == [1, 1, 1, 1, 1]
        await asyncio.gather(db.write(change(3, "p"), quick=True), db.write(change(4, "q"), quick=True))
        assert runs == [1, 1, 1, 1, 1, 1, 1]
        assert [tuple(r) for r in await db.fetch(select(t2).order_by(t2.c.id))] == []  # (1 and 2 dropped, then 3, 4)

    assert _run(check) == [(1, "u"), (2, "b"), (3, "p"), (4, "q"), (5, "y")]


def test_the_first_of_a_group_cancelled_while_it_waits_leaves_the_others_stored() -> None:
    async def check(db: Database, t: Table, runs: list[int]) -> None:
        first = asyncio.ensure_future(_put(db, t, (1, "a")))
        second = asyncio.ensure_future(_put(db, t, (2, "b")))
        await asyncio.sleep(0)  # the first waits for the end of the turn, the second joined it
        first.cancel()
        await second
        with pytest.raises(asyncio.CancelledError):
            await first
        assert runs == [1]

    assert _run(check) == [(2, "b")]
