"""`respond db check`: which migrations are applied, which are pending (reads only)."""

from __future__ import annotations

from sqlalchemy import Connection, inspect, select

from respond.store import schema
from respond.store.database import Database
from respond.store.migrations import ordered


async def applied_and_pending(engine: Database) -> tuple[list[str], list[str]]:
    def look(conn: Connection) -> set[str]:
        if not inspect(conn).has_table(schema.migrations.name):
            return set()
        return set(conn.execute(select(schema.migrations.c.name)).scalars())

    done = await engine.read(look)
    names = [name for name, _ in ordered()]
    return [n for n in names if n in done], [n for n in names if n not in done]
