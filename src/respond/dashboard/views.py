"""Sign-in, and the pages beside responses: conversations, files, vector stores, charts."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from respond.core.tenants import UsageGroup
from respond.dashboard import svg
from respond.dashboard.render import board, changes_state, owner_scope, render, signed_in
from respond.dashboard.session import CSRF, LIFETIME, SESSION, Viewer
from respond.dashboard.timeline import item_view


async def home(request: Request) -> Response:
    return RedirectResponse("/dashboard/responses", status_code=303)


async def signin_form(request: Request) -> Response:
    if board(request).sessions.open:
        return RedirectResponse("/dashboard/responses", status_code=303)
    return render(request, "signin.html", None)


async def signin(request: Request) -> Response:
    form = await request.form()
    sessions = board(request).sessions
    if not sessions.csrf_ok(request.cookies.get(CSRF), str(form.get("csrf") or ""), session=False):
        return render(request, "signin.html", None, status=403, error="The form expired; please sign in again.")
    await sessions.sign_out(request.cookies.get(SESSION))  # a session already there ends (no fixation)
    token = await sessions.sign_in(str(form.get("key") or ""))
    if token is None:
        return render(request, "signin.html", None, status=401, error="That key is not valid here.")
    response = RedirectResponse("/dashboard/responses", status_code=303)
    response.set_cookie(SESSION, token, max_age=LIFETIME, httponly=True, samesite="strict", path="/dashboard",
                        secure=request.url.scheme == "https")
    return response


@changes_state
async def signout(request: Request, viewer: Viewer) -> Response:
    await board(request).sessions.sign_out(request.cookies.get(SESSION))  # ended here, for every copy
    response = RedirectResponse("/dashboard/signin", status_code=303)
    response.delete_cookie(SESSION, path="/dashboard")
    return response


@signed_in
async def conversations(request: Request, viewer: Viewer) -> Response:
    """Conversations, newest first."""
    rows = await board(request).ops.conversations(owner_scope(viewer))
    return render(request, "conversations.html", viewer, rows=rows)


@signed_in
async def conversation(request: Request, viewer: Viewer) -> Response:
    """One conversation and its items."""
    conv, items, more = await board(request).ops.conversation(request.path_params["conversation_id"],
                                                              owner_scope(viewer))
    return render(request, "conversation.html", viewer, conv=conv, items=[item_view(i) for i in items], more=more)


@signed_in
async def files(request: Request, viewer: Viewer) -> Response:
    """Uploaded files (the signed-in key's own; every owner's for the admin)."""
    rows = await board(request).ops.files(owner_scope(viewer))
    return render(request, "files.html", viewer, rows=rows)


@signed_in
async def vector_stores(request: Request, viewer: Viewer) -> Response:
    """Vector stores with their ingestion counts (the signed-in key's own; every owner's for the admin)."""
    rows = await board(request).ops.vector_stores(owner_scope(viewer))
    return render(request, "vector_stores.html", viewer, rows=rows)


@signed_in
async def vector_store(request: Request, viewer: Viewer) -> Response:
    """One vector store: its files' ingestion status and a search box."""
    owner = owner_scope(viewer)
    store_id = request.path_params["store_id"]
    query = request.query_params.get("q", "").strip()
    ops = board(request).ops
    rows = await ops.vector_store_files(owner, store_id)
    hits = await ops.search(owner, store_id, query) if query else []
    return render(request, "vector_store.html", viewer, store_id=store_id, rows=rows, query=query, hits=hits)


@signed_in
async def charts(request: Request, viewer: Viewer) -> Response:
    """Requests and tokens over time by model; latency percentiles."""
    raw = request.query_params.get("hours", "24")
    hours = int(raw) if raw.isdigit() and 1 <= int(raw) <= 24 * 90 else 24
    since = int(time.time()) - hours * 3600
    act = await board(request).ops.activity(owner_scope(viewer), since)
    per = _bucket(act.step)
    return render(request, "charts.html", viewer, hours=hours, act=act,
                  requests_svg=svg.lines("Requests by model", act.requests, act.since, act.step,
                                         unit=f"requests per {per}"),
                  tokens_svg=svg.lines("Tokens (input + output) by model", act.tokens, act.since, act.step,
                                       unit=f"tokens per {per}"),
                  latency_svg=svg.bars("Latency percentiles by model (created to completed)", act.latency,
                                       axis="seconds"))


def _bucket(step: int) -> str:
    """A bucket's length for people: `36 min`, `2 h`, `45 s`."""
    if step % 3600 == 0:
        return f"{step // 3600} h"
    if step >= 60:
        return f"{round(step / 60)} min"
    return f"{step} s"


@signed_in
async def usage(request: Request, viewer: Viewer) -> Response:
    """Tokens per day (input, output) and totals by key and by model, for a period."""
    raw = request.query_params.get("days", "30")
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= 366 else 30
    ops = board(request).ops
    today = int(time.time()) // 86400
    since = (today - days + 1) * 86400
    owner = owner_scope(viewer)
    per_day = {r["day"]: r for r in await ops.usage(owner, "day", since)}
    series: dict[str, list[int]] = {"input tokens": [], "output tokens": []}
    for d in range(days):
        row: UsageGroup | None = per_day.get(time.strftime("%Y-%m-%d", time.gmtime(since + d * 86400)))
        series["input tokens"].append(row["input_tokens"] if row is not None else 0)
        series["output tokens"].append(row["output_tokens"] if row is not None else 0)
    chart = svg.lines("Tokens per day", series, since, 86400, unit="tokens per UTC day")
    return render(request, "usage.html", viewer, days=days, chart=chart,
                  by_key=await ops.usage(owner, "key", since), by_model=await ops.usage(owner, "model", since))


@signed_in
async def upstreams(request: Request, viewer: Viewer) -> Response:
    """The configured upstreams' replicas: up or down, load, errors (the admin's, or an open dashboard's)."""
    shown = viewer.admin or board(request).sessions.open
    rows = board(request).ops.upstreams() if shown else []
    return render(request, "upstreams.html", viewer, rows=rows, shown=shown)
