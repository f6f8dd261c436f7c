"""Ordered, named migrations, recorded in `schema_migrations`.

Each migration runs once, in order, inside a transaction, on SQLite and PostgreSQL alike.
Add new ones at the end; never edit one that has shipped.

Every step is frozen DDL written in the step itself, never built from today's `schema.py` tables:
a step must create exactly what it created the day it shipped, so that a later step's
`ALTER TABLE ... ADD COLUMN` works both on a database made by an old release and on a fresh one.
`tests/test_migrations.py` checks that the steps together build what `schema.py` describes and
upgrades a database made with the first release's steps.  The few types that differ between the
dialects are spelled through `ddl()`: `{serial}` (an auto-increment integer primary key) and
`{blob}`.

Name ranges (to avoid collisions between branches): hardening 0004-0009, ops 0010-0019,
containers/hosted tools 0020-0029, agentic 0030-0039, house 0040-0049.  The steps of adapters with
tables of their own live next to those tables (e.g. `files_0001_...` in store/files_migrations.py);
`ordered()` is the one list, in the one order a fresh database gets them: append new ones there,
then regenerate SQLite's head schema, which a new SQLite database is made with and which tells a current
one needs nothing (store/sqlite_head.py; tests/unit/store/test_sqlite_head.py fails until it is done):

    python -m respond.store.sqlite_head --write

The order does not depend on what was imported first, and importing a module changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from respond.store.database import Database, MigrationConnection
from respond.store.sqlite_head import to_head

log = logging.getLogger("respond.store")

Migration = Callable[[MigrationConnection], Awaitable[None]]

_TYPES = {
    "sqlite": {"serial": "INTEGER", "blob": "BLOB"},
    "postgresql": {"serial": "BIGSERIAL", "blob": "BYTEA"},
}

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    name VARCHAR(128) NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (name))"""


async def ddl(conn: MigrationConnection, *statements: str) -> None:
    """Execute frozen DDL statements, `{serial}` and `{blob}` spelled for this dialect."""
    types = _TYPES[conn.dialect.name]
    for statement in statements:
        await conn.exec_driver_sql(statement.format(**types))


async def _0001_responses_and_items(conn: MigrationConnection) -> None:
    await ddl(conn, """CREATE TABLE responses (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        previous_response_id VARCHAR(64),
        background BOOLEAN NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id))""", """CREATE TABLE items (
        pk {serial} NOT NULL,
        id VARCHAR(64) NOT NULL,
        response_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        position INTEGER NOT NULL,
        kind SMALLINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (pk))""",
        "CREATE INDEX ix_items_response_position ON items (response_id, position)",
        "CREATE INDEX ix_items_id ON items (id)")


async def _0002_events_and_jobs(conn: MigrationConnection) -> None:
    await ddl(conn, """CREATE TABLE events (
        response_id VARCHAR(64) NOT NULL,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (response_id, seq))""", """CREATE TABLE jobs (
        response_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        state VARCHAR(16) NOT NULL,
        request TEXT,
        worker VARCHAR(64),
        lease_until BIGINT NOT NULL,
        cancel_requested BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id))""",
        "CREATE INDEX ix_jobs_state_created ON jobs (state, created_at)",
        "CREATE INDEX ix_jobs_worker ON jobs (worker)")


async def _0003_conversations(conn: MigrationConnection) -> None:
    await ddl(conn, """CREATE TABLE conversations (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        metadata TEXT NOT NULL,
        PRIMARY KEY (id))""", """CREATE TABLE conversation_items (
        pk {serial} NOT NULL,
        conversation_id VARCHAR(64) NOT NULL,
        id VARCHAR(64) NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (pk))""",
        "CREATE INDEX ix_conversation_items_conv_pk ON conversation_items (conversation_id, pk)",
        "CREATE INDEX ix_conversation_items_id ON conversation_items (conversation_id, id)")


async def _0004_deletion_epoch(conn: MigrationConnection) -> None:
    """One counter bumped by every response deletion: a process's cached chain contexts are valid
    while it has not moved (engine/resolve/context_cache.py)."""
    await ddl(conn, """CREATE TABLE response_deletions (
        id SMALLINT NOT NULL,
        epoch BIGINT NOT NULL,
        PRIMARY KEY (id))""",
        "INSERT INTO response_deletions (id, epoch) VALUES (1, 0)")


async def _jobs_0001_queue_order(conn: MigrationConnection) -> None:
    """The background queue's order: `completion_window` (a due time) and `continuation_id` (a chain)."""
    await ddl(conn, "ALTER TABLE jobs ADD COLUMN queued_us BIGINT NOT NULL DEFAULT 0",
              "ALTER TABLE jobs ADD COLUMN due_us BIGINT NOT NULL DEFAULT 0",
              "ALTER TABLE jobs ADD COLUMN chain VARCHAR(128)",
              "CREATE INDEX ix_jobs_state_due ON jobs (state, due_us)",
              "CREATE INDEX ix_jobs_owner_chain ON jobs (owner, chain)")


def ordered() -> list[tuple[str, Migration]]:
    """Every migration, in order (append new ones at the end; never reorder or edit a shipped one).

    The adapters' steps are imported here, when asked for, since their modules import `ddl` from this one."""
    from respond.store.containers import containers_0020
    from respond.store.files_migrations import files_0001, files_0002
    from respond.store.listing_migration import listing_indexes
    from respond.store.partial_indexes import jobs_0002_one_state_index, partial_indexes_0011
    from respond.store.replay import journal_0001_applied
    from respond.store.sessions import sessions_0019
    from respond.store.tenants import tenants_0001

    return [
        ("0001_responses_and_items", _0001_responses_and_items),
        ("0002_events_and_jobs", _0002_events_and_jobs),
        ("0003_conversations", _0003_conversations),
        ("0004_deletion_epoch", _0004_deletion_epoch),
        ("0010_listing_indexes", listing_indexes),
        ("0020_containers", containers_0020),
        ("journal_0001_applied", journal_0001_applied),
        ("0019_dashboard_sessions", sessions_0019),
        ("tenants_0001_keys_limits_usage", tenants_0001),
        ("files_0001_files_vector_stores_chunks", files_0001),
        ("files_0002_fts_store_column", files_0002),
        ("jobs_0001_queue_order", _jobs_0001_queue_order),
        ("0011_partial_indexes", partial_indexes_0011),
        ("jobs_0002_one_state_index", jobs_0002_one_state_index),
    ]


async def migrate(engine: Database, steps: list[tuple[str, Migration]] | None = None) -> list[str]:
    """Apply what has not been applied (of `steps`, by default all of `ordered()`); returns the
    names applied now."""
    from sqlalchemy import text  # here: the adapters import `ddl` from this module, SQLAlchemy or not

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        await conn.exec_driver_sql(MIGRATIONS_TABLE)
    applied: list[str] = []
    for name, step in ordered() if steps is None else steps:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # One process migrates at a time when several start together.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            done = await conn.scalar(text("SELECT name FROM schema_migrations WHERE name = :n"), {"n": name})
            if done:
                continue
            await step(conn)
            await conn.execute(text("INSERT INTO schema_migrations (name, applied_at) VALUES (:n, :t)"),
                               {"n": name, "t": int(time.time())})
            applied.append(name)
            log.info("applied migration %s", name)
    return applied


async def upgrade(db: Database) -> None:
    """A database brought to today's schema at start: a SQLite one that is new or at head with sqlite3 alone
    (store/sqlite_head.py: neither SQLAlchemy nor the steps' modules are imported), any other by `migrate()`."""
    if db.name != "sqlite" or not await to_head(db):
        await migrate(db)
