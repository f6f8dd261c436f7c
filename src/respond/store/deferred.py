"""The SQL store's cold adapters (files, vector stores' chunks, containers, dashboard sessions), made on
first use: their modules build SQLAlchemy tables and statements (SQLAlchemy is 13 MB resident:
bench/memory.py --breakdown), and a server that serves responses only never asks for them (issue 20's
memory target).

`SqlStore` hands out a stand-in for each (`files(db)`, ...), typed as the adapter itself: bootstrap gives
them to the file_search, code_interpreter and dashboard services, which keep them.  The first attribute
asked of a stand-in imports the adapter's module, makes the adapter and hands that on from then on.

What a server at rest asks of them is answered here without loading them, in `Sql` statements
(store/statement.py): the attachments left `in_progress` by a stopped ingest (file_search's start-up:
asked whether there is any first, the adapter loaded only if there is), the files past their expiry
(file_search's sweep, every 30 s) and the idle containers that still hold files (code_interpreter's sweep).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, cast

from respond.store.database import Database
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.core.ports import Row
    from respond.store.containers import ContainerStore
    from respond.store.files import FileStore
    from respond.store.sessions import SessionStore
    from respond.store.vectors import ChunkIndex

_IN_PROGRESS = Sql("SELECT 1 FROM vector_store_files WHERE status = 'in_progress' LIMIT 1")
_EXPIRED_FILES = Sql("SELECT id, owner FROM files WHERE expires_at IS NOT NULL AND expires_at <= :now")
_EXPIRED_CONTAINERS = Sql("""SELECT containers.id FROM containers
    WHERE containers.last_active_at + containers.expires_minutes * 60 < :now
    AND EXISTS (SELECT container_files.id FROM container_files WHERE container_files.container_id = containers.id)""")


class OnFirstUse:
    """Stands for the adapter `module.name(db)`, made by the first attribute asked of it."""

    def __init__(self, db: Database, module: str, name: str) -> None:
        self.db = db
        self._made = (module, name)
        self._adapter: Any = None

    def _load(self) -> Any:
        if self._adapter is None:
            module, name = self._made
            self._adapter = getattr(importlib.import_module(module), name)(self.db)
        return self._adapter

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_made", "_adapter"):  # (a copy, a pickle: not the adapter's)
            raise AttributeError(attr)
        return getattr(self._load(), attr)


class _Files(OnFirstUse):
    async def in_progress(self) -> list[Row]:
        if await self.db.scalar(_IN_PROGRESS) is None:  # (nearly always: only a stop mid-ingest leaves some)
            return []
        rows: list[Row] = await self._load().in_progress()
        return rows

    async def expired_files(self, now: int) -> list[tuple[str, str]]:
        return [(file_id, owner) for file_id, owner in await self.db.fetch(_EXPIRED_FILES, {"now": now})]


class _Containers(OnFirstUse):
    async def expired(self, now: int) -> list[str]:
        """Ids of containers idle past their expiry that still hold files."""
        return [row[0] for row in await self.db.fetch(_EXPIRED_CONTAINERS, {"now": now})]


def files(db: Database) -> FileStore:
    """store/files.py's `FileStore`, made on first use (its sweeps and start-up answered before: see above)."""
    return cast("FileStore", _Files(db, "respond.store.files", "FileStore"))


def vectors(db: Database) -> ChunkIndex:
    return cast("ChunkIndex", OnFirstUse(db, "respond.store.vectors", "ChunkIndex"))


def containers(db: Database) -> ContainerStore:
    """store/containers.py's `ContainerStore`, made on first use (its sweep answered before: see above)."""
    return cast("ContainerStore", _Containers(db, "respond.store.containers", "ContainerStore"))


def sessions(db: Database) -> SessionStore:
    return cast("SessionStore", OnFirstUse(db, "respond.store.sessions", "SessionStore"))
