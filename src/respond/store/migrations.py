"""Ordered, named migrations, recorded in `schema_migrations`.

Each migration runs once, in order, inside a transaction, on SQLite and PostgreSQL alike.
Add new ones at the end; never edit one that has shipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from respond.store import schema
from respond.store.database import Database

log = logging.getLogger("respond.store")

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _initial(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: schema.metadata.create_all(
        sync, tables=[schema.responses, schema.items]))


async def _runs(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=[schema.events, schema.jobs]))


async def _conversations(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: schema.metadata.create_all(
        sync, tables=[schema.conversations, schema.conversation_items]))


MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_responses_and_items", _initial),
    ("0002_events_and_jobs", _runs),
    ("0003_conversations", _conversations),
]


def register(name: str, migration: Migration) -> None:
    """Append a migration (adapters with tables of their own register theirs at import)."""
    if name not in {n for n, _ in MIGRATIONS}:
        MIGRATIONS.append((name, migration))


async def migrate(engine: Database) -> list[str]:
    """Apply what has not been applied; returns the names applied now."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: schema.migrations.create(sync, checkfirst=True))
    applied: list[str] = []
    for name, step in MIGRATIONS:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # One process migrates at a time when several start together.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            done = await conn.scalar(select(schema.migrations.c.name).where(schema.migrations.c.name == name))
            if done:
                continue
            await step(conn)
            await conn.execute(schema.migrations.insert().values(name=name, applied_at=int(time.time())))
            applied.append(name)
            log.info("applied migration %s", name)
    return applied


def _register_own() -> None:
    from respond.store.listing_migration import listing_indexes

    register("0010_listing_indexes", listing_indexes)


_register_own()
