"""The SQL store's side of the journal (store/journal.py): final writes that fall back to it, and
the idempotent replay of its entries.

`final(op, write, **fields)` runs a final write; if the database is unreachable (and only then:
a data error is raised at once, never journaled) the write's rows go to the journal.  `apply`
replays one entry in one transaction that first records the entry's id in `journal_applied`: an
entry already recorded (replayed before, or by another process racing on the same file) is
skipped, and the write itself tolerates a first attempt that did commit although its caller saw
the connection drop (the response row already holds exactly the journaled body).  An entry whose
response exists under another owner is refused: a journal never writes into another key's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import orjson

from respond.store.availability import data_error, unavailable
from respond.store.database import Database, MigrationConnection, fetch_rows, fetch_value, run
from respond.store.journal import Entry, Journal, Write
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.store.database import Conn

log = logging.getLogger("respond.journal")

_APPLIED = Sql("SELECT id FROM journal_applied WHERE id = :id")
_RECORD = Sql("INSERT INTO journal_applied (id, applied_at) VALUES (:id, :at)")
_STORED = Sql("SELECT owner, body FROM responses WHERE id = :rid")


async def journal_0001_applied(conn: MigrationConnection) -> None:
    from respond.store.migrations import ddl  # (a migration: run by migrations.py, which imports this step)

    await ddl(conn, """CREATE TABLE journal_applied (
        id VARCHAR(64) NOT NULL,
        applied_at BIGINT NOT NULL,
        PRIMARY KEY (id))""")




class JournalMixin:
    db: Database
    dialect: str
    journal: Journal | None = None
    _replayer: asyncio.Task[None] | None = None

    # sql.py's, functions of a lite transaction (store/database.py)
    def _finish_rows(self, conn: Conn, entry: Write) -> None: ...  # the write of a `finish`
    def _insert_rows(self, conn: Conn, entry: Write) -> None: ...  # the write of an `insert`

    async def final(self, op: str, entry: Write) -> None:
        """Run the write `op` of `entry` (`insert` or `finish`), or journal it if the database is away."""
        write = self._insert_rows if op == "insert" else self._finish_rows
        try:
            await self.db.write(lambda conn: write(conn, entry), quick=True, lite=True)
        except Exception as exc:
            if self.journal is None or not unavailable(exc):
                raise
            await self.journal.append(op, entry)

    async def start_journal(self) -> None:
        """At start: replay what dead processes left (the database answers: it was just migrated)."""
        if self.journal is None:
            return
        applied = await self.journal.adopt(self.apply)
        if applied:
            log.info("replayed %d journaled writes at start", applied)
        self._replayer = asyncio.create_task(self.journal.run(self.apply))

    async def stop_journal(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        if self.journal is not None:
            if self.journal.pending:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.journal.replay_own(self.apply), 5)
            if self.journal.pending:
                log.error("stopping with %d journaled writes not yet in the database: they stay in %s and are "
                          "replayed at the next start", len(self.journal.pending), self.journal.path)
            self.journal.close()

    async def apply(self, entry: Entry) -> None:
        """Replay one journal entry (see the module docstring)."""
        response = entry.get("response") or {}
        rid, owner = response.get("id"), entry.get("owner")
        body = orjson.dumps(response).decode()

        def write(conn: Conn) -> str:
            if fetch_value(conn, _APPLIED, {"id": entry["id"]}) is not None:
                return "already applied"
            run(conn, _RECORD, {"id": entry["id"], "at": int(time.time())})
            stored = fetch_rows(conn, _STORED, {"rid": rid})
            row = stored[0] if stored else None
            if row is not None and row[0] != owner:
                return "refused: the response belongs to another owner"
            if row is not None and (entry["op"] == "insert" or row[1] == body):
                return "already stored"
            (self._insert_rows if entry["op"] == "insert" else self._finish_rows)(conn, entry)
            return "applied"

        try:
            outcome = await self.db.write(write, lite=True)
        except Exception as exc:
            if not data_error(exc):
                raise  # the database is away (or this entry raced another replayer): later
            log.error("journaled %s of %s refused by the database (%s): dropped", entry.get("op"), rid, exc)
            return
        (log.warning if outcome.startswith("refused") else log.info)("journal entry %s (%s of %s): %s",
                                                                      entry.get("id"), entry.get("op"), rid, outcome)
