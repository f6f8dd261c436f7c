"""`background_options`: where a background run stands in the queue, and until when it may run.

- `completion_window` gives each queued job a due time: `soonest` (the default) its queue time,
  `2h` / `8h` its queue time plus the window, which is also its deadline.  Workers claim the job
  due first (the order is the claim query's, store/jobs.py, so it holds across every process that
  shares a PostgreSQL queue): among jobs waiting together, `soonest` ones go before `2h` ones before
  `8h` ones, and a discounted job still runs before its window closes however many `soonest` jobs
  arrive after it (earliest deadline first).
- A run whose window has closed, before it started or while it runs, ends `failed` with an error
  that says so (`Run.deadline`, checked against the service's clock before the model is called and
  at every delta).
- `continuation_id` chains an owner's background runs: a run of a chain is claimed only once every
  run of that chain queued before it has ended, so related runs run one after the other, in order.
  Another owner's chain of the same name is another chain.

A background response gets `response.created` and `response.queued` (status `queued`) when it is
queued, stored with it, so that a stream of it starts at once; its run numbers its events after them.
"""

from __future__ import annotations

import datetime
from typing import Any

from respond.core.ports import JobOrder
from respond.engine.stream.events import Event, EventBuilder
from respond.protocol.params import BackgroundOptionsParam
from respond.protocol.shapes import JSONObject, LifecycleType, ResponseDict

WINDOWS = {"soonest": 0, "2h": 2 * 3600, "8h": 8 * 3600}  # seconds
QUEUED_EVENTS: tuple[LifecycleType, ...] = ("response.created", "response.queued")
US = 1_000_000


def _options(request: Any) -> JSONObject:
    options = request.get("background_options") if isinstance(request, dict) else None
    return options if isinstance(options, dict) else {}


def job_order(background_options: BackgroundOptionsParam | None, now: float) -> JobOrder:
    """The place in the queue of a job queued `now` (seconds) with these (validated) options."""
    options = background_options or {}
    queued = int(now * US)
    window = WINDOWS[options.get("completion_window") or "soonest"]
    return JobOrder(queued_us=queued, due_us=queued + window * US, chain=options.get("continuation_id"))


def deadline(request: Any, response: ResponseDict) -> tuple[float, str] | None:
    """When the run of a queued `request` (the create body) must have completed, and the error it
    fails with after that; None for `soonest`, which has no window."""
    window = _options(request).get("completion_window")
    if not isinstance(window, str) or window not in ("2h", "8h"):
        return None
    queued = float(response["created_at"])
    due = queued + WINDOWS[window]
    return due, (f"The response did not complete within its completion window ('{window}'): it was queued at "
                 f"{_iso(queued)} and was due by {_iso(due)}. Retry with a longer window, or with 'soonest'.")


def queued_events(response: ResponseDict) -> list[Event]:
    """The first events of a background response, stored when it is queued."""
    builder = EventBuilder(response)
    return [builder.lifecycle(type_) for type_ in QUEUED_EVENTS]


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
