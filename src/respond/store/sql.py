"""The store ports on SQLAlchemy 2 Core: SQLite (WAL) or PostgreSQL, through one `Database`.

Every operation is a function of a connection run as one `Database.read` or `.write`
(store/database.py: how a transaction runs on each dialect).  The same statements run on both;
the few dialect differences (upsert, claim) are chosen here and in store/jobs.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ARRAY, Connection, String, any_, bindparam, delete, insert, select, text

from respond.core.ports import JobOrder, Row, Store
from respond.core.storage import FileStore as FileStorePort
from respond.core.storage import UnitOfWork, VectorIndex
from respond.store import deferred, schema
from respond.store.conversations import ConversationsMixin, conversation_rows
from respond.store.database import Database, execute_rows
from respond.store.jobs import RunsMixin, event_rows_of, job_row
from respond.store.journal import Write
from respond.store.listing import ListingMixin
from respond.store.listing_migration import metadata_rows, preview
from respond.store.migrations import upgrade
from respond.store.replay import JournalMixin
from respond.store.rows import ItemRow, JobRow, ResponseRow
from respond.store.tenants import SqlTenants

log = logging.getLogger("respond.store")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()

R, IT = schema.responses, schema.items

_CONTEXT = text(
    """
    WITH RECURSIVE chain(id, prev, depth) AS (
        SELECT id, previous_response_id, 0 FROM responses WHERE id = :rid AND owner = :owner
        UNION ALL
        SELECT r.id, r.previous_response_id, c.depth + 1
        FROM responses r JOIN chain c ON r.id = c.prev
        WHERE r.owner = :owner
    )
    SELECT c.depth, i.body FROM chain c LEFT JOIN items i ON i.response_id = c.id
    ORDER BY c.depth DESC, i.position
    """
)


# a response's input items, a page at a time (GET /responses/{id}/input_items): built once
_INPUTS = select(IT.c.body).where(IT.c.response_id == bindparam("rid"), IT.c.kind == 0)
_INPUT_AT = select(IT.c.position).where(IT.c.response_id == bindparam("rid"), IT.c.kind == 0,
                                        IT.c.id == bindparam("after"))
_PAGES = {(asc, bounded): (_INPUTS.where(IT.c.position > bindparam("pos") if asc else IT.c.position < bindparam("pos"))
                           if bounded else _INPUTS)
          .order_by(IT.c.position.asc() if asc else IT.c.position.desc()).limit(bindparam("limit"))
          for asc in (True, False) for bounded in (True, False)}


class SqlStore(JournalMixin, RunsMixin, ConversationsMixin, ListingMixin):
    """Every store port on one SQL database: each operation is a `Database.read` or `.write`."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.url = self.db.url
        self.dialect = self.db.name
        self._statements()
        # file_search's storage, on the same database (the FileStore and VectorIndex ports); these four
        # adapters (and SQLAlchemy with them) are made on first use (store/deferred.py)
        self.files = deferred.files(self.db)
        self.vectors = deferred.vectors(self.db)
        self.containers = deferred.containers(self.db)  # code_interpreter's (the core.containers port)
        self.sessions = deferred.sessions(self.db)  # the dashboard's (the core.sessions port)
        self.tenants = SqlTenants(self.db)  # stored keys, their rate counters, usage (core.tenants ports)

    async def open(self) -> None:
        await upgrade(self.db)  # SQLite at head: sqlite3 alone
        await self.start_journal()

    async def close(self) -> None:
        await self.stop_journal()
        await self.tenants.close()  # the usage rows that wait (store/tenants.py writes them behind)
        await self.db.close()

    async def renew_leases(self, worker: str, lease_ms: int, alive: list[str] | None = None) -> list[str]:
        """A run whose end waits in the journal is still this process's: its lease is kept."""
        if alive is not None and self.journal is not None and self.journal.pending:
            alive = [*alive, *self.journal.pending_ids()]
        return await super().renew_leases(worker, lease_ms, alive)

    def _statements(self) -> None:
        """The hot statements, built once: executed with parameters, they skip SQLAlchemy's
        per-call statement construction and cache-key generation."""
        up = schema.upsert(self.dialect, R)
        self._upsert_response = up.on_conflict_do_update(
            index_elements=["id"], set_={"status": up.excluded.status, "body": up.excluded.body})
        self._insert_response = insert(R)
        self._insert_items = insert(IT)
        self._insert_metadata = insert(schema.response_metadata)
        self._delete_outputs = delete(IT).where(IT.c.response_id == bindparam("rid"), IT.c.kind == 1)
        self._insert_events = schema.upsert(self.dialect, schema.events).on_conflict_do_nothing()
        self._insert_new_events = insert(schema.events)
        self._insert_job = insert(schema.jobs)
        self._finish_job = schema.jobs.update().where(schema.jobs.c.response_id == bindparam("rid"))
        self._finish_job_done = self._finish_job.values(state="done", request=None)  # sealed secrets go too
        self._finish_job = self._finish_job.values(state="done")  # cancelled: a graceful stop may requeue it
        self._insert_conv_items = insert(schema.conversation_items)
        self._select_body = select(R.c.body).where(R.c.id == bindparam("rid"), R.c.owner == bindparam("owner"))
        self._select_epoch = select(schema.deletions.c.epoch).where(schema.deletions.c.id == 1)
        self._select_id = select(R.c.id).where(R.c.id == bindparam("rid"), R.c.owner == bindparam("owner"))
        # items a create refers to (`item_reference`): on PostgreSQL one statement for any number of ids
        ids = IT.c.id == any_(bindparam("ids", type_=ARRAY(String))) if self.dialect == "postgresql" else None
        self._select_items = None if ids is None else select(IT.c.id, IT.c.body).where(
            ids, IT.c.owner == bindparam("owner")).order_by(IT.c.pk.desc())

    # -- the explicit writes of a response's life (each one transaction) ----------------------------
    async def insert_response(self, response: Row, owner: str, input_items: list[Row],
                              output_items: list[Row], *, conversation_id: str | None = None) -> None:
        """Store a response whole, once it is terminal (a non-streaming run); journaled if the
        database is unreachable (store/replay.py)."""
        await self.final("insert", {"response": response, "owner": owner, "input_items": input_items,
                                    "output_items": output_items, "conversation_id": conversation_id})

    def _insert_rows(self, conn: Connection, e: Write) -> None:
        response, owner, input_items = e["response"], e["owner"], e["input_items"]
        rows = self._item_rows(response["id"], owner, input_items, e["output_items"], with_inputs=True)
        self._insert_new(conn, response, owner, input_items)
        if rows:
            execute_rows(conn, self._insert_items, rows)
        self._join(conn, e["conversation_id"], input_items + e["output_items"])

    async def start_response(self, response: Row, owner: str, input_items: list[Row], *, worker: str,
                             lease_ms: int) -> None:
        """Store a response that starts running here (a stream), leased to `worker`."""
        await self._insert_with_job(response, owner, input_items, job_row(
            response["id"], owner, state="running", request=None, worker=worker, lease_ms=lease_ms))

    async def enqueue_response(self, response: Row, owner: str, input_items: list[Row], *, request: Any,
                               lease_ms: int, order: JobOrder | None = None, events: list[Row] | None = None
                               ) -> None:
        """Store a `queued` response with its job (and its first events), for a worker to claim."""
        await self._insert_with_job(response, owner, input_items, job_row(
            response["id"], owner, state="queued", request=request, worker=None, lease_ms=lease_ms, order=order),
            events)

    async def finish_response(self, response: Row, owner: str, input_items: list[Row], output_items: list[Row],
                              *, events: list[Row], conversation_id: str | None = None) -> None:
        """End a started or claimed response: its status and outputs, its last events, its job done;
        journaled if the database is unreachable (store/replay.py)."""
        await self.final("finish", {"response": response, "owner": owner, "input_items": input_items,
                                    "output_items": output_items, "events": events, "conversation_id": conversation_id})

    def _finish_rows(self, conn: Connection, e: Write) -> None:
        response, owner, input_items, output_items = e["response"], e["owner"], e["input_items"], e["output_items"]
        rid = response["id"]
        # Its input items were written when it was first stored and never change.
        rows = self._item_rows(rid, owner, input_items, output_items, with_inputs=False)
        execute_rows(conn, self._upsert_response, self._response_row(response, owner, input_items))
        execute_rows(conn, self._delete_outputs, {"rid": rid})
        if rows:
            execute_rows(conn, self._insert_items, rows)
        self._join(conn, e["conversation_id"], input_items + output_items)
        done = self._finish_job if response["status"] == "cancelled" else self._finish_job_done
        execute_rows(conn, done, {"rid": rid})
        events = e.get("events") or []
        if events:  # a batch may already be stored (its commit went through, its answer did not)
            execute_rows(conn, self._insert_events, event_rows_of(rid, events))

    async def _insert_with_job(self, response: Row, owner: str, input_items: list[Row], job: JobRow,
                               events: list[Row] | None = None) -> None:
        rows = self._item_rows(response["id"], owner, input_items, [], with_inputs=True)
        event_rows = event_rows_of(response["id"], events or [])

        def write(conn: Connection) -> None:
            self._insert_new(conn, response, owner, input_items)
            if rows:
                execute_rows(conn, self._insert_items, rows)
            execute_rows(conn, self._insert_job, job)
            if event_rows:
                execute_rows(conn, self._insert_new_events, event_rows)

        await self.db.write(write, quick=True)

    def _join(self, conn: Connection, conversation_id: str | None, items: list[Row]) -> None:
        if conversation_id:
            execute_rows(conn, self._insert_conv_items, conversation_rows(conversation_id, items))

    def _insert_new(self, conn: Connection, response: Row, owner: str, input_items: list[Row]) -> None:
        """The response row and its metadata rows (0010: what the operator's list filters read)."""
        execute_rows(conn, self._insert_response, self._response_row(response, owner, input_items))
        meta = metadata_rows(response, owner)
        if meta:
            execute_rows(conn, self._insert_metadata, meta)

    @staticmethod
    def _response_row(response: Row, owner: str, input_items: list[Row]) -> ResponseRow:
        return {"id": response["id"], "owner": owner, "created_at": response["created_at"],
                "status": response["status"], "previous_response_id": response.get("previous_response_id"),
                "background": bool(response.get("background")), "body": _dumps(response),
                "model": str(response.get("model") or "")[:128], "preview": preview(input_items)}

    @staticmethod
    def _item_rows(rid: str, owner: str, input_items: list[Row], output_items: list[Row], *,
                   with_inputs: bool) -> list[ItemRow]:
        base = len(input_items)
        rows: list[ItemRow] = [{"id": it.get("id", ""), "response_id": rid, "owner": owner, "position": n,
                                "kind": 0, "body": _dumps(it)} for n, it in enumerate(input_items)] if with_inputs else []
        return rows + [{"id": it.get("id", ""), "response_id": rid, "owner": owner, "position": base + n,
                        "kind": 1, "body": _dumps(it)} for n, it in enumerate(output_items)]

    async def update_response(self, response: Row) -> None:
        """Rewrite the body and status of a stored response (its items unchanged)."""
        stmt = R.update().where(R.c.id == response["id"]).values(status=response["status"], body=_dumps(response))
        await self.db.write(lambda conn: conn.execute(stmt))

    async def get_response(self, response_id: str, owner: str) -> Row | None:
        body = await self.db.scalar(self._select_body, {"rid": response_id, "owner": owner})
        return orjson.loads(body) if body is not None else None

    async def deletion_epoch(self) -> int:
        return int(await self.db.scalar(self._select_epoch) or 0)

    async def response_exists(self, response_id: str, owner: str) -> bool:
        return await self.db.scalar(self._select_id, {"rid": response_id, "owner": owner}) is not None

    async def delete_response(self, response_id: str, owner: str) -> bool:
        def write(conn: Connection) -> bool:
            if not conn.execute(delete(R).where(R.c.id == response_id, R.c.owner == owner)).rowcount:
                return False
            conn.execute(delete(IT).where(IT.c.response_id == response_id))
            conn.execute(delete(schema.events).where(schema.events.c.response_id == response_id))
            conn.execute(delete(schema.jobs).where(schema.jobs.c.response_id == response_id))
            # every process's cached chain contexts are confirmed against this (engine/resolve/context_cache.py)
            conn.execute(schema.deletions.update().where(schema.deletions.c.id == 1)
                         .values(epoch=schema.deletions.c.epoch + 1))
            return True

        return await self.db.write(write)

    async def load_context(self, response_id: str, owner: str) -> list[Row] | None:
        rows = await self.db.fetch(_CONTEXT, {"rid": response_id, "owner": owner})
        if not rows:
            return None
        return [orjson.loads(body) for _depth, body in rows if body is not None]

    async def list_input_items(self, response_id: str, owner: str, *, after: str | None, limit: int,
                               order: str) -> tuple[list[Row], bool] | None:
        who, asc = {"rid": response_id, "owner": owner}, order == "asc"
        at = {"rid": response_id, "after": after}

        def page(pos: int | None) -> tuple[Any, dict[str, Any]]:
            return _PAGES[asc, pos is not None], {"rid": response_id, "pos": pos, "limit": limit + 1}

        if self.dialect == "postgresql":  # prepared statements on the asyncpg pool, one after the other
            if await self.db.scalar(self._select_id, who) is None:
                return None
            stmt, params = page(None if after is None else await self.db.scalar(_INPUT_AT, at))
            bodies = [r[0] for r in await self.db.fetch(stmt, params)]
        else:
            def read(conn: Connection) -> list[Any] | None:
                if conn.scalar(self._select_id, who) is None:
                    return None
                stmt, params = page(None if after is None else conn.scalar(_INPUT_AT, at))
                return list(conn.execute(stmt, params).scalars().all())

            got = await self.db.read(read)
            if got is None:
                return None
            bodies = got
        items = [orjson.loads(b) for b in bodies[:limit]]
        return items, len(bodies) > limit

    async def get_items(self, item_ids: list[str], owner: str) -> dict[str, Row]:
        if not item_ids:
            return {}
        bodies: Sequence[Sequence[Any]]
        if self._select_items is not None:
            bodies = await self.db.fetch(self._select_items, {"ids": item_ids, "owner": owner})
        else:
            q = select(IT.c.id, IT.c.body).where(IT.c.id.in_(item_ids), IT.c.owner == owner).order_by(IT.c.pk.desc())
            bodies = await self.db.read(lambda conn: conn.execute(q).all())
        found: dict[str, Row] = {}
        for item_id, body in bodies:
            found.setdefault(item_id, orjson.loads(body))
        return found


def _conforms(store: SqlStore) -> tuple[Store, UnitOfWork[Connection], FileStorePort, VectorIndex]:
    """Checked by mypy only: the SQL adapters implement core's storage ports."""
    return store, store.db, store.files, store.vectors
