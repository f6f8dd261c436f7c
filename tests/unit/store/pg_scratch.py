"""A scratch table on RESPOND_TEST_POSTGRES for the store's PostgreSQL unit tests, with `Database._run` counted."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from respond.store.database import Database

URL = os.environ.get("RESPOND_TEST_POSTGRES")
Steps = Any
Check = Callable[[Database, Table, list[int]], Awaitable[Any]]


def on_scratch_table(prefix: str, check: Check, count: Callable[[Steps], int], *, tables: int = 1,
                     after: Callable[[Database, Table], Awaitable[Any]] | None = None) -> Any:
    """`check(db, table, runs)` on a new Database with `tables` fresh (id, v) tables (the first given); `runs`
    gets `count(steps)` for each run of statements it sends; then `after(db, table)` if given (else `check`'s
    result); the tables are dropped and the Database closed either way."""
    meta = MetaData()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    table, *_ = [Table(name if i == 0 else f"{name}_{i + 1}", meta, Column("id", Integer, primary_key=True),
                       Column("v", String(8))) for i in range(tables)]

    async def main() -> Any:
        assert URL is not None
        db = Database(URL)
        runs: list[int] = []
        real = db._run

        async def counted(steps: Steps) -> None:
            runs.append(count(steps))
            await real(steps)

        pytest.MonkeyPatch().setattr(db, "_run", counted)  # (this instance only: dropped with it)
        await db.write(lambda conn: meta.create_all(conn))
        try:
            result = await check(db, table, runs)
            return result if after is None else await after(db, table)
        finally:
            await db.write(lambda conn: meta.drop_all(conn))
            await db.close()

    return asyncio.run(main())
