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

import orjson
from sqlalchemy import Connection, insert, select

from respond.store import schema
from respond.store.availability import data_error, unavailable
from respond.store.database import Database, MigrationConnection
from respond.store.journal import Entry, Journal, Write
from respond.store.migrations import ddl

log = logging.getLogger("respond.journal")


async def journal_0001_applied(conn: MigrationConnection) -> None:
    await ddl(conn, """CREATE TABLE journal_applied (
        id VARCHAR(64) NOT NULL,
        applied_at BIGINT NOT NULL,
        PRIMARY KEY (id))""")




class JournalMixin:
    db: Database
    dialect: str
    journal: Journal | None = None
    _replayer: asyncio.Task[None] | None = None

    def _finish_rows(self, conn: Connection, entry: Write) -> None: ...  # sql.py: the write of a `finish`
    def _insert_rows(self, conn: Connection, entry: Write) -> None: ...  # sql.py: the write of an `insert`

    async def final(self, op: str, entry: Write) -> None:
        """Run the write `op` of `entry` (`insert` or `finish`), or journal it if the database is away."""
        write = self._insert_rows if op == "insert" else self._finish_rows
        try:
            await self.db.write(lambda conn: write(conn, entry), quick=True)
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

        def write(conn: Connection) -> str:
            table = schema.journal_applied
            if conn.execute(select(table.c.id).where(table.c.id == entry["id"])).first() is not None:
                return "already applied"
            conn.execute(insert(table).values(id=entry["id"], applied_at=int(time.time())))
            row = conn.execute(select(schema.responses.c.owner, schema.responses.c.body)
                               .where(schema.responses.c.id == rid)).first()
            if row is not None and row[0] != owner:
                return "refused: the response belongs to another owner"
            if row is not None and (entry["op"] == "insert" or row[1] == body):
                return "already stored"
            (self._insert_rows if entry["op"] == "insert" else self._finish_rows)(conn, entry)
            return "applied"

        try:
            outcome = await self.db.write(write)
        except Exception as exc:
            if not data_error(exc):
                raise  # the database is away (or this entry raced another replayer): later
            log.error("journaled %s of %s refused by the database (%s): dropped", entry.get("op"), rid, exc)
            return
        (log.warning if outcome.startswith("refused") else log.info)("journal entry %s (%s of %s): %s",
                                                                      entry.get("id"), entry.get("op"), rid, outcome)
