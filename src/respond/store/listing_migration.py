"""Migration 0010: what the operator's list queries need (dashboard, CLI).

Frozen DDL (never built from today's `schema.py`): two columns on `responses` (`model`, and
`preview`, the first input's text cut to 200 characters, for the text filter), a
`response_metadata` table (one row per key, so `metadata key=value` is an index lookup), and the
indexes of the list pages (newest first per owner, by model, by status; the chain's next link).
Existing responses are backfilled from their stored bodies, in batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from respond.core.ports import Row
from respond.store.database import MigrationConnection
from respond.store.rows import MetadataRow

if TYPE_CHECKING:
    from sqlalchemy import TextClause

PREVIEW_CHARS = 200

DDL = [
    "ALTER TABLE responses ADD COLUMN model VARCHAR(128)",
    "ALTER TABLE responses ADD COLUMN preview VARCHAR(200)",
    """CREATE TABLE response_metadata (
        response_id VARCHAR(64) NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
        key VARCHAR(64) NOT NULL,
        value VARCHAR(512) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id, key))""",
    "CREATE INDEX ix_response_metadata_kv ON response_metadata (key, value, owner, created_at)",
    "CREATE INDEX ix_responses_owner_created ON responses (owner, created_at)",
    "CREATE INDEX ix_responses_created ON responses (created_at)",
    "CREATE INDEX ix_responses_owner_model_created ON responses (owner, model, created_at)",
    "CREATE INDEX ix_responses_owner_status_created ON responses (owner, status, created_at)",
    "CREATE INDEX ix_responses_previous ON responses (previous_response_id)",
    "CREATE INDEX ix_responses_background_created ON responses (background, created_at)",
]


def preview(input_items: list[Row]) -> str | None:
    """The text of the first input item that has text, cut to PREVIEW_CHARS."""
    for item in input_items:
        content = item.get("content")
        if isinstance(content, str) and content:
            return content[:PREVIEW_CHARS]
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                    return str(part["text"])[:PREVIEW_CHARS]
    return None


def metadata_rows(response: Row, owner: str) -> list[MetadataRow]:
    meta = response.get("metadata") or {}
    return [{"response_id": response["id"], "key": str(k)[:64], "value": str(v)[:512], "owner": owner,
             "created_at": response["created_at"]} for k, v in meta.items()]


def _text(sql: str) -> TextClause:
    from sqlalchemy import text  # (the migration's only: `preview` and `metadata_rows` are on the hot path)

    return text(sql)


async def _backfill(conn: MigrationConnection, batch: int = 1000) -> None:
    last = ""
    while True:
        rows = (await conn.execute(_text(
            "SELECT id, owner, body FROM responses WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": batch})).all()
        if not rows:
            return
        for rid, owner, body in rows:
            response = orjson.loads(body)
            first = (await conn.execute(_text(
                "SELECT body FROM items WHERE response_id = :rid AND kind = 0 ORDER BY position LIMIT 1"),
                {"rid": rid})).scalar()
            items = [orjson.loads(first)] if first is not None else []
            await conn.execute(_text("UPDATE responses SET model = :model, preview = :preview WHERE id = :rid"),
                               {"model": str(response.get("model") or "")[:128], "preview": preview(items),
                                "rid": rid})
            meta = metadata_rows(response, owner)
            if meta:
                await conn.execute(_text(
                    "INSERT INTO response_metadata (response_id, key, value, owner, created_at) "
                    "VALUES (:response_id, :key, :value, :owner, :created_at)"), meta)
        last = rows[-1][0]


async def listing_indexes(conn: MigrationConnection) -> None:
    # 0001 builds `responses` from today's table object (until its DDL is frozen too), which may
    # already have the columns: add only what is missing.
    from sqlalchemy import inspect

    have = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("responses")})
    for statement in DDL:
        column = statement.split("ADD COLUMN ")[1].split()[0] if "ADD COLUMN" in statement else None
        if column is None or column not in have:
            await conn.execute(_text(statement))
    await _backfill(conn)
