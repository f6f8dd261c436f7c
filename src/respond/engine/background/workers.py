"""Background runs: workers that claim queued jobs, leases, recovery, cancel, graceful stop.

Every process runs `workers` claim loops over the shared job table (exactly one claimer wins a
job), renews the leases of what it runs, and ends runs whose worker died:

- a queued job is run by whichever process claims it first, in the queue's order (engine/background/queue.py:
  `background_options`); a run past its completion window ends `failed`;
- a running job whose lease ran out (its process was killed) is **not re-run**: its response ends
  `failed` with an error saying it was interrupted, because part of its stream may already have
  reached a client and a re-run would produce a different one.  On SQLite served by one
  process this happens at start-up at once; on PostgreSQL after the lease (15 s) runs out;
- on SIGTERM the process stops claiming, lets running jobs finish for `grace` seconds, then puts
  the rest back on the queue from scratch (their events are dropped) for another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from respond.core.logctx import request_id
from respond.core.ports import ClaimedJob
from respond.engine.background import queue
from respond.engine.record.persistence import LEASE_MS, row, typed
from respond.engine.service import ResponsesService
from respond.engine.stream.events import replay
from respond.engine.stream.include import shown_event
from respond.protocol import lifecycle
from respond.protocol.errors import invalid, not_found
from respond.protocol.lifecycle import TERMINAL
from respond.protocol.shapes import ResponseDict, StreamEvent

log = logging.getLogger("respond.runs")

INTERRUPTED = ("The run was interrupted: the server process executing it stopped before it finished "
               "(it was not re-run, as part of its output may already have been streamed). Retry the request.")


class RunManager:
    def __init__(self, service: ResponsesService, workers: int = 4, poll: float = 0.5,
                 single_process: bool = False, grace: float = 20.0, wake: asyncio.Event | None = None) -> None:
        self.service = service
        self.store = service.store
        self.workers = max(0, workers)
        self.poll = poll
        self.single_process = single_process
        self.grace = grace
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.owners: dict[str, str] = {}
        self.stopping: set[str] = set()  # runs asked to stop (cancel): their Run checks it between deltas
        self._suspects: dict[str, Any] = {}  # expired jobs seen at the last upkeep -> their lease
        self._loops: list[asyncio.Task[None]] = []
        self._wake = wake or asyncio.Event()  # set by whoever queues a job (the service's on_queued)
        self._stopping = False

    @property
    def worker_id(self) -> str:
        return self.service.worker_id

    async def start(self) -> None:
        await self.recover(at_startup=True)
        self._loops = [asyncio.create_task(self._claim_loop()) for _ in range(self.workers)]
        self._loops.append(asyncio.create_task(self._lease_loop()))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for loop in self._loops:
            loop.cancel()
        running = list(self.tasks.items())
        if running:
            log.info("waiting up to %.0fs for %d running background runs", self.grace, len(running))
            await asyncio.wait([t for _, t in running], timeout=self.grace)
        for rid, task in list(self.tasks.items()):
            owner = self.owners.get(rid, "")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            response = await self.store.get_response(rid, owner)
            if response is not None and response["status"] in lifecycle.REQUEUEABLE:
                await self.store.requeue(rid, row(lifecycle.requeue(typed(response))),
                                         keep_events=len(queue.QUEUED_EVENTS))
                log.info("requeued %s for another process", rid)

    # -- workers ---------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self._stopping:
            # cleared before the claim, not after it: a job queued while the claim looks stays a wake-up
            self._wake.clear()
            job = await self._claim()
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)
                continue
            task = asyncio.create_task(self._execute(job))
            self.tasks[job["response_id"]] = task
            self.owners[job["response_id"]] = job["owner"]
            await asyncio.wait([task])
            if task.cancelled():  # cancelled before its first step: _execute never ran
                self.tasks.pop(job["response_id"], None)
                self.owners.pop(job["response_id"], None)
                await self._never_started(job["response_id"], job["owner"])

    async def _claim(self) -> ClaimedJob | None:
        try:
            return await self.store.claim_job(self.worker_id, LEASE_MS)
        except Exception:  # a database hiccup must not kill the worker
            log.exception("claiming a job failed")
            await asyncio.sleep(self.poll)
            return None

    async def _execute(self, job: ClaimedJob) -> None:
        rid = job["response_id"]
        request_id.set(rid)  # this task's own context: every line of the run carries its response id
        start = time.perf_counter()
        status = "gone"
        log.info("background run %s started on %s", rid, self.worker_id)
        run = None
        try:
            run = await self.service.run_job(job)
            if run is not None:
                run.deadline = queue.deadline(job["request"], run.response)
                run.stopped = lambda: rid in self.stopping
                async for _ in run.events():
                    pass
                status = str(run.response.get("status"))
        except asyncio.CancelledError:
            status = "cancelled"
            if run is None:  # cancelled before its run began, so nothing of it ended it
                await self._never_started(rid, job["owner"])
        except Exception:
            status = "crashed"
            log.exception("background run %s crashed", rid)
            await self._fail(rid, job["owner"], "The run failed inside the server.")
        finally:
            self.tasks.pop(rid, None)
            self.owners.pop(rid, None)
            self.stopping.discard(rid)
            log.info("background run %s ended %s in %.1fs", rid, status, time.perf_counter() - start)

    async def _never_started(self, rid: str, owner: str) -> None:
        """A run cancelled between its claim and its start (a cancel, or a stop): still `queued`, its job
        held by this worker.  A stop puts it back on the queue; a cancel ends it `cancelled`."""
        response = await self.store.get_response(rid, owner)
        if response is None or response["status"] != "queued":
            return
        if self._stopping:
            await self.store.requeue(rid, response, keep_events=len(queue.QUEUED_EVENTS))
        else:
            cancelled = lifecycle.transition(typed(response), "cancelled")
            await self.store.update_response(row(cancelled))
            await self.store.finish_job(rid)
            if self.service.tenancy is not None:  # it never ran: its key's slot and reservation are freed
                self.service.tenancy.finished(cancelled, owner, "none", 0.0)
        self.service.hub.notify(rid)

    async def _lease_loop(self) -> None:
        interval = LEASE_MS / 1000 / 5
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                alive = self.service.hub.live.alive()
                for rid in await self.store.renew_leases(self.worker_id, LEASE_MS, alive):
                    task = self.tasks.get(rid)
                    if task is not None and rid not in self.stopping:  # once: a second would cut its ending short
                        self.stopping.add(rid)
                        task.cancel()
                await self.recover(alive=set(alive))
            except Exception as exc:  # the database is away: try again at the next turn
                log.warning("lease upkeep failed: %s", exc)

    async def recover(self, at_startup: bool = False, alive: set[str] | None = None) -> None:
        """End the runs whose process (or task) died (see the module docstring).

        A job is ended only when its lease was seen expired, unchanged, at two upkeeps in a row:
        after a database outage every lease has run out, and the process still running a job renews
        it at its next upkeep; only a job nobody renews is really abandoned."""
        if at_startup and self.single_process:
            dead = await self.store.expired_jobs(any_worker_but=self.worker_id)
        else:
            seen, self._suspects = self._suspects, {}
            dead = []
            for job in await self.store.expired_jobs():
                if job["response_id"] in (alive or ()):
                    continue
                if seen.get(job["response_id"]) == job.get("lease_until"):
                    dead.append(job)
                else:
                    self._suspects[job["response_id"]] = job.get("lease_until")
        for job in dead:
            log.warning("run %s was interrupted (its worker stopped); marking it failed", job["response_id"])
            await self._fail(job["response_id"], job["owner"], INTERRUPTED)

    async def _fail(self, rid: str, owner: str, message: str) -> None:
        """Mark a run failed; retried until the database answers (or this process stops)."""
        delay = 0.25
        while True:
            try:
                response = await self.store.get_response(rid, owner)
                if response is not None and response["status"] not in TERMINAL:
                    await self.store.update_response(row(lifecycle.fail(typed(response), message)))
                await self.store.finish_job(rid)
                break
            except Exception as exc:
                if self._stopping:
                    raise
                log.warning("marking %s failed did not work yet (%s); retrying in %.2fs", rid, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.service.hub.notify(rid)

    # -- cancel and follow -----------------------------------------------------------------------
    async def cancel(self, rid: str, owner: str, wait: float = 10.0) -> ResponseDict:
        stored = await self.store.get_response(rid, owner)
        if stored is None:
            raise not_found("Response", rid)
        response = typed(stored)
        if not response.get("background"):
            raise invalid("Only responses created with background: true can be cancelled.", None,
                          "invalid_request")
        if response["status"] in TERMINAL:
            return response
        if await self.store.cancel_queued(rid):
            await self.store.update_response(row(lifecycle.transition(response, "cancelled")))
            self.service.hub.notify(rid)
            if self.service.tenancy is not None:  # it never ran: its key's slot and reservation are freed
                self.service.tenancy.finished(response, owner, "none", 0.0)
            return response
        # The process running it (this one or another) sees the request at its next lease renewal; this
        # one's task is also cancelled at once, including when its claim was still on its way back from
        # the database when the cancel came (the task appears a moment later: looked for at each turn).
        await self.store.request_cancel(rid)
        task: asyncio.Task[None] | None = None
        if rid in self.stopping:  # asked already (a cancel before this one, or the lease upkeep)
            task = self.tasks.get(rid)
        self.stopping.add(rid)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while loop.time() < deadline:
                if task is None and (task := self.tasks.get(rid)) is not None:
                    task.cancel()
                current = await self.store.get_response(rid, owner)
                if current is None or current["status"] in TERMINAL:
                    return typed(current) if current is not None else response
                await self.service.hub.wait(rid, 0.1)
            current = await self.store.get_response(rid, owner)
            return typed(current) if current is not None else response
        finally:
            if rid not in self.tasks:
                self.stopping.discard(rid)  # not run here (another process's), or ended meanwhile

    async def follow(self, rid: str, owner: str, after: int,
                     include: Sequence[str] | None = None) -> AsyncIterator[StreamEvent]:
        """Stored events after `after`, then the live ones until the response is terminal, as
        `include` shows them (hosted tools' results, image URLs... only when asked)."""
        first = await self.store.read_events(rid, owner, after)
        if first is None:
            raise not_found("Response", rid)
        return self._follow(rid, owner, after, first, frozenset(include or ()))

    async def _follow(self, rid: str, owner: str, after: int, got: tuple[list[Any], str] | None,
                      include: frozenset[str] = frozenset()) -> AsyncIterator[StreamEvent]:
        """`got`: stored events (JSON read back from the store, as they were emitted) and the status."""
        stored = False  # events of it came from the store (a background run's)
        while got is not None:
            events, status = got
            if not events and not stored and status in TERMINAL and \
                    not (await self.store.read_events(rid, owner, -1, limit=1) or ([], ""))[0]:
                # A foreground run (streamed or not): none of its events were stored; once it has
                # ended, its stream is replayed from the stored response (engine/record/persistence.py).
                response = await self.store.get_response(rid, owner)
                replayed = [] if response is None else replay(
                    typed(response), self.service.hosted.replay, include, self.service.vocabulary)
                for ev in replayed:
                    if ev["sequence_number"] > after:
                        yield shown_event(ev, include, self.service.vocabulary)
                return
            stored = stored or bool(events)
            for ev in events:
                after = ev["sequence_number"]
                yield shown_event(ev, include, self.service.vocabulary)
            if not events:
                if status in TERMINAL:
                    return
                await self.service.hub.wait(rid, 0.25)
            got = await self.store.read_events(rid, owner, after)
