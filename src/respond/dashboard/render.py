"""Rendering and access plumbing shared by the dashboard's pages."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from respond.dashboard.session import CSRF, SESSION, Sessions, Viewer, new_pre_session
from respond.engine.read.queries import Operations
from respond.protocol.errors import APIError

if TYPE_CHECKING:
    from jinja2 import Environment

NAV = [("responses", "Responses"), ("runs", "Background runs"), ("conversations", "Conversations"),
       ("files", "Files"), ("vector_stores", "Vector stores"), ("charts", "Charts"), ("usage", "Usage"),
       ("upstreams", "Upstreams")]
SECURITY_HEADERS = {
    # everything comes from Respond itself; no inline script runs
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _when(ts: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(ts))) if ts else "-"


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@functools.cache
def environment() -> Environment:
    """The templates, loaded with jinja2 on the first page rendered (not at the server's start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("respond.dashboard", "templates"), autoescape=select_autoescape(default=True))
    env.filters["when"] = _when
    env.filters["pretty"] = _pretty
    return env


@dataclass
class Board:
    ops: Operations
    sessions: Sessions


def board(request: Request) -> Board:
    b: Board = request.app.state.board
    return b


def render(request: Request, template: str, viewer: Viewer | None, status: int = 200, **ctx: Any) -> Response:
    sessions = board(request).sessions
    session, pre = request.cookies.get(SESSION), request.cookies.get(CSRF)
    if viewer is not None and not sessions.open and session:
        token = sessions.csrf(session, session=True)  # bound to the signed-in session
    else:
        pre = pre if pre and len(pre) <= 64 else new_pre_session()
        token = sessions.csrf(pre, session=False)  # bound to the pre-session cookie
    html = environment().get_template(template).render(request=request, viewer=viewer, csrf=token, nav=NAV,
                                             open=sessions.open, **ctx)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if pre and request.cookies.get(CSRF) != pre:
        response.set_cookie(CSRF, pre, httponly=True, samesite="strict", path="/dashboard",
                            secure=request.url.scheme == "https")
    return response


Page = Callable[[Request, Viewer], Awaitable[Response]]


def signed_in(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """The viewer from the session cookie, or a redirect to the sign-in page; API errors as pages."""

    async def wrapper(request: Request) -> Response:
        viewer = await board(request).sessions.viewer(request.cookies.get(SESSION))
        if viewer is None:
            return RedirectResponse("/dashboard/signin", status_code=303)
        try:
            return await handler(request, viewer)
        except APIError as exc:
            return render(request, "error.html", viewer, status=exc.status, message=exc.message)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


def changes_state(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A POST from one of our forms: signed in and carrying the CSRF token of its session, else 403."""

    async def checked(request: Request, viewer: Viewer) -> Response:
        form = await request.form()
        sessions = board(request).sessions
        bound = request.cookies.get(CSRF) if sessions.open else request.cookies.get(SESSION)
        if not sessions.csrf_ok(bound, str(form.get("csrf") or ""), session=not sessions.open):
            return render(request, "error.html", viewer, status=403,
                          message="This form has expired or did not come from this dashboard; reload and retry.")
        return await handler(request, viewer)

    checked.__name__ = handler.__name__
    return signed_in(checked)


def owner_scope(viewer: Viewer) -> str | None:
    return None if viewer.admin else viewer.owner

