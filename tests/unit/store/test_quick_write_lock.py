"""A quick SQLite write (on the event loop) that meets another process's write lock falls back to the
writer thread, which waits for the lock, whether the driver's error comes wrapped by SQLAlchemy or raw
from `execute_rows` (the hot writes' straight-to-driver paths: a compiled statement's, a lite `Sql`'s)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from respond.store.database import Database, execute_rows
from respond.store.sqlite_threads import QUICK_BUSY_MS, QUICK_CACHE_KIB
from respond.store.statement import Sql

meta = MetaData()
T = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", String))
INSERT = insert(T)
LITE_INSERT = Sql("INSERT INTO t (id, v) VALUES (:id, :v)")


def _hold_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another writer (as another process would be): a write transaction held for `seconds`."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (id, v) VALUES (100, 'other')")
    held.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


@pytest.mark.parametrize("how", ["execute_rows", "sqlalchemy", "lite"])
def test_a_quick_write_waits_for_another_writers_lock(tmp_path: Path, how: str) -> None:
    path = tmp_path / "lock.db"

    async def main() -> list[tuple[int, str]]:
        db = Database(f"sqlite:///{path}")
        await db.write(lambda conn: meta.create_all(conn))
        held = threading.Event()
        holder = threading.Thread(target=_hold_lock, args=(path, 20 * QUICK_BUSY_MS / 1000, held))
        holder.start()
        await asyncio.to_thread(held.wait)
        row = {"id": 1, "v": "mine"}
        if how == "execute_rows":
            await db.write(lambda conn: execute_rows(conn, INSERT, row), quick=True)
        elif how == "lite":  # the driver's own error, from a `Lite` (store/statement.py)
            await db.write(lambda conn: execute_rows(conn, LITE_INSERT, row), quick=True, lite=True)
        else:
            await db.write(lambda conn: conn.execute(INSERT, row), quick=True)
        await asyncio.to_thread(holder.join)
        rows: list[tuple[int, str]] = await db.read(lambda conn: [(r[0], r[1]) for r in conn.execute(select(T).order_by(T.c.id))])
        await db.close()
        return rows

    assert asyncio.run(main()) == [(1, "mine"), (100, "other")]


def test_the_quick_writes_page_cache_is_capped(tmp_path: Path) -> None:
    """The quick connection keeps QUICK_CACHE_KIB of pages, the other connections SQLite's default."""

    async def main() -> tuple[object, object]:
        db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
        quick = await db.write(lambda conn: conn.exec_driver_sql("PRAGMA cache_size").scalar(), quick=True)
        other = await db.write(lambda conn: conn.exec_driver_sql("PRAGMA cache_size").scalar())
        await db.close()
        return quick, other

    assert asyncio.run(main()) == (-QUICK_CACHE_KIB, -2000)
