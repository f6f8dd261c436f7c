"""Issue 11 item 3, in process: leases are renewed only for runs whose task is alive, and a run whose
task died (its final write failed while the database was away, say) is reclaimed and ends `failed`
instead of staying `in_progress` for ever.  A run alive through an outage is never reclaimed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from respond.engine.background.workers import RunManager
from respond.engine.service import ResponsesService
from respond.protocol.ids import new_id
from respond.store.sql import SqlStore
from tests.unit.conftest import OWNER


async def _leased(store: SqlStore, worker: str) -> str:
    rid = new_id("resp")
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "status": "in_progress",
                "output": [], "model": "scripted", "background": False, "error": None}
    await store.start_response(response, OWNER, [], worker=worker, lease_ms=1)  # expires at once
    await asyncio.sleep(0.01)
    return rid


async def _upkeep(runs: RunManager, store: SqlStore) -> None:
    """What one turn of the lease loop does."""
    alive = runs.service.hub.live.alive()
    await store.renew_leases(runs.worker_id, 15_000, alive)
    await runs.recover(alive=set(alive))


async def test_a_dead_tasks_run_is_reclaimed_and_a_live_one_is_not(service: ResponsesService,
                                                                  store: SqlStore) -> None:
    runs = RunManager(service, workers=0, single_process=False)
    dead, live = await _leased(store, runs.worker_id), await _leased(store, runs.worker_id)
    async def executes(rid: str, seconds: float) -> None:  # as Run.events does
        service.hub.live.attach(rid)
        await asyncio.sleep(seconds)

    for rid in (dead, live):
        service.hub.live.track(rid)
    await asyncio.create_task(executes(dead, 0))  # its task ended without ending the run
    running = asyncio.create_task(executes(live, 30))
    await asyncio.sleep(0)
    try:
        assert sorted(service.hub.live.alive()) == [live]
        await _upkeep(runs, store)  # first sighting of the expired lease: only a suspect
        assert (await store.get_response(dead, OWNER) or {})["status"] == "in_progress"
        await _upkeep(runs, store)  # seen expired and unchanged twice: reclaimed
        reclaimed = await store.get_response(dead, OWNER) or {}
        assert reclaimed["status"] == "failed" and "interrupted" in reclaimed["error"]["message"]
        assert (await store.get_response(live, OWNER) or {})["status"] == "in_progress"  # renewed, kept
        assert [j["response_id"] for j in await store.expired_jobs()] == []
    finally:
        running.cancel()


async def test_with_no_live_run_the_upkeep_reads_and_does_not_write(store: SqlStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No run of this worker alive: nothing to extend, so no write transaction (on SQLite it would take
    the write lock that the event loop's group commits wait for); its runs whose cancel was requested are
    still returned."""
    rid = await _leased(store, "worker-a")
    await store.request_cancel(rid)
    writes = []
    write = store.db.write

    async def counted(fn: Any, quick: bool = False, **kw: Any) -> Any:
        writes.append(quick)
        return await write(fn, quick, **kw)

    monkeypatch.setattr(store.db, "write", counted)
    assert await store.renew_leases("worker-a", 15_000, []) == [rid]
    assert writes == []
    assert await store.renew_leases("worker-a", 15_000, [rid]) == [rid]  # a live run: its lease extended
    assert writes == [False]
