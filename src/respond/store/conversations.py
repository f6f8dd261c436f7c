"""Conversations in the store: a conversation row and its items in insertion order (the `pk`).

Every statement is a `Sql` (store/statement.py), the same text on both databases: a conversation is
part of what an upstream-only server serves (a create in one reads its row and items), so SQLite runs
these on sqlite3 alone, without SQLAlchemy (issue 20's memory target).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from respond.core.ports import Row
from respond.store.database import Database, execute_rows, fetch_rows, fetch_value, run
from respond.store.rows import ConversationItemRow
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.store.database import Conn

# a create in a conversation reads these two: prepared statements (Database.fetch)
_GET = Sql("SELECT id, created_at, metadata FROM conversations WHERE id = :cid AND owner = :owner")
_INSERT = Sql("INSERT INTO conversations (id, owner, created_at, metadata) VALUES (:id, :owner, :created_at, :metadata)")
_INSERT_ITEMS = Sql("INSERT INTO conversation_items (conversation_id, id, body) VALUES (:conversation_id, :id, :body)")
_UPDATE = Sql("UPDATE conversations SET metadata = :metadata WHERE id = :cid AND owner = :owner")
_DELETE = Sql("DELETE FROM conversations WHERE id = :cid AND owner = :owner")
_DELETE_ITEMS = Sql("DELETE FROM conversation_items WHERE conversation_id = :cid")
_ITEM = Sql("SELECT body FROM conversation_items WHERE conversation_id = :cid AND id = :iid")
_DELETE_ITEM = Sql("DELETE FROM conversation_items WHERE conversation_id = :cid AND id = :iid")
_ITEM_PK = Sql("SELECT pk FROM conversation_items WHERE conversation_id = :cid AND id = :after")
# a page of items: (ascending, after an item, limited) -> its statement
_PAGES = {(asc, after, limited): Sql(
    "SELECT body FROM conversation_items WHERE conversation_id = :cid"
    + ((" AND pk > :pk" if asc else " AND pk < :pk") if after else "")
    + (" ORDER BY pk ASC" if asc else " ORDER BY pk DESC") + (" LIMIT :limit" if limited else ""))
    for asc in (True, False) for after in (True, False) for limited in (True, False)}
_ITEMS = _PAGES[True, False, False]  # all of them: a create's history


def _conv(row: Any) -> Row:
    return {"id": row[0], "object": "conversation", "created_at": row[1], "metadata": orjson.loads(row[2])}


def conversation_rows(conversation_id: str, items: list[Row]) -> list[ConversationItemRow]:
    return [{"conversation_id": conversation_id, "id": it.get("id", ""), "body": orjson.dumps(it).decode()}
            for it in items]


def append_items(conn: Conn, conversation_id: str, items: list[Row]) -> None:
    if items:
        execute_rows(conn, _INSERT_ITEMS, conversation_rows(conversation_id, items))


class ConversationsMixin:
    db: Database

    async def create_conversation(self, conv_id: str, owner: str, created_at: int, metadata: dict[str, str],
                                  items: list[Row]) -> Row:
        def write(conn: Conn) -> None:
            execute_rows(conn, _INSERT, {"id": conv_id, "owner": owner, "created_at": created_at,
                                         "metadata": orjson.dumps(metadata).decode()})
            append_items(conn, conv_id, items)

        await self.db.write(write, lite=True)
        return {"id": conv_id, "object": "conversation", "created_at": created_at, "metadata": metadata}

    async def get_conversation(self, conv_id: str, owner: str) -> Row | None:
        rows = await self.db.fetch(_GET, {"cid": conv_id, "owner": owner})
        return _conv(rows[0]) if rows else None

    async def update_conversation(self, conv_id: str, owner: str, metadata: dict[str, str]) -> Row | None:
        params = {"cid": conv_id, "owner": owner, "metadata": orjson.dumps(metadata).decode()}
        await self.db.write(lambda conn: run(conn, _UPDATE, params), lite=True)
        return await self.get_conversation(conv_id, owner)

    async def delete_conversation(self, conv_id: str, owner: str) -> bool:
        def write(conn: Conn) -> bool:
            if not run(conn, _DELETE, {"cid": conv_id, "owner": owner}):
                return False
            run(conn, _DELETE_ITEMS, {"cid": conv_id})
            return True

        return await self.db.write(write, lite=True)

    async def add_conversation_items(self, conv_id: str, items: list[Row]) -> None:
        await self.db.write(lambda conn: append_items(conn, conv_id, items), lite=True)

    async def conversation_items(self, conv_id: str, *, after: str | None = None, limit: int | None = None,
                                 order: str = "asc") -> tuple[list[Row], bool]:
        if after is None and limit is None and order == "asc":  # all of them: a create's history
            return [orjson.loads(r[0]) for r in await self.db.fetch(_ITEMS, {"cid": conv_id})], False

        def read(conn: Conn) -> list[Any]:
            params: dict[str, Any] = {"cid": conv_id}
            pk = None if after is None else fetch_value(conn, _ITEM_PK, {"cid": conv_id, "after": after})
            if pk is not None:  # (an unknown item: the page starts at the first)
                params["pk"] = pk
            if limit is not None:
                params["limit"] = limit + 1
            return [r[0] for r in fetch_rows(conn, _PAGES[order == "asc", pk is not None, limit is not None], params)]

        bodies = await self.db.read(read, lite=True)
        more = limit is not None and len(bodies) > limit
        return [orjson.loads(b) for b in (bodies[:limit] if limit is not None else bodies)], more

    async def get_conversation_item(self, conv_id: str, item_id: str) -> Row | None:
        body = await self.db.scalar(_ITEM, {"cid": conv_id, "iid": item_id})
        return orjson.loads(body) if body else None

    async def delete_conversation_item(self, conv_id: str, item_id: str) -> bool:
        return bool(await self.db.write(lambda conn: run(conn, _DELETE_ITEM, {"cid": conv_id, "iid": item_id}),
                                        lite=True))
