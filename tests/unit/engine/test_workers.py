"""Background runs in process: a worker claims and runs a queued job; cancel; recovery of a dead worker's run."""

from __future__ import annotations

import asyncio

from respond.backends.scripted import ScriptedBackend
from respond.engine.background.workers import INTERRUPTED, RunManager
from respond.engine.record.persistence import LEASE_MS
from respond.engine.service import ModelRouter, ResponsesService
from respond.store.sql import SqlStore
from tests.unit.conftest import OWNER


async def _until(store: SqlStore, rid: str, status: str, timeout: float = 10) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = await store.get_response(rid, OWNER)
        if got is not None and got["status"] == status:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"{rid} never became {status}")


def _manager(store: SqlStore, workers: int = 1) -> tuple[ResponsesService, RunManager]:
    wake = asyncio.Event()
    service = ResponsesService(store, ModelRouter([ScriptedBackend(reply="done here")]), on_queued=wake.set)
    return service, RunManager(service, workers=workers, poll=5, single_process=True, wake=wake)


async def test_queued_job_is_run_by_a_woken_worker(store: SqlStore) -> None:
    service, runs = _manager(store)
    await runs.start()
    try:
        response = (await service.create({"model": "scripted", "input": "hi", "background": True}, OWNER)).response
        done = await _until(store, response["id"], "completed", timeout=3)  # woken, not polled (poll=5 s)
        assert done["output"][0]["content"][0]["text"] == "done here"  # type: ignore[index]
    finally:
        await runs.stop()


async def test_cancel_a_queued_job(store: SqlStore) -> None:
    service, runs = _manager(store, workers=0)  # nobody claims it
    response = (await service.create({"model": "scripted", "input": "hi", "background": True}, OWNER)).response
    cancelled = await runs.cancel(response["id"], OWNER)
    assert cancelled["status"] == "cancelled"
    assert (await _until(store, response["id"], "cancelled"))["status"] == "cancelled"


async def test_a_dead_workers_run_ends_failed(store: SqlStore) -> None:
    service, runs = _manager(store, workers=0)
    response = (await service.create({"model": "scripted", "input": "hi", "background": True}, OWNER)).response
    assert await store.claim_job("another-process", LEASE_MS) is not None  # claimed, then that process died
    await runs.recover(at_startup=True)  # SQLite: one process, so any other worker's run is dead
    failed = await _until(store, response["id"], "failed")
    assert failed["error"] == {"code": "server_error", "message": INTERRUPTED}


async def test_a_run_cancelled_between_its_claim_and_its_start_ends_cancelled(store: SqlStore) -> None:
    """It used to stay `queued` with its job held, until recovery failed it as interrupted."""
    service, runs = _manager(store, workers=0)
    started = await service.create({"model": "scripted", "input": "hi", "background": True}, OWNER)
    job = await store.claim_job(runs.worker_id, LEASE_MS)
    assert job is not None
    task = asyncio.create_task(runs._execute(job))
    await asyncio.sleep(0)  # it began: it reads its run's context from the store
    task.cancel()
    await asyncio.wait([task])
    cancelled = await _until(store, started.response["id"], "cancelled")
    assert cancelled["status"] == "cancelled"
    assert await store.expired_jobs(any_worker_but="nobody") == []  # its job is done, not held
