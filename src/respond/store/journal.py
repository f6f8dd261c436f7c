"""The final writes the database could not take, kept on local disk until it takes them.

When the last write of a run (`insert_response` of a drained one, `finish_response` of a streamed
or background one) fails because the database is unreachable (store/availability.py), the rows it
would have written go to this process's journal instead and the client gets its answer at once.
A background task replays the journal into the database when it answers again (retrying with
backoff), and every process replays, at start, the journals left by processes that died.

- One append-only file per process, `journal-<pid>-<random>.jsonl` under the journal directory
  (mode 0700; files 0600), held with an exclusive `flock` for the life of the process: a file
  whose lock can be taken belongs to a dead process, and only the process holding it replays it,
  so two replicas never replay one journal at the same time.
- One JSON line per write, fsync'd before the client is answered: `<hmac> <json>`.  The MAC
  (HMAC-SHA256 under a key derived from the server's secret) is checked before a line is
  replayed, so a line written by anyone else (a forged or edited file) is refused; the entry
  names its database (a hash of the URL): a journal of another database is left alone.
- Replay is idempotent: each entry has an id recorded in `journal_applied` in the transaction
  that applies it (store/replay.py), so replaying a file twice, or two processes racing on it,
  writes nothing twice.  A file is truncated (own) or removed (adopted) once all of it is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NotRequired, TypedDict, cast

import orjson

from respond.core.ports import Row

log = logging.getLogger("respond.journal")



class Write(TypedDict):
    """A final write of a response (store/sql.py), as the journal keeps it while the database is away."""

    response: Row
    owner: str
    input_items: list[Row]
    output_items: list[Row]
    conversation_id: str | None
    events: NotRequired[list[Row]]  # a `finish`: the run's last events


class Entry(Write):
    """One journal line: the write, this journal's version, its id (replayed once) and database."""

    v: int
    id: str
    db: str
    op: str  # insert | finish


Apply = Callable[[Entry], Awaitable[None]]
_CONTEXT = b"respond/journal/v1:"


def database_tag(url: str) -> str:
    """The database a journal belongs to (its URL without the password), as a short hash."""
    from respond.store.database import normalize_url
    from respond.store.sqlite_threads import sqlite_path

    plain = normalize_url(url)
    if sqlite_path(url) is None:  # (a SQLite URL, as normalize_url renders it, has no password: SQLAlchemy not needed)
        from sqlalchemy.engine import make_url

        u = make_url(plain)
        plain = u.set(password=None).render_as_string(hide_password=False) if u.password else str(u)
    return hashlib.sha256(plain.encode()).hexdigest()[:16]


class Journal:
    def __init__(self, directory: Path, secret: bytes, database: str) -> None:
        self.dir = directory
        self._key = hashlib.sha256(_CONTEXT + secret).digest()
        self.db = database_tag(database)
        self.path = directory / f"journal-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._fd: int | None = None
        self.pending: list[Entry] = []
        self._lock = asyncio.Lock()
        self.wake = asyncio.Event()  # set when an entry is added: the replay task gets to work

    # -- writing ---------------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd = fd
        return self._fd

    def mac(self, line: bytes) -> str:
        return hmac.new(self._key, line, hashlib.sha256).hexdigest()

    def _append(self, line: bytes) -> None:
        fd = self._open()
        os.write(fd, line)
        os.fsync(fd)

    async def append(self, op: str, write: Write) -> None:
        """Keep one write (fsync'd before this returns)."""
        entry: Entry = {**write, "v": 1, "id": secrets.token_hex(16), "db": self.db, "op": op}
        body = orjson.dumps(entry)
        line = self.mac(body).encode() + b" " + body + b"\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)
            self.pending.append(orjson.loads(body))  # a copy: the caller's dicts may change after
        log.warning("the database is unreachable: %s of %s kept in the journal %s (%d pending)",
                    op, entry["response"].get("id"), self.path, len(self.pending))
        self.wake.set()

    def pending_ids(self) -> list[str]:
        return [str(e.get("response", {}).get("id")) for e in self.pending]

    # -- replaying -------------------------------------------------------------------------------
    def read(self, raw: bytes) -> tuple[list[Entry], int, int]:
        """The entries of a journal file that this server wrote for this database; how many lines
        were refused (bad MAC, not JSON); how many belong to another database."""
        entries: list[Entry] = []
        refused = foreign = 0
        for line in raw.splitlines():
            mac, _, body = line.partition(b" ")
            if not body:
                continue  # a torn last line (the process died while writing it): never acknowledged
            try:
                entry = orjson.loads(body)
            except orjson.JSONDecodeError:
                refused += 1
                continue
            if not hmac.compare_digest(mac.decode("ascii", "replace"), self.mac(body)) or not isinstance(entry, dict):
                refused += 1
            elif entry.get("db") != self.db:
                foreign += 1
            else:
                entries.append(cast(Entry, entry))  # its MAC proves `append` wrote it: its shape is Entry
        return entries, refused, foreign

    async def replay_own(self, apply: Apply) -> None:
        """Apply this process's pending entries in order; raises (keeping the rest) if the database
        is still away.  Once none is left, the file is emptied."""
        async with self._lock:
            while self.pending:
                await apply(self.pending[0])
                self.pending.pop(0)
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
                os.fsync(self._fd)

    async def adopt(self, apply: Apply) -> int:
        """Replay the journals of dead processes (whose lock can be taken) for this database;
        returns how many entries were applied.  Raises if the database is away (files are kept)."""
        applied = 0
        if not self.dir.is_dir():
            return 0
        for path in sorted(self.dir.glob("journal-*.jsonl")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except OSError:
                continue  # removed meanwhile, or a symlink planted there
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live process's journal
                with os.fdopen(os.dup(fd), "rb") as f:
                    raw = f.read()
                entries, refused, foreign = self.read(raw)
                if foreign:
                    continue  # another database's journal (one process, one database): its own server's
                for entry in entries:
                    await apply(entry)
                    applied += 1
                if refused:
                    log.error("journal %s: %d lines were not written by this server for this database; "
                              "kept aside as %s.rejected", path, refused, path.name)
                    path.rename(path.with_name(path.name + ".rejected"))
                else:
                    path.unlink()
                log.info("replayed the journal %s of a stopped process (%d writes)", path, len(entries))
            finally:
                os.close(fd)
        return applied

    async def run(self, apply: Apply, adopt_every: float = 60.0) -> None:
        """The replay task: own entries as soon as the database answers, others' from time to time."""
        delay = 0.25
        loop = asyncio.get_running_loop()
        next_adopt = loop.time() + adopt_every
        while True:
            if not self.pending:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), max(0.1, next_adopt - loop.time()))
            try:
                if self.pending:
                    await self.replay_own(apply)
                    log.info("journal replayed: the database has every acknowledged write again")
                if loop.time() >= next_adopt:
                    next_adopt = loop.time() + adopt_every
                    await self.adopt(apply)
                delay = 0.25
            except Exception as exc:  # the database is still away: try again a little later
                log.warning("journal replay did not work yet (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def close(self) -> None:
        """Release the file (kept, with its lock released, if anything is still pending)."""
        if self._fd is not None:
            if not self.pending:
                with contextlib.suppress(OSError):
                    self.path.unlink()
            os.close(self._fd)
            self._fd = None
