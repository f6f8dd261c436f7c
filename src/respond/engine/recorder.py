"""Persist a run's stream events as they are produced, in batches.

Events are buffered; a batch is written with the response snapshot when an item ends, or when
the oldest buffered event is older than `interval` seconds.  The last batch is written
by the run together with the terminal status (one transaction), so a stored terminal response
always has all of its events.
"""

from __future__ import annotations

import time
from typing import Any

from respond.core.ports import RunStore
from respond.engine.hub import Hub

Event = dict[str, Any]
_FLUSH_ON = {"response.output_item.done"}


class Recorder:
    def __init__(self, store: RunStore | None, hub: Hub | None, response: dict[str, Any],
                 live: bool, interval: float = 0.1, keep: bool = True) -> None:
        self.store = store
        self.hub = hub
        self.response = response
        self.live = live  # write as we go (streams, background); else only with the final save
        self.keep = keep  # False: store no events at all
        self.interval = interval
        self.pending: list[Event] = []
        self._since = 0.0

    async def __call__(self, ev: Event) -> None:
        if not self.keep:
            return
        if not self.pending:
            self._since = time.monotonic()
        self.pending.append(ev)
        if self.live and self.store is not None and (
                ev["type"] in _FLUSH_ON or time.monotonic() - self._since >= self.interval):
            await self.flush()

    async def flush(self) -> None:
        if self.store is None:
            return
        batch, self.pending = self.pending, []
        await self.store.append_events(self.response["id"], batch, self.response)
        if self.hub is not None:
            self.hub.notify(self.response["id"])

    def drain(self, last: Event | None = None) -> list[Event]:
        batch, self.pending = self.pending, []
        if last is not None and self.keep:
            batch.append(last)
        return batch

    def notify(self) -> None:
        if self.hub is not None:
            self.hub.notify(self.response["id"])
