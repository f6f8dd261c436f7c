"""Responses and background runs: the list with its filters, a response's page, cancel, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from respond.core.listing import ResponseFilter
from respond.dashboard.render import board, changes_state, owner_scope, render, signed_in
from respond.dashboard.session import Viewer
from respond.dashboard.timeline import item_view, timeline
from respond.protocol.errors import invalid

PAGE = 50
STATUSES = ("queued", "in_progress", "completed", "incomplete", "failed", "cancelled")


def _time(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    try:
        return int(datetime.fromisoformat(raw).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise invalid(f"'{name}' must be a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC).", name, "invalid_value") from None


class FilterForm(TypedDict):
    """The filter form as the page shows it back (what was asked, as typed)."""

    model: str
    status: str
    meta: str
    meta_list: list[str]
    after: str
    before: str
    q: str


def parse_filter(request: Request) -> tuple[ResponseFilter, FilterForm]:
    q = request.query_params
    meta: dict[str, str] = {}
    for pair in (p for raw in q.getlist("meta") for p in raw.split(";")):
        key, sep, value = pair.partition("=")
        if pair.strip():
            if not sep or not key.strip():
                raise invalid(f"A metadata filter is KEY=VALUE; got '{pair}'.", "meta", "invalid_value")
            meta[key.strip()] = value.strip()
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid(f"Unknown status '{status}'.", "status", "invalid_value")
    flt = ResponseFilter(model=q.get("model") or None, status=status, metadata=meta,
                         created_after=_time(q.get("after"), "after"), created_before=_time(q.get("before"), "before"),
                         text=q.get("q") or None)
    form: FilterForm = {"model": q.get("model", ""), "status": status or "",
                        "meta": "; ".join(f"{k}={v}" for k, v in meta.items()),
                        "meta_list": [f"{k}={v}" for k, v in meta.items()], "after": q.get("after", ""),
                        "before": q.get("before", ""), "q": q.get("q", "")}
    return flt, form


@signed_in
async def responses(request: Request, viewer: Viewer) -> Response:
    """Stored responses, newest first, filtered."""
    flt, form = parse_filter(request)
    cursor = request.query_params.get("cursor")
    page = await board(request).ops.responses(owner_scope(viewer), flt, cursor, PAGE)
    keep = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor" and v]
    next_url = f"?{urlencode(keep + [('cursor', page.next_cursor)])}" if page.next_cursor else None
    return render(request, "responses.html", viewer, page=page, form=form, statuses=STATUSES, next_url=next_url,
                  first_url=f"?{urlencode(keep)}" if cursor else None)


@signed_in
async def response(request: Request, viewer: Viewer) -> Response:
    """One response: its items, usage, timings, stored events, and its chain."""
    detail = await board(request).ops.detail(request.path_params["response_id"], owner_scope(viewer))
    r = detail.response
    duration = (r["completed_at"] - r["created_at"]) if r.get("completed_at") else None
    return render(request, "response.html", viewer, d=detail, r=r, duration=duration,
                  inputs=[item_view(i) for i in detail.inputs], outputs=[item_view(i) for i in detail.outputs],
                  events=timeline(detail.events), cancellable=r.get("background") and r["status"] in
                  ("queued", "in_progress"))


@changes_state
async def delete(request: Request, viewer: Viewer) -> Response:
    await board(request).ops.delete(request.path_params["response_id"], owner_scope(viewer))
    return RedirectResponse("/dashboard/responses", status_code=303)


@signed_in
async def runs(request: Request, viewer: Viewer) -> Response:
    """Background runs queued, running or failed."""
    state = request.query_params.get("state") or None
    states = (state,) if state in ("queued", "in_progress", "failed") else ("queued", "in_progress", "failed")
    rows = await board(request).ops.background_runs(owner_scope(viewer), states)
    queue = await board(request).ops.queue()
    return render(request, "runs.html", viewer, rows=rows, queue=queue, state=state or "")


@changes_state
async def cancel(request: Request, viewer: Viewer) -> Response:
    rid = request.path_params["response_id"]
    await board(request).ops.cancel(rid, owner_scope(viewer))
    back = (await request.form()).get("back")
    target = f"/dashboard/responses/{rid}" if back == "response" else "/dashboard/runs"
    return RedirectResponse(target, status_code=303)
