"""One function owns the Response's status: allowed moves, forbidden ones, the fields set with each."""

from __future__ import annotations

from typing import Any

import pytest

from respond.protocol import lifecycle
from respond.protocol.response import usage_object


def _response(status: str) -> Any:  # the keys the lifecycle reads of a ResponseDict
    return {"id": "resp_1", "status": status, "output": [{"type": "message", "status": "in_progress"}],
            "error": None, "usage": None, "completed_at": None}


@pytest.mark.parametrize(("start", "end"), [("queued", "in_progress"), ("queued", "cancelled"),
                                            ("in_progress", "completed"), ("in_progress", "failed"),
                                            ("in_progress", "incomplete"), ("in_progress", "cancelled"),
                                            ("in_progress", "queued")])
def test_allowed(start: str, end: Any) -> None:
    assert lifecycle.transition(_response(start), end)["status"] == end


@pytest.mark.parametrize(("start", "end"), [("completed", "in_progress"), ("failed", "completed"),
                                            ("queued", "completed"), ("cancelled", "failed")])
def test_forbidden(start: str, end: Any) -> None:
    with pytest.raises(lifecycle.InvalidTransition, match=f"'{start}' cannot become '{end}'"):
        lifecycle.transition(_response(start), end)


def test_terminal_fields() -> None:
    usage = usage_object(3, 4)
    assert lifecycle.terminal_fields("length", usage)[0] == "incomplete"
    status, fields = lifecycle.terminal_fields("stop", usage)
    assert status == "completed" and fields["usage"] == usage and fields["completed_at"] > 0
    assert lifecycle.terminal_fields("stop", usage, error={"code": "x", "message": "y"}) == (
        "failed", {"error": {"code": "x", "message": "y"}})


def test_fail_closes_open_items() -> None:
    r: Any = lifecycle.fail(_response("in_progress"), "gone")
    assert r["status"] == "failed" and r["output"][0]["status"] == "incomplete"
    assert r["error"] == {"code": "server_error", "message": "gone"}


def test_requeue_only_what_ran() -> None:
    r = lifecycle.requeue(_response("cancelled"))
    assert r["status"] == "queued" and r["output"] == []
    with pytest.raises(lifecycle.InvalidTransition):
        lifecycle.requeue(_response("completed"))
