"""Two `respond serve` processes on one PostgreSQL database share the work."""

from __future__ import annotations

import time

import pytest

from tests.test_background import sse_events, wait_status


@pytest.fixture
def pair(server_factory, upstream, pg_database):
    a = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "2",
                       database=pg_database)
    b = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "2",
                       database=pg_database)
    return a, b


def test_each_background_run_executes_once(pair, upstream):
    a, b = pair
    n = 12
    upstream.reply(*[{"content": f"job {i}", "chunks": 3, "chunk_delay": 0.05} for i in range(n)])
    ids = [a.client().responses.create(model="scripted", input=f"q{i}", background=True).id for i in range(n)]
    done = [wait_status(b.client(), rid, {"completed"}, timeout=60) for rid in ids]
    assert len(upstream.requests()) == n  # no run executed twice
    assert sorted(r.output_text for r in done) == sorted(f"job {i}" for i in range(n))
    # both processes took work: each log names the runs it executed... via the job table's worker column
    import asyncio

    import asyncpg

    async def workers() -> set[str]:
        conn = await asyncpg.connect(a.database)
        try:
            rows = await conn.fetch("SELECT DISTINCT worker FROM jobs WHERE response_id = ANY($1::text[])", ids)
        finally:
            await conn.close()
        return {r["worker"] for r in rows}

    assert len(asyncio.run(workers())) == 2


def test_cross_replica_retrieve_cancel_and_resume(pair, upstream):
    a, b = pair
    upstream.reply({"content": "step " * 60, "chunks": 60, "chunk_delay": 0.1})
    r = a.client().responses.create(model="scripted", input="long", background=True)
    wait_status(b.client(), r.id, {"in_progress"})
    # resume the stream from the other process while it runs
    with b.http().stream("GET", f"/responses/{r.id}", params={"stream": "true", "starting_after": 0}) as resp:
        head = sse_events(resp, stop_after=5)
    assert [e["sequence_number"] for e in head] == [1, 2, 3, 4, 5]
    time.sleep(0.3)
    cancelled = b.client().responses.cancel(r.id)  # whichever process runs it stops it
    assert cancelled.status == "cancelled"
    assert a.client().responses.retrieve(r.id).status == "cancelled"
    text = a.client().responses.retrieve(r.id).output[0].content[0].text
    assert 0 < len(text) < len("step " * 60)
