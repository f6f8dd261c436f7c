"""A conversation's items a page at a time (store/conversations.py, its `Sql` statements on both databases):
after an item, either order, limited or not; an unknown item starts at the first."""

from __future__ import annotations

import asyncio

from respond.store.sql import SqlStore


def test_pages_of_items(database: str) -> None:
    async def main() -> None:
        store = SqlStore(database)
        await store.open()
        try:
            items = [{"id": f"msg_{n}", "type": "message", "n": n} for n in range(5)]
            await store.create_conversation("conv_pages", "alice", 1, {"k": "v"}, items[:2])
            await store.add_conversation_items("conv_pages", items[2:])

            async def ids(**kw: object) -> tuple[list[str], bool]:
                got, more = await store.conversation_items("conv_pages", **kw)  # type: ignore[arg-type]
                return [it["id"] for it in got], more

            assert await ids() == ([f"msg_{n}" for n in range(5)], False)
            assert await ids(limit=2) == (["msg_0", "msg_1"], True)
            assert await ids(after="msg_1", limit=2) == (["msg_2", "msg_3"], True)
            assert await ids(after="msg_3", limit=2) == (["msg_4"], False)
            assert await ids(order="desc", limit=2) == (["msg_4", "msg_3"], True)
            assert await ids(after="msg_3", order="desc") == (["msg_2", "msg_1", "msg_0"], False)
            assert await ids(after="msg_nope", limit=1) == (["msg_0"], True)
            assert (await store.get_conversation("conv_pages", "alice") or {})["metadata"] == {"k": "v"}
            assert await store.get_conversation("conv_pages", "bob") is None
            assert await store.get_conversation_item("conv_pages", "msg_2") == items[2]
            assert await store.delete_conversation_item("conv_pages", "msg_2")
            assert not await store.delete_conversation_item("conv_pages", "msg_2")
            assert not await store.delete_conversation("conv_pages", "bob")
            assert await store.delete_conversation("conv_pages", "alice")
            assert await ids() == ([], False)
        finally:
            await store.close()

    asyncio.run(main())
