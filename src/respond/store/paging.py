"""Cursor pagination by (created_at, id), shared by the files' and the containers' list endpoints (so that
neither adapter's module loads the other's tables)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select


def page(conn: Connection, table: Table, where: list[Any], key: Any, after: str | None,
         before: str | None, limit: int, order: str) -> tuple[list[Any], bool]:
    """Cursor pagination by (created_at, id), as the OpenAI list endpoints do."""
    asc = order == "asc"
    q = select(table).where(*where)
    for cursor, forward in ((after, True), (before, False)):
        if cursor is None:
            continue
        mark = conn.execute(select(table.c.created_at).where(*where, key == cursor)).scalar()
        if mark is not None:
            later = (table.c.created_at > mark) | ((table.c.created_at == mark) & (key > cursor))
            earlier = (table.c.created_at < mark) | ((table.c.created_at == mark) & (key < cursor))
            q = q.where(later if asc == forward else earlier)
    q = q.order_by(table.c.created_at.asc() if asc else table.c.created_at.desc(),
                   key.asc() if asc else key.desc()).limit(limit + 1)
    rows = conn.execute(q).all()
    return list(rows[:limit]), len(rows) > limit
