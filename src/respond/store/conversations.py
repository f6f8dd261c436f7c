"""Conversations in the store: a conversation row and its items in insertion order (the `pk`)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from respond.core.ports import Row
from respond.store import schema
from respond.store.database import Database
from respond.store.rows import ConversationItemRow

C, CI = schema.conversations, schema.conversation_items
# a create in a conversation reads these two: built once, they run as prepared statements (Database.fetch)
_GET = select(C.c.id, C.c.created_at, C.c.metadata).where(C.c.id == bindparam("cid"), C.c.owner == bindparam("owner"))
_ITEMS = select(CI.c.body).where(CI.c.conversation_id == bindparam("cid")).order_by(CI.c.pk.asc())


def _conv(row: Any) -> Row:
    return {"id": row[0], "object": "conversation", "created_at": row[1], "metadata": orjson.loads(row[2])}


def conversation_rows(conversation_id: str, items: list[Row]) -> list[ConversationItemRow]:
    return [{"conversation_id": conversation_id, "id": it.get("id", ""), "body": orjson.dumps(it).decode()}
            for it in items]


def append_items(conn: Connection, conversation_id: str, items: list[Row]) -> None:
    if items:
        conn.execute(insert(CI), conversation_rows(conversation_id, items))


class ConversationsMixin:
    db: Database

    async def create_conversation(self, conv_id: str, owner: str, created_at: int, metadata: dict[str, str],
                                  items: list[Row]) -> Row:
        def write(conn: Connection) -> None:
            conn.execute(insert(C).values(id=conv_id, owner=owner, created_at=created_at,
                                          metadata=orjson.dumps(metadata).decode()))
            append_items(conn, conv_id, items)

        await self.db.write(write)
        return {"id": conv_id, "object": "conversation", "created_at": created_at, "metadata": metadata}

    async def get_conversation(self, conv_id: str, owner: str) -> Row | None:
        rows = await self.db.fetch(_GET, {"cid": conv_id, "owner": owner})
        return _conv(rows[0]) if rows else None

    async def update_conversation(self, conv_id: str, owner: str, metadata: dict[str, str]) -> Row | None:
        stmt = update(C).where(C.c.id == conv_id, C.c.owner == owner).values(metadata=orjson.dumps(metadata).decode())
        await self.db.write(lambda conn: conn.execute(stmt))
        return await self.get_conversation(conv_id, owner)

    async def delete_conversation(self, conv_id: str, owner: str) -> bool:
        def write(conn: Connection) -> bool:
            if not conn.execute(delete(C).where(C.c.id == conv_id, C.c.owner == owner)).rowcount:
                return False
            conn.execute(delete(CI).where(CI.c.conversation_id == conv_id))
            return True

        return await self.db.write(write)

    async def add_conversation_items(self, conv_id: str, items: list[Row]) -> None:
        await self.db.write(lambda conn: append_items(conn, conv_id, items))

    async def conversation_items(self, conv_id: str, *, after: str | None = None, limit: int | None = None,
                                 order: str = "asc") -> tuple[list[Row], bool]:
        if after is None and limit is None and order == "asc":  # all of them: a create's history
            return [orjson.loads(r[0]) for r in await self.db.fetch(_ITEMS, {"cid": conv_id})], False

        def read(conn: Connection) -> list[Any]:
            q = select(CI.c.body).where(CI.c.conversation_id == conv_id)
            if after is not None:
                pk = conn.scalar(select(CI.c.pk).where(CI.c.conversation_id == conv_id, CI.c.id == after))
                if pk is not None:
                    q = q.where(CI.c.pk > pk if order == "asc" else CI.c.pk < pk)
            q = q.order_by(CI.c.pk.asc() if order == "asc" else CI.c.pk.desc())
            if limit is not None:
                q = q.limit(limit + 1)
            return list(conn.execute(q).scalars().all())

        bodies = await self.db.read(read)
        more = limit is not None and len(bodies) > limit
        return [orjson.loads(b) for b in (bodies[:limit] if limit is not None else bodies)], more

    async def get_conversation_item(self, conv_id: str, item_id: str) -> Row | None:
        q = select(CI.c.body).where(CI.c.conversation_id == conv_id, CI.c.id == item_id)
        body = await self.db.read(lambda conn: conn.scalar(q))
        return orjson.loads(body) if body else None

    async def delete_conversation_item(self, conv_id: str, item_id: str) -> bool:
        stmt = delete(CI).where(CI.c.conversation_id == conv_id, CI.c.id == item_id)
        return bool(await self.db.write(lambda conn: conn.execute(stmt).rowcount))
