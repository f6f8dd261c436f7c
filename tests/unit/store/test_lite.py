"""SQLite's lite transactions (store/sqlite_threads.py `Lite`, store/statement.py `Sql`): the driver's own
connection, committed or rolled back whole, grouped with SQLAlchemy's writes of the same turn, and waiting
for another process's lock in the writer thread (tests/unit/store/test_quick_write_lock.py), as the
SQLAlchemy path does."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from respond.store.database import Database, execute_rows, fetch_rows, fetch_value, normalize_url, run
from respond.store.sqlite_threads import Lite, sqlite_path
from respond.store.statement import Sql

CREATE = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"
INSERT = Sql("INSERT INTO t (id, v) VALUES (:id, :v)")
UPPER = Sql("INSERT INTO t (id, v) VALUES (:id, :v)", bind={"v": str.upper})
ALL = Sql("SELECT id, v FROM t ORDER BY id")
ONE = Sql("SELECT v FROM t WHERE id = :id")
RENAME = Sql("UPDATE t SET v = :v WHERE id >= :id")


async def _db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    await db.write(lambda conn: conn.exec_driver_sql(CREATE))
    return db


def test_a_lite_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    async def main() -> tuple[list[Any], Any, int]:
        db = await _db(tmp_path / "a.db")

        def fails(conn: Any) -> None:
            execute_rows(conn, INSERT, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
            raise RuntimeError("after the rows")

        with pytest.raises(RuntimeError):
            await db.write(fails, lite=True)
        with pytest.raises(RuntimeError):
            await db.write(fails, quick=True, lite=True)
        await db.write(lambda conn: execute_rows(conn, UPPER, [{"id": 1, "v": "a", "extra": 0}, {"id": 2, "v": "b"}]),
                       quick=True, lite=True)
        changed = await db.write(lambda conn: run(conn, RENAME, {"v": "z", "id": 2}), lite=True)
        rows = list(await db.fetch(ALL))
        one = await db.scalar(ONE, {"id": 1})
        await db.close()
        return rows, one, changed

    rows, one, changed = asyncio.run(main())
    assert rows == [(1, "A"), (2, "z")]  # nothing of the failed ones; `bind` converted; an extra key ignored
    assert one == "A"
    assert changed == 1


def test_lite_and_sqlalchemy_writes_of_one_turn_commit_together(tmp_path: Path) -> None:
    """A group commit holds both kinds; they see each other's rows, and SQLAlchemy's rows read back alike."""

    async def main() -> tuple[list[Any], list[Any], Any]:
        db = await _db(tmp_path / "g.db")
        seen: list[Any] = []

        def lite(conn: Any) -> None:
            assert type(conn) is Lite
            execute_rows(conn, INSERT, {"id": 1, "v": "lite"})

        def sa(conn: Any) -> None:
            conn.execute(text("INSERT INTO t (id, v) VALUES (2, 'sa')"))
            seen.append(fetch_value(conn, ONE, {"id": 1}))  # the lite row, in the same transaction

        await asyncio.gather(db.write(lite, quick=True, lite=True), db.write(sa, quick=True),
                             db.write(lambda c: execute_rows(c, INSERT, {"id": 3, "v": "x"}), quick=True, lite=True))
        rows = await db.read(lambda conn: fetch_rows(conn, ALL), lite=True)
        via_sa = await db.read(lambda conn: [tuple(r) for r in fetch_rows(conn, ALL)])
        await db.close()
        return rows, via_sa, seen[0]

    rows, via_sa, seen = asyncio.run(main())
    assert rows == [(1, "lite"), (2, "sa"), (3, "x")]
    assert via_sa == rows
    assert seen == "lite"


def test_a_group_that_fails_runs_again_one_write_at_a_time(tmp_path: Path) -> None:
    async def main() -> tuple[list[Any], bool]:
        db = await _db(tmp_path / "f.db")
        dup = db.write(lambda c: execute_rows(c, INSERT, {"id": 1, "v": "dup"}), quick=True, lite=True)
        ok = db.write(lambda c: execute_rows(c, INSERT, {"id": 1, "v": "first"}), quick=True, lite=True)
        results = await asyncio.gather(ok, dup, return_exceptions=True)
        rows = list(await db.fetch(ALL))
        await db.close()
        return rows, isinstance(results[1], sqlite3.IntegrityError)

    rows, failed = asyncio.run(main())
    assert rows == [(1, "first")]  # the one that could be stored is; the other hears its own error
    assert failed


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///rel/x.db", "sqlite:////abs/x.db", "sqlite+pysqlite:///y.db",
                                 "sqlite+aiosqlite:////abs/z.db"])
def test_a_sqlite_url_reads_as_sqlalchemy_reads_it(url: str) -> None:
    """The path, and the normalised URL (a journal's database tag hashes it), with no SQLAlchemy."""
    u = make_url(url)
    assert sqlite_path(url) == (u.database or ":memory:")
    assert normalize_url(url) == u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)


def test_not_a_plain_sqlite_url() -> None:
    assert sqlite_path("postgresql://u@h/db") is None
    assert sqlite_path("sqlite:///x.db?mode=ro") is None  # (a query string: SQLAlchemy's parsing)


def test_a_sqlite_url_with_query_parameters_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no query parameters"):
        Database("sqlite:///x.db?mode=ro")
