"""The Response's status lifecycle: `transition` is the one function that changes `status`.

    (created) queued ──> in_progress ──> completed | incomplete | failed | cancelled
                 │            │
                 │            └──> queued     a graceful shutdown hands a background run back
                 └──> cancelled | failed      cancelled before it started; its worker died

A terminal status is final, with one exception: a graceful shutdown cancels the background runs
it cannot wait for, then `requeue`s them (`cancelled -> queued`) for another process.  Each transition sets the fields that go with it (`completed_at`,
`incomplete_details`, `error`, `usage`), so no caller assembles them by hand.
"""

from __future__ import annotations

import time
from typing import TypedDict, Unpack

from respond.protocol.shapes import ErrorDict, IncompleteDetails, ResponseDict, ResponseStatus, UsageDict

TERMINAL = ("completed", "failed", "incomplete", "cancelled")
_NEXT: dict[str, tuple[ResponseStatus, ...]] = {
    "queued": ("in_progress", "cancelled", "failed"),
    "in_progress": ("in_progress", "queued", "completed", "failed", "incomplete", "cancelled"),
}


class InvalidTransition(ValueError):
    pass


class TerminalFields(TypedDict, total=False):
    """What a status brings with it."""

    completed_at: int
    usage: UsageDict
    incomplete_details: IncompleteDetails
    error: ErrorDict


def transition(response: ResponseDict, status: ResponseStatus, **fields: Unpack[TerminalFields]) -> ResponseDict:
    """Move `response` to `status` (setting `fields` with it); raise on a move the lifecycle forbids."""
    current = response.get("status")
    if status not in _NEXT.get(str(current), ()):
        raise InvalidTransition(f"Response {response.get('id')}: '{current}' cannot become '{status}'.")
    response["status"] = status
    response.update(fields)  # type: ignore[typeddict-item]  # TerminalFields: a part of ResponseDict
    return response


def terminal_fields(reason: str | None, usage: UsageDict, error: ErrorDict | None = None,
                    now: float | None = None) -> tuple[ResponseStatus, TerminalFields]:
    """The terminal status and its fields for a run that ended: `reason` is the model's finish
    reason ("length": the output budget ran out; "content_filter": moderation withheld it); an `error` makes it `failed`; `now`: the
    completion time (default: the wall clock)."""
    if error is not None:
        return "failed", {"error": error}
    if reason == "length":
        return "incomplete", {"incomplete_details": {"reason": "max_output_tokens"}, "usage": usage}
    if reason == "content_filter":  # moderation blocked it (engine/intake/moderation.py), or the upstream's filter did
        return "incomplete", {"incomplete_details": {"reason": "content_filter"}, "usage": usage}
    return "completed", {"completed_at": int(time.time() if now is None else now), "usage": usage}


def fail(response: ResponseDict, message: str, code: str = "server_error") -> ResponseDict:
    """End a run that cannot finish (its worker died or crashed): its open items become incomplete."""
    for item in response.get("output", []):
        if item.get("status") == "in_progress":
            item["status"] = "incomplete"  # type: ignore[typeddict-unknown-key]  # every item with a status
    return transition(response, "failed", error={"code": code, "message": message})


REQUEUEABLE = ("in_progress", "cancelled")


def requeue(response: ResponseDict) -> ResponseDict:
    """Back on the queue from scratch (graceful shutdown): what it produced so far is dropped."""
    if response.get("status") not in REQUEUEABLE:
        raise InvalidTransition(f"Response {response.get('id')}: '{response.get('status')}' cannot be requeued.")
    response.update({"status": "queued", "output": [], "error": None, "usage": None, "completed_at": None})
    return response
