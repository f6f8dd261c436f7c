"""A SQLite database made in one script, and one at head opened with sqlite3 alone (no SQLAlchemy).

`sqlite_head.sql`, beside this module, is the head schema (like Rails' schema.rb): what the steps of
store/migrations.py's `ordered()` execute on a fresh SQLite database, in order, each followed by its
`schema_migrations` row.  It is generated, never edited by hand; after appending a step to `ordered()`:

    python -m respond.store.sqlite_head --write

(`--check` says whether the file is current; tests/unit/store/test_sqlite_head.py fails, naming the
command, while it is not).

The script is recorded from the steps themselves (each statement a step has its connection execute,
reads left out), not dumped from `sqlite_master`: a dump would have to know SQLite's own objects (the
FTS5 shadow tables of `chunks_fts`, which its `CREATE VIRTUAL TABLE` makes and which must not be made by
hand; the `sqlite_autoindex_*` of the primary keys) and would lose the rows a step inserts and their
order, while the same statements in the same order give the same database by construction.  The few
statements of history this keeps (an FTS table made, dropped and made again; indexes a later step drops)
cost about 1.5 ms of the script's 5 (85 statements), once per new database.  What a step does outside
its statements (SQLAlchemy's reflection in `run_sync`) is not recorded: the test that compares a database
made by the script with one made by `migrate()` catches a step that would write there.

At start (`to_head`, from migrations.py's `upgrade()`: `SqlStore.open`, and the supervisor of
`serve --processes` before it forks the servers), under SQLite's write lock (BEGIN IMMEDIATE: several
processes may start on one file at once, and the second must see what the first made):
- an empty database: the script runs, in that one transaction;
- every name the script covers is in `schema_migrations`: nothing to do;
- otherwise (an older database, a newer release's, one made by other means): `migrate()` runs, as it
  did before there was a head (it imports SQLAlchemy and every step's module: rare, and fine then).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from respond.store.sqlite_threads import Lite

if TYPE_CHECKING:
    from respond.store.database import Database, MigrationConnection

HEAD = Path(__file__).with_name("sqlite_head.sql")
COMMAND = "python -m respond.store.sqlite_head --write"
_APPLIED = ("INSERT INTO schema_migrations (name, applied_at) VALUES ('{}', "
            "CAST(strftime('%s', 'now') AS INTEGER))")
_APPLIED_NAME = re.compile(r"INSERT INTO schema_migrations \(name, applied_at\) VALUES \('([^']+)'")
_READS = ("SELECT", "PRAGMA")
_HAS_MIGRATIONS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"


def statements(script: str) -> list[str]:
    """The statements of a script, in order, without their `;` (the `--` comment lines between them left out)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip().removesuffix(";"))
            pending = ""
    if pending.strip():
        raise ValueError(f"an unfinished statement at the end of the script: {pending[:80]!r}")
    return found


def covered(script: list[str]) -> list[str]:
    """The migration names a script records as applied, in order."""
    return [m.group(1) for m in map(_APPLIED_NAME.match, script) if m is not None]


def at_head(driver: sqlite3.Connection, script: list[str] | None = None) -> bool:
    """Bring a SQLite database to head if it is empty (see the module docstring); True when it is at head
    now, False when `migrate()` must run.  Runs in the caller's transaction, which it begins IMMEDIATE
    if none is open yet, and which the caller commits (or rolls back if this raises)."""
    if not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")  # the write lock before looking: a second process waits here
    script = statements(HEAD.read_text()) if script is None else script
    if driver.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,):
        for statement in script:
            driver.execute(statement)
        return True
    if driver.execute(_HAS_MIGRATIONS).fetchone() is None:  # made by other means: migrate() says what it says
        return False
    applied = {name for (name,) in driver.execute("SELECT name FROM schema_migrations")}
    return applied == set(covered(script))


async def to_head(db: Database) -> bool:
    """`at_head` in a lite write transaction of a SQLite database (its writer's sqlite3 connection)."""
    def run(conn: Any) -> bool:
        assert isinstance(conn, Lite), "the head schema is SQLite's"
        return at_head(conn.driver)
    return await db.write(run, lite=True)


class _Recorder:
    """A migration step's connection that passes every call on and keeps the statements that write."""

    def __init__(self, conn: MigrationConnection, kept: list[str]) -> None:
        self._conn = conn
        self._kept = kept

    @property
    def dialect(self) -> Any:
        return self._conn.dialect

    def _keep(self, statement: str, parameters: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in _READS:
            return
        if parameters:
            raise ValueError(f"a step wrote with parameters on a fresh database: {statement[:80]!r}")
        self._kept.append(statement.strip().removesuffix(";"))

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        self._keep(statement, parameters)
        return await self._conn.exec_driver_sql(statement, parameters)

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        from sqlalchemy import TextClause

        if not isinstance(statement, TextClause):
            raise TypeError(f"a step's statement not written as text() cannot be recorded: {statement}")
        self._keep(statement.text, parameters)
        return await self._conn.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return await self._conn.scalar(statement, parameters)  # a read

    async def run_sync(self, fn: Any) -> Any:
        return await self._conn.run_sync(fn)  # SQLAlchemy's reflection (see the module docstring)


async def generate() -> str:
    """The head script: the steps of `ordered()` run by `migrate()` on a new SQLite file, recorded."""
    from respond.store.database import Database
    from respond.store.migrations import MIGRATIONS_TABLE, Migration, migrate, ordered

    recorded: list[tuple[str, list[str]]] = []

    def recording(name: str, step: Migration) -> Migration:
        async def run(conn: MigrationConnection) -> None:
            recorded.append((name, []))
            await step(_Recorder(conn, recorded[-1][1]))
        return run

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'head.db'}")
        try:
            await migrate(db, [(name, recording(name, step)) for name, step in ordered()])
        finally:
            await db.close()
    parts = ["-- The head schema of a SQLite database: what the steps of store/migrations.py's `ordered()`\n"
             "-- execute on a fresh one, in order, each followed by its `schema_migrations` row.\n"
             f"-- Generated, never edited by hand: {COMMAND} (store/sqlite_head.py).\n\n",
             f"{MIGRATIONS_TABLE.strip()};\n"]
    for name, kept in recorded:
        parts.append(f"\n-- {name}\n")
        parts.extend(f"{statement};\n" for statement in [*kept, _APPLIED.format(name)])
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m respond.store.sqlite_head", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help=f"regenerate {HEAD.name}")
    what.add_argument("--check", action="store_true", help=f"exit 1 if {HEAD.name} is not current")
    args = parser.parse_args(argv)
    script = asyncio.run(generate())
    if args.write:
        HEAD.write_text(script)
        return 0
    if HEAD.read_text() != script:
        sys.stderr.write(f"{HEAD} is not current: run {COMMAND}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
