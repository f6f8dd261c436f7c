"""What `create` started (engine/create.py): one of three shapes, each saying what the caller does next.

- `Running`: a foreground run; the caller drains `run.events()` (a JSON answer) or streams them.
- `Queued`: a background response, stored `queued` for a worker; the caller answers with it or follows
  its events through the `RunManager`.
- `Warmed`: `generate: false` (WebSocket): the context was prepared and the response is `completed`
  without output; no model was asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from respond.engine.execution.run import Run
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes import ResponseDict


@dataclass(frozen=True, slots=True)
class Running:
    run: Run
    req: CreateResponse
    response: ResponseDict


@dataclass(frozen=True, slots=True)
class Queued:
    req: CreateResponse
    response: ResponseDict


@dataclass(frozen=True, slots=True)
class Warmed:
    req: CreateResponse
    response: ResponseDict


Started = Running | Queued | Warmed
