"""Persist a run's stream events as they are produced, in batches.

Events are buffered; a batch is written (through the run's `Persistence`, with the response
snapshot) when an item ends, or when the oldest buffered event is older than `interval` seconds.
The last batch is written by the run together with the terminal status (one transaction), so a
stored terminal response always has all of its events.  A run whose mode writes no events as it
goes (drained, ephemeral) buffers none.  A batch that cannot be written (the database is
unreachable) stays buffered and goes with the next write: the stream to the client goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from respond.engine.record.persistence import Persistence
from respond.protocol.shapes import StreamEvent

log = logging.getLogger("respond.run")
Event = StreamEvent
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
        try:
            await self.sink.append(rows(batch))
        except Exception as exc:  # the database is away: keep the batch for the next write (or the last)
            log.warning("could not store events of %s yet (%s); keeping them", self.sink.record.id, exc)
            self.pending = batch + self.pending
            self._since = time.monotonic()

    def drain(self, last: Event | None = None) -> list[Event]:
        batch, self.pending = self.pending, []
        if last is not None and self.keep:
            batch.append(last)
        return batch


def rows(events: list[Event]) -> list[dict[str, Any]]:
    """Events as the store keeps them: JSON objects (it reads only `sequence_number`)."""
    return cast("list[dict[str, Any]]", events)
