"""The operator's list queries (`core.listing.ListingStore`), on the indexes of migrations 0010 and 0011:
SQLAlchemy statements, loaded by the first of them (store/listing.py's `ListingMixin` hands them here).

Summaries are built from columns plus a few fields of the body; pages are keyed by
(created_at, id) descending, so the thousandth page costs what the first does.  Three of the
indexes are partial (store/partial_indexes.py): a query that needs one carries the index's own
condition (`BACKGROUND`, `NOT_COMPLETED`), since SQLite uses a partial index only then.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from respond.core.listing import Page, ResponseFilter, Row
from respond.store import schema
from respond.store.database import Database

R, M, J, E, IT = schema.responses, schema.response_metadata, schema.jobs, schema.events, schema.items
C = schema.conversations
T = TypeVar("T")
SUMMARY = [R.c.id, R.c.owner, R.c.created_at, R.c.status, R.c.model, R.c.background, R.c.previous_response_id,
           R.c.preview, R.c.body]
# the conditions of the partial indexes ix_responses_background_created and ix_responses_owner_status_created,
# spelled as they are there (`background = 1` on SQLite, `background = true` on PostgreSQL; a literal, not a parameter)
BACKGROUND: ColumnElement[bool] = R.c.background == True  # noqa: E712
NOT_COMPLETED: ColumnElement[bool] = R.c.status != literal_column("'completed'")


def summary(row: Any) -> Row:
    body = orjson.loads(row[8])
    return {"id": row[0], "owner": row[1], "created_at": row[2], "status": row[3],
            "model": row[4] or body.get("model"), "background": bool(row[5]), "previous_response_id": row[6],
            "preview": row[7], "metadata": body.get("metadata") or {}, "usage": body.get("usage"),
            "completed_at": body.get("completed_at"), "error": body.get("error")}


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw or ":" not in raw:
        return None
    created, _, rid = raw.partition(":")
    return (int(created), rid) if created.isdigit() else None


def conditions(owner: str | None, flt: ResponseFilter, dialect: str = "sqlite") -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if owner is not None:
        where.append(R.c.owner == owner)
    if flt.model:
        where.append(R.c.model == flt.model)
    if flt.status:
        where += [R.c.status == flt.status] + ([NOT_COMPLETED] if flt.status != "completed" else [])
    if flt.background is not None:
        where.append(BACKGROUND if flt.background else R.c.background.is_(False))
    if flt.created_after is not None:
        where.append(R.c.created_at >= flt.created_after)
    if flt.created_before is not None:
        where.append(R.c.created_at < flt.created_before)
    if flt.text:
        escaped = flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # SQLite's LIKE is already case-insensitive (ASCII) and much cheaper than lower() LIKE lower()
        where.append(R.c.preview.like(pattern, escape="\\") if dialect == "sqlite"
                     else R.c.preview.ilike(pattern, escape="\\"))
    for key, value in flt.metadata.items():
        where.append(R.c.id.in_(select(M.c.response_id).where(M.c.key == key, M.c.value == value)))
    return where


class ListingQueries:
    def __init__(self, db: Database, dialect: str) -> None:
        self.db = db
        self.dialect = dialect

    async def list_responses(self, owner: str | None, flt: ResponseFilter, *, cursor: str | None,
                             limit: int) -> Page:
        """With a metadata filter the query is driven by `response_metadata`'s (key, value, owner,
        created_at) index, walked newest first; without, by the responses' (owner, created_at)."""
        pairs = list(flt.metadata.items())
        where = conditions(owner, replace(flt, metadata=dict(pairs[1:])), self.dialect)
        q = select(*SUMMARY)
        created, rid = R.c.created_at, R.c.id
        if pairs:
            key, value = pairs[0]
            q = q.select_from(M.join(R, R.c.id == M.c.response_id))
            where += [M.c.key == key, M.c.value == value] + ([M.c.owner == owner] if owner is not None else [])
            created, rid = M.c.created_at, M.c.response_id
        after = _cursor(cursor)
        if after is not None:  # a range on created_at first, so that the index seeks straight to it
            where += [created <= after[0], or_(created < after[0], rid < after[1])]
        q = q.where(*where).order_by(created.desc(), rid.desc()).limit(limit + 1)
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        out = [summary(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(out, f"{out[-1]['created_at']}:{out[-1]['id']}" if more and out else None)

    async def response_owner(self, response_id: str) -> str | None:
        q = select(R.c.owner).where(R.c.id == response_id)
        return await self.db.read(lambda conn: conn.scalar(q))

    async def next_responses(self, response_id: str, owner: str | None) -> list[Row]:
        where = [R.c.previous_response_id == response_id] + ([R.c.owner == owner] if owner else [])
        # no ORDER BY: it would tempt the planner into the (owner, created_at) index; a handful of rows
        q = select(*SUMMARY).where(*where).limit(100)
        rows = [summary(r) for r in await self.db.read(lambda conn: conn.execute(q).all())]
        return sorted(rows, key=lambda r: (r["created_at"], r["id"]))[:20]

    async def chain_ids(self, response_id: str, owner: str | None, limit: int = 50) -> list[Row]:
        def walk(conn: Connection) -> list[Row]:
            out: list[Row] = []
            current: str | None = response_id
            while current and len(out) < limit:
                where = [R.c.id == current] + ([R.c.owner == owner] if owner else [])
                row = conn.execute(select(*SUMMARY).where(*where)).first()
                if row is None:
                    break
                out.append(summary(row))
                current = row[6]
            return out[::-1]

        return await self.db.read(walk)

    async def all_events(self, response_id: str, limit: int = 5000) -> list[Row]:
        q = select(E.c.body).where(E.c.response_id == response_id).order_by(E.c.seq).limit(limit)
        return [orjson.loads(b) for b in await self.db.read(lambda conn: conn.execute(q).scalars().all())]

    async def all_items(self, response_id: str) -> tuple[list[Row], list[Row]]:
        q = select(IT.c.kind, IT.c.body).where(IT.c.response_id == response_id).order_by(IT.c.position)
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return ([orjson.loads(b) for k, b in rows if k == 0], [orjson.loads(b) for k, b in rows if k == 1])

    async def list_runs(self, owner: str | None, states: list[str], *, limit: int) -> list[Row]:
        """Background runs: queued/running from the job table, failed from the responses."""
        where: list[ColumnElement[bool]] = [BACKGROUND, R.c.status.in_(states)]
        if owner is not None:
            where.append(R.c.owner == owner)
        q = (select(*SUMMARY, J.c.state, J.c.worker).select_from(R.outerjoin(J, J.c.response_id == R.c.id))
             .where(*where).order_by(R.c.created_at.desc(), R.c.id.desc()).limit(limit))
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return [{**summary(r), "job_state": r[9], "worker": r[10]} for r in rows]

    async def list_conversations(self, owner: str | None, *, limit: int) -> list[Row]:
        q = select(C.c.id, C.c.owner, C.c.created_at, C.c.metadata)
        if owner is not None:
            q = q.where(C.c.owner == owner)
        q = q.order_by(C.c.created_at.desc(), C.c.id.desc()).limit(limit)  # same second: by id, stable
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return [{"id": r[0], "owner": r[1], "created_at": r[2], "metadata": orjson.loads(r[3])} for r in rows]

    async def conversation_owner(self, conv_id: str) -> str | None:
        q = select(C.c.owner).where(C.c.id == conv_id)
        return await self.db.read(lambda conn: conn.scalar(q))

    async def activity(self, owner: str | None, since: int, limit: int) -> list[Row]:
        where = [R.c.created_at >= since] + ([R.c.owner == owner] if owner is not None else [])
        q = select(*SUMMARY).where(*where).order_by(R.c.created_at.desc(), R.c.id.desc()).limit(limit)
        return [summary(r) for r in await self.db.read(lambda conn: conn.execute(q).all())]
