"""The frozen migrations of the Files API, vector stores and their chunk index.

Listed in store/migrations.py's `ordered()`; `store/vectors.py` is the adapter that owns these
tables.  Like every step, the DDL is written here as it shipped: never built
from today's `files.py` / `vectors.py` table objects.
"""

from __future__ import annotations

from respond.store.database import MigrationConnection
from respond.store.migrations import ddl


async def files_0001(conn: MigrationConnection) -> None:
    """Files, vector stores, their attachments and batches, chunks, the lexical index."""
    await ddl(conn, """CREATE TABLE files (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        filename TEXT NOT NULL,
        purpose VARCHAR(32) NOT NULL,
        expires_at BIGINT,
        content {blob} NOT NULL,
        PRIMARY KEY (id))""",
        "CREATE INDEX ix_files_owner_created ON files (owner, created_at)",
        """CREATE TABLE vector_stores (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id))""",
        "CREATE INDEX ix_vector_stores_owner_created ON vector_stores (owner, created_at)",
        """CREATE TABLE vector_store_files (
        vector_store_id VARCHAR(64) NOT NULL,
        file_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        batch_id VARCHAR(64),
        usage_bytes BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (vector_store_id, file_id))""",
        "CREATE INDEX ix_vs_files_status ON vector_store_files (status)",
        "CREATE INDEX ix_vs_files_batch ON vector_store_files (batch_id)",
        """CREATE TABLE vector_store_file_batches (
        id VARCHAR(64) NOT NULL,
        vector_store_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (id))""",
        """CREATE TABLE chunks (
        pk {serial} NOT NULL,
        vector_store_id VARCHAR(64) NOT NULL,
        file_id VARCHAR(64) NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        embedding {blob},
        PRIMARY KEY (pk))""",
        "CREATE INDEX ix_chunks_store_file ON chunks (vector_store_id, file_id)")
    if conn.dialect.name == "postgresql":
        await ddl(conn, "ALTER TABLE chunks ADD COLUMN tsv tsvector "
                        "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
                  "CREATE INDEX ix_chunks_tsv ON chunks USING gin(tsv)")
    else:
        await ddl(conn, "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, tokenize='porter unicode61')")


async def files_0002(conn: MigrationConnection) -> None:
    """SQLite: the store id as an indexed FTS column, so a search needs no join to `chunks`."""
    if conn.dialect.name == "postgresql":
        return
    await ddl(conn, "DROP TABLE chunks_fts",
              "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, store, tokenize='porter unicode61')",
              "INSERT INTO chunks_fts(rowid, text, store) SELECT pk, text, vector_store_id FROM chunks")
