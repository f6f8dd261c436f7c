"""Local wake-ups: a follower of a response's stream waits here for "new events were stored".

Only an optimisation: followers also poll the store, which is how they see runs executed by
another process.
"""

from __future__ import annotations

import asyncio
import contextlib

from respond.engine.execution.liveness import LiveRuns


class Hub:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.live = LiveRuns()  # the leased runs of this process whose task is alive

    def notify(self, response_id: str) -> None:
        ev = self._events.pop(response_id, None)
        if ev is not None:
            ev.set()

    async def wait(self, response_id: str, timeout: float) -> None:
        ev = self._events.setdefault(response_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout)
