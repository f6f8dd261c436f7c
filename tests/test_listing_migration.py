"""Migration 0010 on a database that already holds responses: columns and metadata backfilled."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from respond.core.listing import ResponseFilter
from respond.store.migrations import migrate
from respond.store.sql import SqlStore

PRE_0010 = [  # undo 0010 by hand: what a database written before it looks like
    "DROP TABLE response_metadata",
    "DROP INDEX ix_responses_owner_model_created",
    "DROP INDEX ix_responses_owner_status_created",
    "DROP INDEX ix_responses_owner_created",
    "DROP INDEX ix_responses_created",
    "DROP INDEX ix_responses_previous",
    "DROP INDEX ix_responses_background_created",
    "ALTER TABLE responses DROP COLUMN model",
    "ALTER TABLE responses DROP COLUMN preview",
    "DELETE FROM schema_migrations WHERE name = '0010_listing_indexes'",
]


def test_upgrade_backfills(tmp_path):
    async def run() -> None:
        store = SqlStore(f"sqlite:///{tmp_path / 'old.db'}")
        await store.open()
        async with store.db.begin() as conn:
            for statement in PRE_0010:
                await conn.execute(text(statement))
            await conn.execute(text(
                "INSERT INTO responses (id, owner, created_at, status, previous_response_id, background, body) "
                "VALUES ('resp_old', 'o1', 100, 'completed', NULL, false, :body)"),
                {"body": '{"id":"resp_old","model":"m1","metadata":{"team":"red"},"created_at":100}'})
            await conn.execute(text(
                "INSERT INTO items (id, response_id, owner, position, kind, body) VALUES "
                "('msg_1', 'resp_old', 'o1', 0, 0, :body)"),
                {"body": '{"type":"message","role":"user","content":[{"type":"input_text","text":"Old words"}]}'})
        assert await migrate(store.db) == ["0010_listing_indexes"]
        page = await store.list_responses("o1", ResponseFilter(metadata={"team": "red"}, model="m1",
                                                               text="old"), cursor=None, limit=10)
        assert [(r["id"], r["preview"]) for r in page.rows] == [("resp_old", "Old words")]
        assert (await store.list_responses("o2", ResponseFilter(), cursor=None, limit=10)).rows == []
        assert await store.delete_response("resp_old", "o1")
        async with store.db.begin() as conn:  # metadata rows go with their response
            assert await conn.scalar(text("SELECT count(*) FROM response_metadata")) == 0
        await store.close()

    asyncio.run(run())
