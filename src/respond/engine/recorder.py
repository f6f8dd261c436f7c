"""Persist a run's stream events as they are produced, in batches.

Events are buffered; a batch is written (through the run's `Persistence`, with the response
snapshot) when an item ends, or when the oldest buffered event is older than `interval` seconds.
The last batch is written by the run together with the terminal status (one transaction), so a
stored terminal response always has all of its events.  A run whose mode writes no events as it
goes (drained, ephemeral) buffers none.
"""

from __future__ import annotations

import time
from typing import Any

from respond.engine.persistence import Persistence

Event = dict[str, Any]
_FLUSH_ON = {"response.output_item.done"}


class Recorder:
    def __init__(self, sink: Persistence, interval: float = 0.1) -> None:
        self.sink = sink
        self.keep = sink.records_events
        self.interval = interval
        self.pending: list[Event] = []
        self._since = 0.0

    async def __call__(self, ev: Event) -> None:
        if not self.keep:
            return
        if not self.pending:
            self._since = time.monotonic()
        self.pending.append(ev)
        if ev["type"] in _FLUSH_ON or time.monotonic() - self._since >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        await self.sink.append(batch)

    def drain(self, last: Event | None = None) -> list[Event]:
        batch, self.pending = self.pending, []
        if last is not None and self.keep:
            batch.append(last)
        return batch
