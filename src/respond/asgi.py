"""Respond as an ASGI application factory, for any ASGI server besides `respond serve`'s uvicorn:

    RESPOND_DATABASE=postgresql://... RESPOND_UPSTREAM=http://vllm:8000/v1 \\
        granian --interface asgi --factory respond.asgi:app

Settings come from RESPOND_* variables (every `respond serve` flag has one; RESPOND_CONFIG names a
TOML file), as `respond serve` reads them.  The server must run the ASGI lifespan (it starts the
store, the background workers and the backends).  Several workers of such a server are several
processes on one database, as `respond serve --processes N` (see README, Scaling out).
"""

from __future__ import annotations

import gc
import logging
import os

from starlette.applications import Starlette


def app() -> Starlette:
    from respond.bootstrap import build_app
    from respond.config_file import settings_with
    from respond.core.logctx import configure

    settings = settings_with({})
    configure(settings.log_level, settings.log_format)
    if settings.processes != 1:  # never taken and ignored: the ASGI server runs the processes
        raise ValueError(f"RESPOND_PROCESSES={settings.processes} is for `respond serve`; under another ASGI "
                         "server set its own worker count (granian --workers N) and leave RESPOND_PROCESSES unset.")
    for name in ("RESPOND_HOST", "RESPOND_PORT"):
        if os.environ.get(name):
            logging.getLogger("respond").warning("%s is for `respond serve`: the ASGI server's own options say "
                                                 "where it listens", name)
    built = build_app(settings)
    gc.collect()
    gc.freeze()  # as `respond serve` does: what lives as long as the process leaves the collector's walks
    return built
