"""SQLite's WAL checkpoints run on their own thread, not in a commit on the event loop's thread (where
they stalled every request in flight for their fsyncs: the p99 steps of issue 20)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from sqlalchemy import Connection, text

from respond.store.sqlite_checkpoint import EVERY_WRITES, FALLBACK_PAGES
from respond.store.sqlite_threads import SqliteThreads


def test_writes_are_checkpointed_by_the_checkpoint_thread(tmp_path: Path) -> None:
    threads = SqliteThreads(f"sqlite:///{tmp_path / 'wal.db'}")
    assert threads.checkpointer is not None
    committed_on: set[str] = set()

    def insert(conn: Connection) -> None:
        committed_on.add(threading.current_thread().name)
        conn.execute(text("INSERT INTO t (blob) VALUES (:b)"), {"b": "x" * 4000})

    async def main() -> int:
        await threads.write(lambda conn: conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, blob TEXT)")))
        for _ in range(3 * EVERY_WRITES):
            await threads.write(insert, quick=True)
        # a writer connection checkpoints only at the fallback's bound, far above what was written
        conn = threads._quick()
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() or 0)

    try:
        assert asyncio.run(main()) == FALLBACK_PAGES
        deadline = time.monotonic() + 10
        while threads.checkpointer.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threads.checkpointer.runs >= 1  # (a trigger that comes while one runs is folded into it)
        assert threads.checkpointer.frames > 0  # pages copied into the database file
        assert threads.checkpointer.thread_names == {"sqlite-checkpoint_0"}
        assert committed_on == {threading.main_thread().name}  # the quick writes committed on the loop's thread
    finally:
        threads.close()
    assert threads.checkpointer._conn is None


def test_an_in_memory_database_has_no_checkpointer() -> None:
    threads = SqliteThreads("sqlite://")
    try:
        assert threads.checkpointer is None
    finally:
        threads.close()
