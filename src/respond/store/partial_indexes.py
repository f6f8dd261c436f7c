"""Migrations 0011 and jobs_0002: indexes that hold only the rows their queries look for, and fewer of them.

Every stored response was written into all six of 0010's list indexes: on SQLite each one a page
(a WAL frame, two `pwrite64`) per commit, six of the ~14 frames of a non-stream response
(BENCHMARKS.md, issue 20).  Three of them are only ever searched for a minority of rows, so they
become partial indexes, which a response outside their condition never touches (a completed
foreground response that continues nothing: ~11 frames):

- `ix_responses_previous`: only responses that continue another (`previous_response_id = ?`
  implies `IS NOT NULL` to both planners);
- `ix_responses_background_created`: only background responses, by creation time, and beside it
  `ix_responses_background_owner_created`, an owner's (the runs page of a viewer who is not an
  admin: without it an owner's few runs were looked for among all of that owner's responses).  SQLite
  uses a partial index only for a query that carries the index's own condition, so the queries
  write `background = 1` (store/listing_queries.py: `BACKGROUND`), the same term;
- `ix_responses_owner_status_created`: only responses whose status is not `completed`, the rare
  ones a status filter looks for (failed, in progress, queued...); a query for them carries
  `status <> 'completed'` (store/listing_queries.py: `NOT_COMPLETED`), and one for completed responses, most of
  the table, walks `ix_responses_owner_created` and keeps the completed ones.

On the job table, which keeps every finished job: `ix_jobs_owner_chain` holds only jobs of a
chain (the queue's `k.chain = j.chain` implies `chain IS NOT NULL`), and `ix_jobs_worker` goes: it
held every job a worker ever ran, while its queries (lease renewal, cancels, expiry) all ask for
`state = 'running'`, which the (state, due_us) index finds among the running jobs only.
tests/test_partial_indexes.py checks the plan of each query that changed, on both databases.

Frozen DDL, per dialect only where the boolean literal differs.
"""

from __future__ import annotations

from respond.store.database import MigrationConnection

_TRUE = {"sqlite": "background = 1", "postgresql": "background"}

DDL = [
    "DROP INDEX ix_responses_previous",
    "CREATE INDEX ix_responses_previous ON responses (previous_response_id) WHERE previous_response_id IS NOT NULL",
    "DROP INDEX ix_responses_background_created",
    "CREATE INDEX ix_responses_background_created ON responses (created_at) WHERE {true}",
    "CREATE INDEX ix_responses_background_owner_created ON responses (owner, created_at) WHERE {true}",
    "DROP INDEX ix_responses_owner_status_created",
    "CREATE INDEX ix_responses_owner_status_created ON responses (owner, status, created_at) "
    "WHERE status <> 'completed'",
    "DROP INDEX ix_jobs_worker",
    "DROP INDEX ix_jobs_owner_chain",
    "CREATE INDEX ix_jobs_owner_chain ON jobs (owner, chain) WHERE chain IS NOT NULL",
]


async def partial_indexes_0011(conn: MigrationConnection) -> None:
    for statement in DDL:
        await conn.exec_driver_sql(statement.replace("{true}", _TRUE[conn.dialect.name]))


async def jobs_0002_one_state_index(conn: MigrationConnection) -> None:
    """`ix_jobs_state_created` goes: (state, due_us) finds the same jobs by state, and a job's three writes
    (queued or running, claimed, done) each touched both (~3 WAL frames a background run).  What it alone
    served, the oldest queued job's `created_at` (the dashboard's queue age), is read among the queued
    jobs that (state, due_us) finds."""
    await conn.exec_driver_sql("DROP INDEX ix_jobs_state_created")
