"""Runs in the store: the job queue (claimed with leases) and the persisted stream events.

A job is claimed atomically: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, on SQLite by the single
writer's `UPDATE ... WHERE state = 'queued' RETURNING`.  A claimed job holds a lease that its
worker renews; a lease that runs out means the worker died, and recovery ends the run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from respond.core.ports import ClaimedJob, JobOrder, Row
from respond.store.database import Database, execute_rows, fetch_rows, fetch_value, run
from respond.store.rows import EventRow, JobRow
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.store.database import Conn

# The quick writes' statements (store/statement.py; on PostgreSQL, store/clauses.py's)
INSERT_EVENTS = Sql("INSERT INTO events (response_id, seq, body) VALUES (:response_id, :seq, :body)", "insert_events")
# a batch of events that may already be stored (a response's end whose commit went through, its answer did not)
INSERT_EVENTS_ONCE = Sql(INSERT_EVENTS.sqlite + " ON CONFLICT DO NOTHING", "insert_events_once")
INSERT_JOB = Sql("""INSERT INTO jobs (response_id, owner, state, request, worker, lease_until, cancel_requested,
    created_at, queued_us, due_us, chain) VALUES (:response_id, :owner, :state, :request, :worker, :lease_until,
    :cancel_requested, :created_at, :queued_us, :due_us, :chain)""", "insert_job")
FINISH_JOB = Sql("UPDATE jobs SET state=:state WHERE jobs.response_id = :rid", "finish_job")
FINISH_JOB_DONE = Sql("UPDATE jobs SET state=:state, request=:request WHERE jobs.response_id = :rid", "finish_job_done")
UPDATE_SNAPSHOT = Sql("UPDATE responses SET status=:status, body=:body WHERE responses.id = :rid", "update_snapshot")


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
_CLAIM_PG = Sql(
    f"""
    UPDATE jobs SET state = 'running', worker = :worker, lease_until = :lease
    WHERE response_id = ({_NEXT} FOR UPDATE OF j SKIP LOCKED LIMIT 1)
    RETURNING response_id, owner, request
    """
)
_CLAIM_SQLITE = Sql(
    f"""
    UPDATE jobs SET state = 'running', worker = :worker, lease_until = :lease
    WHERE response_id = ({_NEXT} LIMIT 1) AND state = 'queued'
    RETURNING response_id, owner, request
    """
)

# The reads, and the writes that are not quick: the same SQL on both databases (booleans: a column alone is a
# condition, TRUE a value, on both)
_ANY_QUEUED = Sql("SELECT response_id FROM jobs WHERE state = 'queued' LIMIT 1")
# a stream that follows a run reads these after each batch of its events (prepared statements on PostgreSQL)
_STATUS = Sql("SELECT status FROM responses WHERE id = :rid AND owner = :owner")
_EVENTS = Sql("SELECT body FROM events WHERE response_id = :rid AND seq > :after ORDER BY seq LIMIT :limit")
_RENEW = "UPDATE jobs SET lease_until = :lease WHERE worker = :worker AND state = 'running'"
_RENEW_ALL = Sql(_RENEW)
_CANCELLED = Sql("SELECT response_id FROM jobs WHERE worker = :worker AND state = 'running' AND cancel_requested")
_EXPIRED = Sql("SELECT response_id, owner, lease_until FROM jobs WHERE state = 'running' AND lease_until < :now")
_HELD_BY_OTHERS = Sql("SELECT response_id, owner, lease_until FROM jobs WHERE state = 'running' AND worker != :worker")
_CANCEL_QUEUED = Sql("""UPDATE jobs SET state = 'done', cancel_requested = TRUE, request = NULL
    WHERE response_id = :rid AND state = 'queued'""")
_REQUEST_CANCEL = Sql("UPDATE jobs SET cancel_requested = TRUE WHERE response_id = :rid AND state = 'running'")
_DROP_EVENTS = Sql("DELETE FROM events WHERE response_id = :rid AND seq >= :keep")
_REQUEUE = Sql("UPDATE jobs SET state = 'queued', worker = NULL, lease_until = 0 WHERE response_id = :rid")


def _renew_some(n: int) -> Sql:
    """The renewal of n runs' leases: an `IN` of n parameters, its SQL made per call (sqlite3 and SQLAlchemy
    keep their statements by their SQL)."""
    return Sql(_RENEW + " AND response_id IN (" + ", ".join(f":a{k}" for k in range(n)) + ")")


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
        who = {"worker": worker}
        stmt = _RENEW_ALL if alive is None else _renew_some(len(alive))
        params = {"worker": worker, "lease": now_ms() + lease_ms,
                  **{f"a{k}": rid for k, rid in enumerate(alive or [])}}

        def cancelled(conn: Conn) -> list[str]:
            return [r[0] for r in fetch_rows(conn, _CANCELLED, who)]

        def write(conn: Conn) -> list[str]:
            run(conn, stmt, params)
            return cancelled(conn)

        if alive is not None and not alive:
            # No run of this worker's is alive: nothing to extend, only a read.  (On SQLite a write takes
            # the one write lock on the writer thread, which under load holds it for milliseconds while
            # it waits for the GIL; the event loop's group commits of those milliseconds wait for it and
            # then run one write at a time: every few seconds, the slowest 1 % of requests at 64 clients.)
            return await self.db.read(cancelled, lite=True)
        return await self.db.write(write, lite=True)

    async def finish_job(self, response_id: str) -> None:
        row = {"rid": response_id, "state": "done", "request": None}
        await self.db.write(lambda conn: execute_rows(conn, FINISH_JOB_DONE, row), lite=True)

    async def cancel_queued(self, response_id: str) -> bool:
        """Take a job that has not started off the queue; True if it was still queued."""
        return bool(await self.db.write(lambda conn: run(conn, _CANCEL_QUEUED, {"rid": response_id}), lite=True))

    async def request_cancel(self, response_id: str) -> None:
        await self.db.write(lambda conn: run(conn, _REQUEST_CANCEL, {"rid": response_id}), lite=True)

    async def requeue(self, response_id: str, response: Row, keep_events: int = 0) -> None:
        """Put a run back on the queue from scratch (graceful shutdown): its events are dropped but
        the first `keep_events` (those it got when it was queued)."""
        snapshot = {"rid": response_id, "status": response["status"], "body": orjson.dumps(response).decode()}

        def write(conn: Conn) -> None:
            run(conn, _DROP_EVENTS, {"rid": response_id, "keep": keep_events})
            execute_rows(conn, UPDATE_SNAPSHOT, snapshot)
            run(conn, _REQUEUE, {"rid": response_id})

        await self.db.write(write, lite=True)

    async def expired_jobs(self, *, any_worker_but: str | None = None) -> list[Row]:
        """Running jobs whose lease ran out (or, with `any_worker_but`, held by any other worker)."""
        rows = await (self.db.fetch(_HELD_BY_OTHERS, {"worker": any_worker_but}) if any_worker_but
                      else self.db.fetch(_EXPIRED, {"now": now_ms()}))
        return [{"response_id": r[0], "owner": r[1], "lease_until": r[2]} for r in rows]

    # -- events ----------------------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[Row], snapshot: Row | None) -> None:
        """Persist a batch of stream events and, with it, the response's current snapshot."""
        rows = event_rows_of(response_id, events)
        snap = orjson.dumps(snapshot).decode() if snapshot is not None else None
        status = snapshot["status"] if snapshot is not None else None

        def write(conn: Conn) -> None:
            if rows:
                execute_rows(conn, INSERT_EVENTS, rows)
            if snap is not None:
                execute_rows(conn, UPDATE_SNAPSHOT, {"rid": response_id, "status": status, "body": snap})

        await self.db.write(write, quick=True, lite=True)

    async def read_events(self, response_id: str, owner: str, after: int,
                          limit: int = 500) -> tuple[list[Row], str] | None:
        """Events after `after` and the response's status; None if not found for this owner."""
        who, which = {"rid": response_id, "owner": owner}, {"rid": response_id, "after": after, "limit": limit}
        if self.dialect == "postgresql":  # two prepared statements on the asyncpg pool (Database.fetch)
            status = await self.db.scalar(_STATUS, who)  # the status first (see below)
            if status is None:
                return None
            return [orjson.loads(r[0]) for r in await self.db.fetch(_EVENTS, which)], status

        def read(conn: Conn) -> tuple[list[Any], str] | None:
            # the status first: a terminal status read here means every event is already stored
            status = fetch_value(conn, _STATUS, who)
            if status is None:
                return None
            return [r[0] for r in fetch_rows(conn, _EVENTS, which)], status

        got = await self.db.read(read, lite=True)
        if got is None:
            return None
        return [orjson.loads(b) for b in got[0]], got[1]
