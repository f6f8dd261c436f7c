"""Containers and their files (code_interpreter's workspaces), on the same engine as everything else.

A container row holds what is filtered or compared (owner, name, created_at, last_active_at,
the idle minutes after which it expires) plus a JSON body for the rest; a container file row
holds its bytes (BLOB / bytea), as `files` does: one durable place every replica reads, owner
scoped.  A file's `path` is unique in its container: code that rewrites `/mnt/data/out.csv`
replaces the row's content and keeps its id.

Migration `0020_containers` is frozen DDL written here (never built from the Table objects
below, which only serve queries).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from respond.core.containers import Row
from respond.store.database import Database, MigrationConnection
from respond.store.paging import page
from respond.store.safetext import SafeText

metadata = MetaData()

containers = Table(
    "containers", metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", SafeText, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_active_at", BigInteger, nullable=False),
    Column("expires_minutes", Integer, nullable=False),
    Column("body", Text, nullable=False),  # expires_after, memory_limit
)

container_files = Table(
    "container_files", metadata,
    Column("id", String(64), primary_key=True),
    Column("container_id", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

_BLOB = {"sqlite": "BLOB", "postgresql": "BYTEA"}


async def containers_0020(conn: MigrationConnection) -> None:
    blob = _BLOB[conn.dialect.name]
    for statement in (
        """CREATE TABLE containers (
            id VARCHAR(64) NOT NULL,
            owner VARCHAR(64) NOT NULL,
            name TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_active_at BIGINT NOT NULL,
            expires_minutes INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (id))""",
        "CREATE INDEX ix_containers_owner_created ON containers (owner, created_at)",
        "CREATE INDEX ix_containers_last_active ON containers (last_active_at)",
        f"""CREATE TABLE container_files (
            id VARCHAR(64) NOT NULL,
            container_id VARCHAR(64) NOT NULL,
            owner VARCHAR(64) NOT NULL,
            created_at BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            path TEXT NOT NULL,
            source VARCHAR(16) NOT NULL,
            content {blob} NOT NULL,
            PRIMARY KEY (id))""",
        "CREATE INDEX ix_container_files_container_created ON container_files (container_id, created_at)",
        "CREATE UNIQUE INDEX ux_container_files_path ON container_files (container_id, path)",
    ):
        await conn.exec_driver_sql(statement)



_META = [c for c in container_files.c if c.name != "content"]


def _container(row: Any) -> Row:
    return {"id": row.id, "name": row.name, "created_at": row.created_at, "last_active_at": row.last_active_at,
            "expires_minutes": row.expires_minutes, **orjson.loads(row.body)}


class ContainerStore:
    """The `ContainerStore` port (core/containers.py): every operation one `Database.read` or `.write`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- containers --------------------------------------------------------------------------------
    async def add(self, c: Row, owner: str) -> None:
        body = orjson.dumps({k: c.get(k) for k in ("memory_limit",)}).decode()
        stmt = insert(containers).values(
            id=c["id"], owner=owner, name=c["name"], created_at=c["created_at"],
            last_active_at=c["last_active_at"], expires_minutes=c["expires_minutes"], body=body)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def get(self, container_id: str, owner: str) -> Row | None:
        q = select(containers).where(containers.c.id == container_id, containers.c.owner == owner)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return _container(row) if row is not None else None

    async def get_by_id(self, container_id: str) -> Row | None:
        """Any owner's container (the sweeper's view)."""
        q = select(containers).where(containers.c.id == container_id)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return _container(row) if row is not None else None

    async def list_containers(self, owner: str, *, name: str | None, after: str | None, limit: int,
                              order: str) -> tuple[list[Row], bool]:
        where = [containers.c.owner == owner] + ([containers.c.name == name] if name is not None else [])
        rows, more = await self.db.read(
            lambda conn: page(conn, containers, where, containers.c.id, after, None, limit, order))
        return [_container(r) for r in rows], more

    async def delete(self, container_id: str, owner: str) -> bool:
        def write(conn: Connection) -> bool:
            gone = conn.execute(delete(containers).where(containers.c.id == container_id,
                                                         containers.c.owner == owner))
            if not gone.rowcount:
                return False
            conn.execute(delete(container_files).where(container_files.c.container_id == container_id))
            return True

        return await self.db.write(write)

    async def touch(self, container_id: str, now: int) -> None:
        stmt = update(containers).where(containers.c.id == container_id).values(last_active_at=now)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def expired(self, now: int) -> list[str]:
        """Ids of containers idle past their expiry that still hold files."""
        idle = containers.c.last_active_at + containers.c.expires_minutes * 60 < now
        q = select(containers.c.id).where(idle, select(container_files.c.id).where(
            container_files.c.container_id == containers.c.id).exists())
        return await self.db.read(lambda conn: [r.id for r in conn.execute(q)])

    async def purge_files(self, container_id: str) -> None:
        """An expired container's data is discarded (its row stays, status `expired`)."""
        stmt = delete(container_files).where(container_files.c.container_id == container_id)
        await self.db.write(lambda conn: conn.execute(stmt))

    # -- files -------------------------------------------------------------------------------------
    async def put_file(self, f: Row, owner: str, content: bytes) -> Row:
        """Add a file, or replace the content of the file at the same path (keeping its id)."""
        def write(conn: Connection) -> Row:
            old = conn.execute(select(*_META).where(container_files.c.container_id == f["container_id"],
                                                    container_files.c.path == f["path"])).first()
            if old is not None:
                conn.execute(update(container_files).where(container_files.c.id == old.id).values(
                    bytes=len(content), content=content, source=f["source"]))
                return {**dict(old._mapping), "bytes": len(content), "source": f["source"]}
            conn.execute(insert(container_files).values(
                id=f["id"], container_id=f["container_id"], owner=owner, created_at=f["created_at"],
                bytes=len(content), path=f["path"], source=f["source"], content=content))
            return {**f, "bytes": len(content)}

        return await self.db.write(write)

    def _file(self, container_id: str, file_id: str, owner: str) -> list[Any]:
        return [container_files.c.id == file_id, container_files.c.container_id == container_id,
                container_files.c.owner == owner]

    async def get_file(self, container_id: str, file_id: str, owner: str) -> Row | None:
        q = select(*_META).where(*self._file(container_id, file_id, owner))
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return dict(row._mapping) if row is not None else None

    async def file_content(self, container_id: str, file_id: str, owner: str) -> bytes | None:
        q = select(container_files.c.content).where(*self._file(container_id, file_id, owner))
        data: bytes | None = await self.db.read(lambda conn: conn.scalar(q))
        return data

    async def list_files(self, container_id: str, owner: str, *, after: str | None, limit: int,
                         order: str) -> tuple[list[Row], bool]:
        where = [container_files.c.container_id == container_id, container_files.c.owner == owner]
        rows, more = await self.db.read(
            lambda conn: page(conn, container_files, where, container_files.c.id, after, None, limit, order))
        return [{k: v for k, v in r._mapping.items() if k != "content"} for r in rows], more

    async def delete_file(self, container_id: str, file_id: str, owner: str) -> bool:
        stmt = delete(container_files).where(*self._file(container_id, file_id, owner))
        return await self.db.write(lambda conn: bool(conn.execute(stmt).rowcount))
