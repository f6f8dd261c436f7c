"""SQLite's WAL checkpoints on a thread of their own, off the commit path.

SQLite's default checkpoints the WAL inside the commit that takes it past 1000 pages, with two
fsyncs (synchronous=NORMAL), in the connection that commits.  Respond's quick writes commit on the
event loop's own thread (store/sqlite_threads.py), so every ~50 responses the whole loop stalled for
the checkpoint: the ~15-20 ms p99 steps under load (BENCHMARKS.md, issue 20).  Here the writing
connections checkpoint only past `FALLBACK_PAGES` (the bound of the WAL when this thread cannot keep
up), and this thread runs a PASSIVE checkpoint, which neither waits for nor blocks the writers, after
every `EVERY_WRITES` writes.  A PASSIVE checkpoint cannot restart a WAL that is written to while it
runs; the fallback's checkpoint, run when the WAL reaches its bound, restarts it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("respond.store")

FALLBACK_PAGES = 16384  # 64 MB of 4 KB pages
EVERY_WRITES = 64  # about 1000 pages of Respond's writes, SQLite's own default interval


class Checkpointer:
    """Counts writes (on the event loop's thread) and checkpoints, at most one at a time, on its thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = 0
        self.frames = 0  # frames copied into the database file so far (for tests and curiosity)
        self.runs = 0
        self.thread_names: set[str] = set()
        self._running = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")

    def wrote(self, n: int = 1) -> None:
        self.writes += n
        if self.writes >= EVERY_WRITES and not self._running.is_set():
            self.writes = 0
            self._running.set()
            try:
                self._pool.submit(self._checkpoint)
            except RuntimeError:  # shut down: the last connection's close checkpoints
                self._running.clear()

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout=0")
            busy, _log, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if not busy:
                self.frames = max(self.frames, copied)
            self.runs += 1
            self.thread_names.add(threading.current_thread().name)
        except sqlite3.Error as exc:  # another process checkpoints, the file is gone: the next one tries again
            log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            self._running.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
