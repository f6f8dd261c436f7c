"""A hostile tenant against the hot path's SQL (store/statement.py: SQL written by hand, and an `IN` list
built per call for `get_items`): ids that are SQL, another owner's ids, and more ids than a statement
usually holds reach nothing that is not the caller's own, on both databases."""

from __future__ import annotations

import asyncio

from respond.store.sql import SqlStore

# (an id with a NUL byte never gets here: the API refuses it with a 400 naming the field)
SQLISH = ["' OR '1'='1", "x') OR 1=1 --", '" OR ""="', "msg_a; DELETE FROM items; --", ":owner", "?", "%"]


def _response(rid: str, previous: str | None = None) -> dict[str, object]:
    return {"id": rid, "object": "response", "created_at": 1, "status": "completed", "model": "m",
            "previous_response_id": previous, "output": []}


def test_ids_that_are_sql_or_another_owners_reach_nothing(database: str) -> None:
    async def main() -> None:
        store = SqlStore(database)
        await store.open()
        try:
            mine = [{"id": "msg_a", "type": "message", "role": "user", "content": "alice's secret"}]
            out = [{"id": "msg_b", "type": "message", "role": "assistant", "content": "ok"}]
            await store.insert_response(_response("resp_alice"), "alice", mine, out)

            # mallory names alice's items and response, alone and among SQL-shaped ids
            assert await store.get_items(["msg_a", "msg_b", *SQLISH], "mallory") == {}
            assert await store.get_items(SQLISH + [s + " " for s in SQLISH], "alice") == {}
            assert await store.get_response("resp_alice", "mallory") is None
            assert await store.get_response("' OR '1'='1", "alice") is None
            assert await store.load_context("resp_alice", "mallory") is None
            assert await store.list_input_items("resp_alice", "mallory", after=None, limit=10, order="asc") is None
            assert not await store.delete_response("resp_alice", "mallory")
            assert not await store.delete_response("' OR '1'='1", "' OR '1'='1")

            # a chain of mallory's that names alice's response as its previous one does not read it
            await store.insert_response(_response("resp_m", previous="resp_alice"), "mallory",
                                        [{"id": "msg_m", "type": "message", "role": "user", "content": "hi"}], [])
            context = await store.load_context("resp_m", "mallory") or []
            assert [it["id"] for it in context] == ["msg_m"]

            # thousands of ids in one call (the `IN` list built per call): only the owner's are found
            many = [f"msg_{n}" for n in range(5000)] + ["msg_a"]
            assert list(await store.get_items(many, "alice")) == ["msg_a"]

            # and alice's rows are all still there
            assert (await store.get_items(["msg_a", "msg_b"], "alice")).keys() == {"msg_a", "msg_b"}
            assert await store.get_response("resp_alice", "alice") is not None
        finally:
            await store.close()

    asyncio.run(main())
