"""Runs in the store: the job queue (claimed with leases) and the persisted stream events.

A job is claimed atomically: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, on SQLite by the single
writer's `UPDATE ... WHERE state = 'queued' RETURNING`.  A claimed job holds a lease that its
worker renews; a lease that runs out means the worker died, and recovery ends the run.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, and_, bindparam, insert, select, text, update

from respond.core.ports import ClaimedJob, JobOrder, Row
from respond.store import schema
from respond.store.database import Database, execute_rows
from respond.store.rows import EventRow, JobRow

R, E, J = schema.responses, schema.events, schema.jobs
# built once: a statement built per call is keyed for SQLAlchemy's compiled cache every time
_INSERT_EVENTS = insert(E)
_UPDATE_SNAPSHOT = update(R).where(R.c.id == bindparam("rid")).values(status=bindparam("status"),
                                                                    body=bindparam("body"))
T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


# The next job: the earliest due (engine/background/queue.py: a completion window's deadline, `soonest` its queue
# time), and none of a chain while one of that owner's chain queued before it is unfinished.  On
# PostgreSQL, other processes' claims are skipped (SKIP LOCKED), never waited for.
_NEXT = """
    SELECT j.response_id FROM jobs j WHERE j.state = 'queued' AND (j.chain IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs k WHERE k.owner = j.owner AND k.chain = j.chain AND k.state <> 'done'
          AND (k.queued_us < j.queued_us OR (k.queued_us = j.queued_us AND k.response_id < j.response_id))))
    ORDER BY j.due_us, j.queued_us, j.response_id"""
_CLAIM_PG = text(
    f"""
    UPDATE jobs SET state = 'running', worker = :worker, lease_until = :lease
    WHERE response_id = ({_NEXT} FOR UPDATE OF j SKIP LOCKED LIMIT 1)
    RETURNING response_id, owner, request
    """
)
_CLAIM_SQLITE = text(
    f"""
    UPDATE jobs SET state = 'running', worker = :worker, lease_until = :lease
    WHERE response_id = ({_NEXT} LIMIT 1) AND state = 'queued'
    RETURNING response_id, owner, request
    """
)


_ANY_QUEUED = select(J.c.response_id).where(J.c.state == "queued").limit(1)
# a stream that follows a run reads these after each batch of its events: built once (prepared statements)
_STATUS = select(R.c.status).where(R.c.id == bindparam("rid"), R.c.owner == bindparam("owner"))
_EVENTS = select(E.c.body).where(E.c.response_id == bindparam("rid"), E.c.seq > bindparam("after")) \
    .order_by(E.c.seq).limit(bindparam("limit"))


def job_row(response_id: str, owner: str, state: str, request: Any | None, worker: str | None,
            lease_ms: int, order: JobOrder | None = None) -> JobRow:
    order = order or JobOrder(0, 0)
    return {"response_id": response_id, "owner": owner, "state": state,
            "request": orjson.dumps(request).decode() if request is not None else None,
            "worker": worker, "lease_until": now_ms() + lease_ms, "cancel_requested": False,
            "created_at": now_ms(), "queued_us": order.queued_us, "due_us": order.due_us, "chain": order.chain}


def event_rows_of(response_id: str, events: list[Row]) -> list[EventRow]:
    return [{"response_id": response_id, "seq": ev["sequence_number"], "body": orjson.dumps(ev).decode()}
            for ev in events]


class RunsMixin:
    db: Database
    dialect: str

    async def claim_job(self, worker: str, lease_ms: int) -> ClaimedJob | None:
        # A read first: idle workers poll, and an idle poll must not be a write transaction.
        if await self.db.scalar(_ANY_QUEUED) is None:
            return None
        stmt = _CLAIM_PG if self.dialect == "postgresql" else _CLAIM_SQLITE
        params = {"worker": worker, "lease": now_ms() + lease_ms}
        rows = await self.db.write_returning(stmt, params)  # one statement: its own transaction
        if not rows:
            return None
        row = rows[0]
        return {"response_id": row[0], "owner": row[1], "request": orjson.loads(row[2]) if row[2] else None}

    async def renew_leases(self, worker: str, lease_ms: int, alive: list[str] | None = None) -> list[str]:
        """Extend this worker's leases (with `alive`, only those runs': the ones whose task still runs);
        returns the ids of its runs whose cancel was requested."""
        cond = and_(J.c.worker == worker, J.c.state == "running")
        if alive is not None:
            cond = and_(cond, J.c.response_id.in_(alive))

        def cancelled(conn: Connection) -> list[str]:
            return [r[0] for r in conn.execute(select(J.c.response_id).where(
                J.c.worker == worker, J.c.state == "running", J.c.cancel_requested.is_(True))).all()]

        def write(conn: Connection) -> list[str]:
            conn.execute(update(J).where(cond).values(lease_until=now_ms() + lease_ms))
            return cancelled(conn)

        if alive is not None and not alive:
            # No run of this worker's is alive: nothing to extend, only a read.  (On SQLite a write takes
            # the one write lock on the writer thread, which under load holds it for milliseconds while
            # it waits for the GIL; the event loop's group commits of those milliseconds wait for it and
            # then run one write at a time: every few seconds, the slowest 1 % of requests at 64 clients.)
            return await self.db.read(cancelled)
        return await self.db.write(write)

    async def finish_job(self, response_id: str) -> None:
        stmt = update(J).where(J.c.response_id == response_id).values(state="done", request=None)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def cancel_queued(self, response_id: str) -> bool:
        """Take a job that has not started off the queue; True if it was still queued."""
        stmt = update(J).where(J.c.response_id == response_id, J.c.state == "queued").values(
            state="done", cancel_requested=True, request=None)
        return bool(await self.db.write(lambda conn: conn.execute(stmt).rowcount))

    async def request_cancel(self, response_id: str) -> None:
        stmt = update(J).where(J.c.response_id == response_id, J.c.state == "running").values(cancel_requested=True)
        await self.db.write(lambda conn: conn.execute(stmt))

    async def requeue(self, response_id: str, response: Row, keep_events: int = 0) -> None:
        """Put a run back on the queue from scratch (graceful shutdown): its events are dropped but
        the first `keep_events` (those it got when it was queued)."""
        def write(conn: Connection) -> None:
            conn.execute(E.delete().where(E.c.response_id == response_id, E.c.seq >= keep_events))
            conn.execute(update(R).where(R.c.id == response_id).values(
                status=response["status"], body=orjson.dumps(response).decode()))
            conn.execute(update(J).where(J.c.response_id == response_id).values(
                state="queued", worker=None, lease_until=0))

        await self.db.write(write)

    async def expired_jobs(self, *, any_worker_but: str | None = None) -> list[Row]:
        """Running jobs whose lease ran out (or, with `any_worker_but`, held by any other worker)."""
        cond = J.c.state == "running"
        cond = and_(cond, J.c.worker != any_worker_but) if any_worker_but else and_(cond, J.c.lease_until < now_ms())
        rows = await self.db.read(lambda conn: conn.execute(
            select(J.c.response_id, J.c.owner, J.c.lease_until).where(cond)).all())
        return [{"response_id": r[0], "owner": r[1], "lease_until": r[2]} for r in rows]

    # -- events ----------------------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[Row], snapshot: Row | None) -> None:
        """Persist a batch of stream events and, with it, the response's current snapshot."""
        rows = event_rows_of(response_id, events)
        snap = orjson.dumps(snapshot).decode() if snapshot is not None else None
        status = snapshot["status"] if snapshot is not None else None

        def write(conn: Connection) -> None:
            if rows:
                execute_rows(conn, _INSERT_EVENTS, rows)
            if snap is not None:
                execute_rows(conn, _UPDATE_SNAPSHOT, {"rid": response_id, "status": status, "body": snap})

        await self.db.write(write, quick=True)

    async def read_events(self, response_id: str, owner: str, after: int,
                          limit: int = 500) -> tuple[list[Row], str] | None:
        """Events after `after` and the response's status; None if not found for this owner."""
        who, which = {"rid": response_id, "owner": owner}, {"rid": response_id, "after": after, "limit": limit}
        if self.dialect == "postgresql":  # two prepared statements on the asyncpg pool (Database.fetch)
            status = await self.db.scalar(_STATUS, who)  # the status first (see below)
            if status is None:
                return None
            return [orjson.loads(r[0]) for r in await self.db.fetch(_EVENTS, which)], status

        def read(conn: Connection) -> tuple[list[Any], str] | None:
            # the status first: a terminal status read here means every event is already stored
            status = conn.scalar(_STATUS, who)
            if status is None:
                return None
            return list(conn.execute(_EVENTS, which).scalars().all()), status

        got = await self.db.read(read)
        if got is None:
            return None
        return [orjson.loads(b) for b in got[0]], got[1]
