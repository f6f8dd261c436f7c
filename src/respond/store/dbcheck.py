"""`respond db check`: which migrations are applied, which are pending (reads only)."""

from __future__ import annotations

from sqlalchemy import inspect, select

from respond.store import schema
from respond.store.database import Database
from respond.store.migrations import MIGRATIONS


async def applied_and_pending(engine: Database) -> tuple[list[str], list[str]]:
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda sync: inspect(sync).has_table(schema.migrations.name))
        done = set((await conn.execute(select(schema.migrations.c.name))).scalars()) if has_table else set()
    names = [name for name, _ in MIGRATIONS]
    return [n for n in names if n in done], [n for n in names if n not in done]
