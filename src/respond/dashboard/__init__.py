"""The web dashboard at /dashboard: server-rendered pages over the engine's operator queries.

Design: plain HTML forms and links (every page works without JavaScript; `static/dashboard.js`
only adds conveniences), Jinja2 templates with autoescaping on everything, SVG charts drawn on
the server, every asset served from `static/` (no CDN).  Access: see `session.py`.  The
dashboard never touches SQL: it calls `respond.engine.read.queries.Operations`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from respond.core.sessions import SessionStore
from respond.dashboard import pages, views
from respond.dashboard.render import Board
from respond.dashboard.session import Keys, Sessions, StoredKeys
from respond.engine.read.queries import Operations


def create_dashboard(operations: Operations, keys: Keys, admin: Keys, secret: bytes,
                     sessions: SessionStore, stored: StoredKeys | None = None) -> Starlette:
    """The dashboard as an ASGI app, to be mounted at /dashboard; `secret`: `session.secret_for(...)`."""
    routes = [
        Route("/", views.home, methods=["GET"]),
        Route("/signin", views.signin_form, methods=["GET"]),
        Route("/signin", views.signin, methods=["POST"]),
        Route("/signout", views.signout, methods=["POST"]),
        Route("/responses", pages.responses, methods=["GET"]),
        Route("/responses/{response_id}", pages.response, methods=["GET"]),
        Route("/responses/{response_id}/delete", pages.delete, methods=["POST"]),
        Route("/runs", pages.runs, methods=["GET"]),
        Route("/runs/{response_id}/cancel", pages.cancel, methods=["POST"]),
        Route("/conversations", views.conversations, methods=["GET"]),
        Route("/conversations/{conversation_id}", views.conversation, methods=["GET"]),
        Route("/files", views.files, methods=["GET"]),
        Route("/vector_stores", views.vector_stores, methods=["GET"]),
        Route("/vector_stores/{store_id}", views.vector_store, methods=["GET"]),
        Route("/charts", views.charts, methods=["GET"]),
        Route("/upstreams", views.upstreams, methods=["GET"]),
        Route("/usage", views.usage, methods=["GET"]),
        Mount("/static", app=StaticFiles(packages=[("respond.dashboard", "static")]), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.board = Board(operations, Sessions(keys, admin, secret, sessions, stored))
    return app
