"""store/sqlite_threads.py: the quick writes of one turn of the event loop share one transaction, and a
group that fails runs again one write at a time, each caller getting its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, column, insert, table, text

from respond.store.database import Database, execute_rows


async def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    await db.write(lambda conn: conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")))
    return db


def _insert(k: int, seen: list[int] | None = None) -> Callable[[Connection], int]:
    def write(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (k, v) VALUES (:k, 'x')"), {"k": k})
        if seen is not None:
            seen.append(id(conn.get_transaction()))
        return k
    return write


async def test_writes_of_one_turn_share_a_transaction(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    seen: list[int] = []
    try:
        got = await asyncio.gather(*(db.write(_insert(k, seen), quick=True) for k in range(5)))
        assert got == [0, 1, 2, 3, 4]
        assert len(set(seen)) == 1  # one transaction for the five
        rows = await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar())
        assert rows == 5
    finally:
        await db.close()


async def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:
        await db.write(_insert(1), quick=True)
        results = await asyncio.gather(db.write(_insert(2), quick=True), db.write(_insert(1), quick=True),
                                       db.write(_insert(3), quick=True), return_exceptions=True)
        assert results[0] == 2 and results[2] == 3
        assert isinstance(results[1], Exception) and "UNIQUE" in str(results[1])
        keys = await db.read(lambda conn: [r[0] for r in conn.execute(text("SELECT k FROM t ORDER BY k"))])
        assert keys == [1, 2, 3]
    finally:
        await db.close()


async def test_a_lone_write_commits(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    try:
        assert await db.write(_insert(7), quick=True) == 7
        assert await db.read(lambda conn: conn.execute(text("SELECT v FROM t WHERE k = 7")).scalar()) == "x"
    finally:
        await db.close()


_T = table("t", column("k"), column("v"))
_ROWS = insert(_T)  # built once: execute_rows runs it on the driver itself, outside SQLAlchemy's execution


def _driver_insert(k: int) -> Callable[[Connection], int]:
    def write(conn: Connection) -> int:
        execute_rows(conn, _ROWS, {"k": k, "v": "y"})
        return k
    return write


async def test_driver_writes_commit_and_fail_alone(tmp_path: Path) -> None:
    """Writes that only call `execute_rows` run in the driver's own transaction (no SQLAlchemy one):
    committed together, a failing one refused alone, and the connection's next groups, either way, go on."""
    db = await _db(tmp_path)
    try:
        assert await asyncio.gather(*(db.write(_driver_insert(k), quick=True) for k in (1, 2))) == [1, 2]
        results = await asyncio.gather(db.write(_driver_insert(3), quick=True), db.write(_driver_insert(1), quick=True),
                                       db.write(_insert(4), quick=True), return_exceptions=True)
        assert results[0] == 3 and results[2] == 4
        assert isinstance(results[1], Exception) and "UNIQUE" in str(results[1])
        assert await db.write(_driver_insert(5), quick=True) == 5
        assert await db.write(_insert(6), quick=True) == 6
        keys = await db.read(lambda conn: [r[0] for r in conn.execute(text("SELECT k FROM t ORDER BY k"))])
        assert keys == [1, 2, 3, 4, 5, 6]
    finally:
        await db.close()
