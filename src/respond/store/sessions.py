"""The dashboard's sessions (the `core.sessions.SessionStore` port) on the store's database, so every
replica sees a sign-in and a sign-out at once.  Migration `0019_dashboard_sessions` is frozen DDL."""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Boolean, Column, Index, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Connection

from respond.store.database import Database, MigrationConnection
from respond.store.migrations import ddl

metadata = MetaData()

sessions = Table(
    "dashboard_sessions", metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's random id, never the id itself
    Column("owner", String(64), nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_dashboard_sessions_expires", "expires_at"),
)


async def sessions_0019(conn: MigrationConnection) -> None:
    await ddl(conn, """CREATE TABLE dashboard_sessions (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        admin BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (id))""",
        "CREATE INDEX ix_dashboard_sessions_expires ON dashboard_sessions (expires_at)")




class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_session(self, digest: str, owner: str, admin: bool, expires_at: int) -> None:
        now = int(time.time())

        def write(conn: Connection) -> None:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))  # the expired go as new ones come
            conn.execute(insert(sessions).values(id=digest, owner=owner, admin=admin, created_at=now,
                                                 expires_at=expires_at))

        await self.db.write(write)

    async def get_session(self, digest: str, now: int) -> tuple[str, bool] | None:
        q = select(sessions.c.owner, sessions.c.admin).where(sessions.c.id == digest, sessions.c.expires_at > now)
        row = await self.db.read(lambda conn: conn.execute(q).first())
        return (row.owner, bool(row.admin)) if row is not None else None

    async def delete_session(self, digest: str) -> None:
        stmt = delete(sessions).where(sessions.c.id == digest)
        await self.db.write(lambda conn: conn.execute(stmt))
