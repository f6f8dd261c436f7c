"""Migrations 0011 and jobs_0002 (store/partial_indexes.py): partial list indexes, `ix_jobs_worker` and
`ix_jobs_state_created` gone.

- On a database made by the steps before them, holding responses and jobs, the steps run, the indexes
  are partial, and the list queries and the job queue answer as before.
- Each query whose index changed (and each of the job table's) still uses an index: its plan names
  it, on SQLite and on PostgreSQL (tests/unit/store/plans.py: the generic plan, any parameter values).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from respond.core.listing import ResponseFilter
from respond.store.jobs import _CLAIM_PG, _CLAIM_SQLITE
from respond.store.migrations import migrate, ordered
from respond.store.sql import SqlStore
from tests.test_migrations import empty_db  # noqa: F401  (the fixture: a new database on each dialect)
from tests.unit.store.plans import explained

RUNS = ["queued", "in_progress", "failed"]
PARTIAL = {"ix_responses_previous", "ix_responses_background_created", "ix_responses_background_owner_created",
           "ix_responses_owner_status_created", "ix_jobs_owner_chain"}
RESPONSES = [  # id, owner, created_at, status, previous, background
    ("resp_1", "o", 100, "completed", None, False),
    ("resp_2", "o", 200, "failed", "resp_1", True),
    ("resp_3", "o", 300, "queued", None, True),
    ("resp_4", "p", 400, "completed", "resp_1", False),
    ("resp_5", "o", 500, "failed", None, False),
]
JOBS = [  # response_id, owner, state, worker, queued_us, chain
    ("resp_2", "o", "done", "w1", 1, None),
    ("resp_3", "o", "queued", None, 3, "c"),
]


async def _old_database(url: str) -> SqlStore:
    """A store on a database made by every step before 0011, with rows in it."""
    store = SqlStore(url)
    steps = ordered()
    before = steps[:[name for name, _ in steps].index("0011_partial_indexes")]
    await migrate(store.db, before)
    async with store.db.begin() as conn:
        for rid, owner, created, status, prev, background in RESPONSES:
            body = f'{{"id":"{rid}","model":"m","status":"{status}","created_at":{created}}}'
            await conn.execute(text(
                "INSERT INTO responses (id, owner, created_at, status, previous_response_id, background, body, model) "
                "VALUES (:id, :owner, :created, :status, :prev, :bg, :body, 'm')"),
                {"id": rid, "owner": owner, "created": created, "status": status, "prev": prev, "bg": background,
                 "body": body})
        for rid, owner, state, worker, queued, chain in JOBS:
            await conn.execute(text(
                "INSERT INTO jobs (response_id, owner, state, request, worker, lease_until, cancel_requested, "
                "created_at, queued_us, due_us, chain) VALUES (:rid, :owner, :state, '{}', :worker, 0, false, "
                ":queued, :queued, :queued, :chain)"),
                {"rid": rid, "owner": owner, "state": state, "worker": worker, "queued": queued, "chain": chain})
    return store


async def _indexes(store: SqlStore) -> dict[str, str]:
    sql = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
           if store.dialect == "sqlite" else "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    async with store.db.begin() as conn:
        return {name: definition for name, definition in (await conn.execute(text(sql))).all()}


def test_the_step_upgrades_a_database_with_rows(empty_db: str) -> None:  # noqa: F811
    async def run() -> None:
        store = await _old_database(empty_db)
        try:
            assert {"ix_jobs_worker", "ix_jobs_state_created"} <= set(await _indexes(store))
            assert await migrate(store.db) == ["0011_partial_indexes", "jobs_0002_one_state_index"]
            indexes = await _indexes(store)
            assert not {"ix_jobs_worker", "ix_jobs_state_created"} & set(indexes)
            for name in PARTIAL:
                assert " WHERE " in indexes[name].upper(), indexes[name]

            def ids(rows: list[Any]) -> list[str]:
                return [r["id"] for r in rows]

            assert sorted(ids(await store.next_responses("resp_1", None))) == ["resp_2", "resp_4"]
            assert ids(await store.next_responses("resp_1", "p")) == ["resp_4"]
            assert ids(await store.list_runs(None, RUNS, limit=10)) == ["resp_3", "resp_2"]
            assert ids(await store.list_runs("p", RUNS, limit=10)) == []
            page = await store.list_responses("o", ResponseFilter(status="failed"), cursor=None, limit=10)
            assert ids(page.rows) == ["resp_5", "resp_2"]
            page = await store.list_responses("o", ResponseFilter(status="completed"), cursor=None, limit=10)
            assert ids(page.rows) == ["resp_1"]
            page = await store.list_responses(None, ResponseFilter(background=True), cursor=None, limit=10)
            assert ids(page.rows) == ["resp_3", "resp_2"]
            page = await store.list_responses(None, ResponseFilter(background=False), cursor=None, limit=10)
            assert ids(page.rows) == ["resp_5", "resp_4", "resp_1"]
            stats = await store.queue_stats()
            assert (stats.queued, stats.running) == (1, 0) and stats.oldest_queued_age > 0
            claimed = await store.claim_job("w2", 60_000)
            assert claimed is not None and claimed["response_id"] == "resp_3"
            assert await store.renew_leases("w2", 60_000) == []
            assert [j["response_id"] for j in await store.expired_jobs(any_worker_but="w1")] == ["resp_3"]
        finally:
            await store.close()

    asyncio.run(run())


Call = Callable[[SqlStore], Awaitable[Any]]


def _claim(store: SqlStore) -> Awaitable[Any]:  # the claim's UPDATE itself (claim_job reads first, then writes)
    return store.db.write_returning(_CLAIM_PG if store.dialect == "postgresql" else _CLAIM_SQLITE,
                                    {"worker": "w", "lease": 1})


F = ResponseFilter
BG = {"ix_responses_background_created", "ix_responses_background_owner_created"}
# each query whose index 0011 changed or dropped, and the indexes (one of which) its plan must name
QUERIES: list[tuple[str, Call, set[str]]] = [
    ("next, an owner's", lambda s: s.next_responses("resp_x", "o"), {"ix_responses_previous"}),
    ("next, any owner's", lambda s: s.next_responses("resp_x", None), {"ix_responses_previous"}),
    ("runs, an owner's", lambda s: s.list_runs("o", RUNS, limit=10), {"ix_responses_background_owner_created"}),
    ("runs, every owner's", lambda s: s.list_runs(None, RUNS, limit=10), BG),
    ("background, an owner's", lambda s: s.list_responses("o", F(background=True), cursor=None, limit=10),
     {"ix_responses_background_owner_created"}),
    ("background, every owner's", lambda s: s.list_responses(None, F(background=True), cursor=None, limit=10), BG),
    ("not background", lambda s: s.list_responses(None, F(background=False), cursor=None, limit=10),
     {"ix_responses_created"}),
    ("failed, an owner's", lambda s: s.list_responses("o", F(status="failed"), cursor=None, limit=10),
     {"ix_responses_owner_status_created"}),
    ("failed, every owner's", lambda s: s.list_responses(None, F(status="failed"), cursor=None, limit=10),
     {"ix_responses_owner_status_created", "ix_responses_created"}),
    ("completed, an owner's", lambda s: s.list_responses("o", F(status="completed"), cursor=None, limit=10),
     {"ix_responses_owner_created"}),
    ("renew leases", lambda s: s.renew_leases("w", 1000, None), {"ix_jobs_state_due"}),
    ("renew some leases", lambda s: s.renew_leases("w", 1000, ["resp_a"]), {"ix_jobs_state_due"}),
    ("cancels asked for", lambda s: s.renew_leases("w", 1000, []), {"ix_jobs_state_due"}),
    ("expired jobs", lambda s: s.expired_jobs(), {"ix_jobs_state_due"}),
    ("jobs of other workers", lambda s: s.expired_jobs(any_worker_but="w"), {"ix_jobs_state_due"}),
    ("claim", _claim, {"ix_jobs_owner_chain"}),
    ("queue stats", lambda s: s.queue_stats(), {"ix_jobs_state_due"}),
]
_FULL_SCAN = re.compile(r"^\s*SCAN (responses|jobs|j|k)$|Seq Scan", re.M)


@pytest.mark.parametrize(("name", "call", "wanted"), QUERIES, ids=[q[0] for q in QUERIES])
def test_each_query_uses_an_index(empty_db: str, name: str, call: Call, wanted: set[str]) -> None:  # noqa: F811
    async def run() -> list[str]:
        store = SqlStore(empty_db)
        await store.open()
        try:
            return await explained(store, lambda: call(store))
        finally:
            await store.close()

    plans = asyncio.run(run())
    text_ = "\n".join(plans)
    assert plans and any(index in text_ for index in wanted), (name, text_)
    assert not _FULL_SCAN.search(text_), (name, text_)
