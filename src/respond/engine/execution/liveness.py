"""Which leased runs of this process are really alive: leases are renewed for those only.

A streamed or background run is leased in the job table while it runs; the lease loop
(engine/background/workers.py) renews it.  Renewing by worker id alone kept renewing the job of a task that had
died (its final write failed while the database was down, say) for ever: the run stayed
`in_progress` until a restart.  Here each leased run is tied to the task executing its events;
`alive()` lists the runs whose task has not finished, so a dead one's lease runs out and recovery
ends it.  A run registered before its task started iterating (a stream whose first read is still to
come) counts as alive for `START_GRACE` seconds.
"""

from __future__ import annotations

import asyncio
import time

START_GRACE = 30.0


class LiveRuns:
    def __init__(self) -> None:
        self._runs: dict[str, tuple[asyncio.Task[object] | None, float]] = {}

    def track(self, response_id: str, task: asyncio.Task[object] | None = None) -> None:
        """A run was leased here; its task attaches when it starts producing events (or is `task`)."""
        self._runs.setdefault(response_id, (task, time.monotonic()))

    def attach(self, response_id: str) -> None:
        """The current task executes this run's events (call only for tracked runs)."""
        if response_id in self._runs:
            self._runs[response_id] = (asyncio.current_task(), time.monotonic())

    def alive(self) -> list[str]:
        """Ids of the runs whose task still runs (dead ones are dropped)."""
        now = time.monotonic()
        for rid, (task, since) in list(self._runs.items()):
            if (task is not None and task.done()) or (task is None and now - since > START_GRACE):
                del self._runs[rid]
        return list(self._runs)
