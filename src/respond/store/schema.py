"""Tables, as SQLAlchemy Core metadata (one definition for SQLite and PostgreSQL).

Bodies are JSON text written with orjson: faster than the JSON column type and identical on
both databases.  Items are rows so that `input_items` is an indexed, paged query and the whole
context of a `previous_response_id` chain is one recursive query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from respond.store.safetext import SafeString

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


def upsert(dialect: str, table: Table) -> PostgresInsert | SqliteInsert:
    """`INSERT ... ON CONFLICT` on `dialect`.  Each dialect's module is imported here, when asked for:
    the PostgreSQL one (19 modules, 2.2 MB resident) is never loaded by a server on SQLite."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)

metadata = MetaData()

migrations = Table(
    "schema_migrations",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
)

responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous_response_id", String(64), nullable=True),
    Column("background", Boolean, nullable=False, default=False),
    Column("body", Text, nullable=False),
    # 0010: for the operator's list queries (dashboard, CLI)
    Column("model", SafeString(128), nullable=True),
    Column("preview", SafeString(200), nullable=True),
)

# 0010: one row per metadata key of a response, so that `key=value` filters are index lookups
response_metadata = Table(
    "response_metadata",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("key", SafeString(64), primary_key=True),
    Column("value", SafeString(512), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("pk", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("response_id", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    # inputs first (0 .. n-1), then outputs; kind 0 = input, 1 = output
    Column("position", Integer, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_items_response_position", "response_id", "position"),
    Index("ix_items_id", "id"),
)

events = Table(
    "events",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
)

# One row per run that is queued or executing somewhere: background runs wait here to be claimed;
# foreground streams register here too, so a crashed process's runs are found by their lease.
jobs = Table(
    "jobs",
    metadata,
    Column("response_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done
    Column("request", Text, nullable=True),  # the create body, to run a queued job
    Column("worker", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=False, default=0),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    # The queue's order (engine/background/queue.py): claimed by `due_us`, earliest first; a job of a `chain` (an
    # owner's background_options.continuation_id) waits for the unfinished ones queued before it.
    Column("queued_us", BigInteger, nullable=False, default=0),
    Column("due_us", BigInteger, nullable=False, default=0),
    Column("chain", String(128), nullable=True),
    # every query by state (the queue, a worker's running jobs, the queue's stats): 0011 dropped ix_jobs_worker,
    # jobs_0002 ix_jobs_state_created
    Index("ix_jobs_state_due", "state", "due_us"),
    # 0011: WHERE chain IS NOT NULL (the jobs of a chain only).  Not spelled here: a `postgresql_where` would
    # load SQLAlchemy's PostgreSQL dialect into a server on SQLite; the migrations create the indexes.
    Index("ix_jobs_owner_chain", "owner", "chain"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("metadata", Text, nullable=False),
)

conversation_items = Table(
    "conversation_items",
    metadata,
    Column("pk", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_conversation_items_conv_pk", "conversation_id", "pk"),
    Index("ix_conversation_items_id", "conversation_id", "id"),
)

# One row (id 1): bumped by every response deletion, in the deleting transaction.  A process's
# cached chain contexts stay valid while it has not moved (several processes on PostgreSQL).
deletions = Table(
    "response_deletions",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
)

# journal_0001: the journal entries already replayed (store/replay.py), so that a replay is idempotent
journal_applied = Table(
    "journal_applied",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
)
