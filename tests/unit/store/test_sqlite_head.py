"""SQLite's head schema (store/sqlite_head.py): current with the steps, the same database as `migrate()`
makes, made once when several processes start together, left to `migrate()` when a database is not at
head, and opened without SQLAlchemy."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from respond.store.database import Database
from respond.store.migrations import migrate, ordered
from respond.store.sql import SqlStore
from respond.store.sqlite_head import COMMAND, HEAD, at_head, covered, generate, statements

SCRIPT = statements(HEAD.read_text())


def _migrated(path: Path, steps: int | None = None) -> None:
    async def run() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            await migrate(db, None if steps is None else ordered()[:steps])
        finally:
            await db.close()
    asyncio.run(run())


def _at_head(path: Path, script: list[str] = SCRIPT) -> bool:
    """`at_head` in a transaction of its own, committed (rolled back if it raises), as `to_head` runs it."""
    driver = sqlite3.connect(path, timeout=10)
    try:
        done = at_head(driver, script)
        driver.commit()
        return done
    except BaseException:
        driver.rollback()
        raise
    finally:
        driver.close()


def _contents(path: Path) -> dict[str, Any]:
    """Everything in a database: its schema and every table's rows (`schema_migrations` without `applied_at`)."""
    conn = sqlite3.connect(path)
    try:
        master = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"), key=repr)
        tables = [name for kind, name, _table, _sql in master if kind == "table"]
        rows = {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in tables
                if name != "schema_migrations"}
        rows["schema_migrations"] = sorted(conn.execute("SELECT name FROM schema_migrations"))
        return {"sqlite_master": master, "rows": rows}
    finally:
        conn.close()


def _applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return sorted(name for (name,) in conn.execute("SELECT name FROM schema_migrations"))
    finally:
        conn.close()


def _tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.close()


def test_the_head_file_is_current() -> None:
    assert HEAD.read_text() == asyncio.run(generate()), f"{HEAD.name} is not current: run {COMMAND}"


def test_the_head_covers_every_step_in_order() -> None:
    assert covered(SCRIPT) == [name for name, _step in ordered()]


def test_a_database_made_by_the_head_is_the_one_migrate_makes(tmp_path: Path) -> None:
    assert _at_head(tmp_path / "head.db")
    _migrated(tmp_path / "migrated.db")
    head, migrated = _contents(tmp_path / "head.db"), _contents(tmp_path / "migrated.db")
    assert head["sqlite_master"] == migrated["sqlite_master"]
    assert head["rows"] == migrated["rows"]
    assert head["rows"]["response_deletions"] == [(1, 0)]
    assert _at_head(tmp_path / "head.db")  # and opened again, it is at head: nothing to do
    assert _contents(tmp_path / "head.db") == head


@pytest.mark.parametrize("steps", [1, 4, 11, len(ordered()) - 1])
def test_an_older_database_is_left_to_migrate_which_brings_it_to_head(tmp_path: Path, steps: int) -> None:
    old = tmp_path / "old.db"
    _migrated(old, steps)
    before = _contents(old)
    assert not _at_head(old)
    assert _contents(old) == before  # untouched
    _migrated(old)
    assert _at_head(old)
    assert _at_head(tmp_path / "head.db")
    assert _contents(old) == _contents(tmp_path / "head.db")


def test_a_store_opens_an_older_database_through_migrate(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _migrated(old, 4)

    async def run() -> None:
        store = SqlStore(f"sqlite:///{old}")
        await store.open()
        await store.close()
    asyncio.run(run())
    assert _applied(old) == sorted(name for name, _step in ordered())


def test_a_newer_releases_database_is_left_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    assert _at_head(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('zz_9999_later', 0)")
    assert not _at_head(path)


def test_a_database_made_by_other_means_is_left_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    assert not _at_head(path)
    assert _tables(path) == ["notes"]


def test_the_script_runs_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    with pytest.raises(sqlite3.OperationalError):
        _at_head(path, [*SCRIPT[:5], "CREATE TABLE responses (id TEXT)"])  # a failure halfway
    assert _tables(path) == []  # nothing of it stays
    assert _at_head(path)


def test_several_processes_starting_together_make_the_database_once(tmp_path: Path) -> None:
    """Each start takes the write lock before looking: the others wait, then find the database at head."""
    path = tmp_path / "together.db"
    start = threading.Barrier(4)
    results: list[bool | BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            results.append(_at_head(path))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
    assert _applied(path) == sorted(covered(SCRIPT))


_OPEN_TWICE = """
import asyncio, sys

async def main(url: str, how: str) -> None:
    for _ in range(2):  # a new database, then the same one at head
        if how == "store":
            from respond.store.sql import SqlStore

            store = SqlStore(url)
            await store.open()
            await store.close()
        else:  # the start-up path alone
            from respond.store.database import Database
            from respond.store.sqlite_head import to_head

            db = Database(url)
            assert await to_head(db)
            await db.close()

asyncio.run(main(*sys.argv[1:]))
assert "sqlalchemy" not in sys.modules, sorted(m for m in sys.modules if m.startswith("sqlalchemy"))[:5]
"""


def _opened_in_a_fresh_interpreter(path: Path, how: str) -> None:
    done = subprocess.run([sys.executable, "-c", _OPEN_TWICE, f"sqlite:///{path}", how], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _applied(path) == sorted(name for name, _step in ordered())


def test_the_start_up_path_imports_no_sqlalchemy(tmp_path: Path) -> None:
    _opened_in_a_fresh_interpreter(tmp_path / "fresh.db", "start")


def test_a_store_on_a_database_at_head_opens_without_sqlalchemy(tmp_path: Path) -> None:
    _opened_in_a_fresh_interpreter(tmp_path / "fresh.db", "store")
