"""The store ports on SQLite (WAL) or PostgreSQL, through one `Database`.

Every operation is a function of a connection run as one `Database.read` or `.write`
(store/database.py: how a transaction runs on each dialect).  The same statements run on both;
the few dialect differences (upsert, claim) are chosen here and in store/jobs.py.  What a response's
life asks of the store (its writes, reads, jobs and events) is written as `Sql` constants and lite
transactions (store/statement.py): on SQLite, sqlite3 runs them without SQLAlchemy (issue 20's memory
target); the cold features (listing, files, containers, ...) load it when first used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from respond.core.ports import JobOrder, Row, Store
from respond.core.storage import FileStore as FileStorePort
from respond.core.storage import UnitOfWork, VectorIndex
from respond.store import deferred
from respond.store.conversations import ConversationsMixin, conversation_rows
from respond.store.database import Database, execute_rows, fetch_rows, fetch_value, run
from respond.store.jobs import (
    FINISH_JOB,
    FINISH_JOB_DONE,
    INSERT_EVENTS,
    INSERT_EVENTS_ONCE,
    INSERT_JOB,
    UPDATE_SNAPSHOT,
    RunsMixin,
    event_rows_of,
    job_row,
)
from respond.store.journal import Write
from respond.store.listing import ListingMixin
from respond.store.listing_migration import metadata_rows, preview
from respond.store.migrations import upgrade
from respond.store.replay import JournalMixin
from respond.store.rows import ItemRow, JobRow, ResponseRow
from respond.store.safe_escape import cut
from respond.store.statement import Sql
from respond.store.tenants import SqlTenants

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from respond.store.database import Conn

log = logging.getLogger("respond.store")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# The hot statements (store/statement.py): sqlite3 runs their SQL as written; a quick write's also stands for
# a SQLAlchemy statement on PostgreSQL (store/clauses.py).  `model`, `preview` and the metadata are
# `SafeString` columns (store/safetext.py): escaped and cut here as SQLAlchemy would.
_SAFE_RESPONSE = {"model": cut(128), "preview": cut(200)}
_RESPONSE = """INSERT INTO responses (id, owner, created_at, status, previous_response_id, background, body, model,
    preview) VALUES (:id, :owner, :created_at, :status, :previous_response_id, :background, :body, :model, :preview)"""
INSERT_RESPONSE = Sql(_RESPONSE, "insert_response", _SAFE_RESPONSE)
UPSERT_RESPONSE = Sql(_RESPONSE + " ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
                      "upsert_response", _SAFE_RESPONSE)
INSERT_ITEMS = Sql("""INSERT INTO items (id, response_id, owner, position, kind, body)
    VALUES (:id, :response_id, :owner, :position, :kind, :body)""", "insert_items")
INSERT_METADATA = Sql("""INSERT INTO response_metadata (response_id, "key", value, owner, created_at)
    VALUES (:response_id, :key, :value, :owner, :created_at)""", "insert_metadata", {"key": cut(64), "value": cut(512)})
DELETE_OUTPUTS = Sql("DELETE FROM items WHERE items.response_id = :rid AND items.kind = :kind", "delete_outputs")
INSERT_CONVERSATION_ITEMS = Sql("""INSERT INTO conversation_items (conversation_id, id, body)
    VALUES (:conversation_id, :id, :body)""", "insert_conversation_items")

# reads, and the writes that are not quick: the same SQL on both databases
SELECT_BODY = Sql("SELECT body FROM responses WHERE id = :rid AND owner = :owner")
SELECT_ID = Sql("SELECT id FROM responses WHERE id = :rid AND owner = :owner")
SELECT_EPOCH = Sql("SELECT epoch FROM response_deletions WHERE id = 1")
_CONTEXT = Sql(
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
# a response's input items, a page at a time (GET /responses/{id}/input_items)
_INPUT_AT = Sql("SELECT position FROM items WHERE response_id = :rid AND kind = 0 AND id = :after")
_PAGES = {(asc, bounded): Sql("SELECT body FROM items WHERE response_id = :rid AND kind = 0"
                              + ((" AND position > :pos" if asc else " AND position < :pos") if bounded else "")
                              + (" ORDER BY position ASC" if asc else " ORDER BY position DESC") + " LIMIT :limit")
          for asc in (True, False) for bounded in (True, False)}
# items a create refers to (`item_reference`): on PostgreSQL one statement for any number of ids; on SQLite
# an `IN` of as many parameters, its SQL made per call (sqlite3 keeps its statements by their SQL)
_ITEMS_PG = Sql("SELECT id, body FROM items WHERE id = ANY(:ids) AND owner = :owner ORDER BY pk DESC")
_DELETE_RESPONSE = Sql("DELETE FROM responses WHERE id = :rid AND owner = :owner")
_DELETE_ITEMS = Sql("DELETE FROM items WHERE response_id = :rid")
_DELETE_EVENTS = Sql("DELETE FROM events WHERE response_id = :rid")
_DELETE_JOB = Sql("DELETE FROM jobs WHERE response_id = :rid")
# every process's cached chain contexts are confirmed against this (engine/resolve/context_cache.py)
_NEXT_EPOCH = Sql("UPDATE response_deletions SET epoch = epoch + 1 WHERE id = 1")


def _items_sqlite(n: int) -> Sql:
    marks = ", ".join(f":i{k}" for k in range(n))
    return Sql(f"SELECT id, body FROM items WHERE id IN ({marks}) AND owner = :owner ORDER BY pk DESC")


class SqlStore(JournalMixin, RunsMixin, ConversationsMixin, ListingMixin):
    """Every store port on one SQL database: each operation is a `Database.read` or `.write`."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.url = self.db.url
        self.dialect = self.db.name
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

    # -- the explicit writes of a response's life (each one transaction) ----------------------------
    async def insert_response(self, response: Row, owner: str, input_items: list[Row],
                              output_items: list[Row], *, conversation_id: str | None = None) -> None:
        """Store a response whole, once it is terminal (a non-streaming run); journaled if the
        database is unreachable (store/replay.py)."""
        await self.final("insert", {"response": response, "owner": owner, "input_items": input_items,
                                    "output_items": output_items, "conversation_id": conversation_id})

    def _insert_rows(self, conn: Conn, e: Write) -> None:
        response, owner, input_items = e["response"], e["owner"], e["input_items"]
        rows = self._item_rows(response["id"], owner, input_items, e["output_items"], with_inputs=True)
        self._insert_new(conn, response, owner, input_items)
        if rows:
            execute_rows(conn, INSERT_ITEMS, rows)
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

    def _finish_rows(self, conn: Conn, e: Write) -> None:
        response, owner, input_items, output_items = e["response"], e["owner"], e["input_items"], e["output_items"]
        rid = response["id"]
        # Its input items were written when it was first stored and never change.
        rows = self._item_rows(rid, owner, input_items, output_items, with_inputs=False)
        execute_rows(conn, UPSERT_RESPONSE, self._response_row(response, owner, input_items))
        execute_rows(conn, DELETE_OUTPUTS, {"rid": rid, "kind": 1})
        if rows:
            execute_rows(conn, INSERT_ITEMS, rows)
        self._join(conn, e["conversation_id"], input_items + output_items)
        if response["status"] == "cancelled":  # a graceful stop may requeue it: its request stays
            execute_rows(conn, FINISH_JOB, {"rid": rid, "state": "done"})
        else:  # sealed secrets go too
            execute_rows(conn, FINISH_JOB_DONE, {"rid": rid, "state": "done", "request": None})
        events = e.get("events") or []
        if events:  # a batch may already be stored (its commit went through, its answer did not)
            execute_rows(conn, INSERT_EVENTS_ONCE, event_rows_of(rid, events))

    async def _insert_with_job(self, response: Row, owner: str, input_items: list[Row], job: JobRow,
                               events: list[Row] | None = None) -> None:
        rows = self._item_rows(response["id"], owner, input_items, [], with_inputs=True)
        event_rows = event_rows_of(response["id"], events or [])

        def write(conn: Conn) -> None:
            self._insert_new(conn, response, owner, input_items)
            if rows:
                execute_rows(conn, INSERT_ITEMS, rows)
            execute_rows(conn, INSERT_JOB, job)
            if event_rows:
                execute_rows(conn, INSERT_EVENTS, event_rows)

        await self.db.write(write, quick=True, lite=True)

    def _join(self, conn: Conn, conversation_id: str | None, items: list[Row]) -> None:
        if conversation_id:
            execute_rows(conn, INSERT_CONVERSATION_ITEMS, conversation_rows(conversation_id, items))

    def _insert_new(self, conn: Conn, response: Row, owner: str, input_items: list[Row]) -> None:
        """The response row and its metadata rows (0010: what the operator's list filters read)."""
        execute_rows(conn, INSERT_RESPONSE, self._response_row(response, owner, input_items))
        meta = metadata_rows(response, owner)
        if meta:
            execute_rows(conn, INSERT_METADATA, meta)

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
        row = {"rid": response["id"], "status": response["status"], "body": _dumps(response)}
        await self.db.write(lambda conn: execute_rows(conn, UPDATE_SNAPSHOT, row), lite=True)

    async def get_response(self, response_id: str, owner: str) -> Row | None:
        body = await self.db.scalar(SELECT_BODY, {"rid": response_id, "owner": owner})
        return orjson.loads(body) if body is not None else None

    async def deletion_epoch(self) -> int:
        return int(await self.db.scalar(SELECT_EPOCH) or 0)

    async def response_exists(self, response_id: str, owner: str) -> bool:
        return await self.db.scalar(SELECT_ID, {"rid": response_id, "owner": owner}) is not None

    async def delete_response(self, response_id: str, owner: str) -> bool:
        rid = {"rid": response_id}

        def write(conn: Conn) -> bool:
            if not run(conn, _DELETE_RESPONSE, {"rid": response_id, "owner": owner}):
                return False
            for stmt in (_DELETE_ITEMS, _DELETE_EVENTS, _DELETE_JOB):
                run(conn, stmt, rid)
            run(conn, _NEXT_EPOCH)
            return True

        return await self.db.write(write, lite=True)

    async def load_context(self, response_id: str, owner: str) -> list[Row] | None:
        rows = await self.db.fetch(_CONTEXT, {"rid": response_id, "owner": owner})
        if not rows:
            return None
        return [orjson.loads(body) for _depth, body in rows if body is not None]

    async def list_input_items(self, response_id: str, owner: str, *, after: str | None, limit: int,
                               order: str) -> tuple[list[Row], bool] | None:
        who, asc = {"rid": response_id, "owner": owner}, order == "asc"
        at = {"rid": response_id, "after": after}

        def page(pos: int | None) -> tuple[Sql, dict[str, Any]]:
            return _PAGES[asc, pos is not None], {"rid": response_id, "pos": pos, "limit": limit + 1}

        if self.dialect == "postgresql":  # prepared statements on the asyncpg pool, one after the other
            if await self.db.scalar(SELECT_ID, who) is None:
                return None
            stmt, params = page(None if after is None else await self.db.scalar(_INPUT_AT, at))
            bodies = [r[0] for r in await self.db.fetch(stmt, params)]
        else:
            def read(conn: Conn) -> list[Any] | None:
                if fetch_value(conn, SELECT_ID, who) is None:
                    return None
                stmt, params = page(None if after is None else fetch_value(conn, _INPUT_AT, at))
                return [r[0] for r in fetch_rows(conn, stmt, params)]

            got = await self.db.read(read, lite=True)
            if got is None:
                return None
            bodies = got
        items = [orjson.loads(b) for b in bodies[:limit]]
        return items, len(bodies) > limit

    async def get_items(self, item_ids: list[str], owner: str) -> dict[str, Row]:
        if not item_ids:
            return {}
        bodies: Sequence[Sequence[Any]]
        if self.dialect == "postgresql":
            bodies = await self.db.fetch(_ITEMS_PG, {"ids": item_ids, "owner": owner})
        else:
            params = {"owner": owner, **{f"i{k}": item_id for k, item_id in enumerate(item_ids)}}
            bodies = await self.db.fetch(_items_sqlite(len(item_ids)), params)
        found: dict[str, Row] = {}
        for item_id, body in bodies:
            found.setdefault(item_id, orjson.loads(body))
        return found


def _conforms(store: SqlStore) -> tuple[Store, UnitOfWork[Connection], FileStorePort, VectorIndex]:
    """Checked by mypy only: the SQL adapters implement core's storage ports."""
    return store, store.db, store.files, store.vectors
