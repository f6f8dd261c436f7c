"""An upstream-only server on SQLite does not load what only other configurations use (issue 20's memory
target; bench/memory.py measures it): each module below is imported on first use, by the feature
that needs it.  Checked in a fresh interpreter, since this test process has imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# module -> what loads it when it is needed
NOT_AT_REST = {
    "sqlalchemy": "a PostgreSQL database, a cold store feature (listing, files, vector stores, containers, dashboard "
                  "sessions, stored keys' limits), a migration of an old database, `respond db`",
    "sqlalchemy.dialects.postgresql": "a PostgreSQL database",
    "sqlalchemy.ext.asyncio": "a PostgreSQL database",
    "sqlalchemy.orm": "nothing (SQLAlchemy Core only)",
    "asyncpg": "a PostgreSQL database",
    "jinja2": "the dashboard's pages, /docs",
    "jsonschema": "a structured output checked against its schema",
    "numpy": "file_search",
    "mcp": "an MCP tool",
    "cryptography": "sealed reasoning",
    "redis": "--rate-store redis://",
    "aiohttp": "web_search with a provider (the upstreams' client is backends/http1.py)",
    "babel": "web_search with a provider",
    "respond.tools.web_search.providers": "web_search with a provider",
    "respond.backends.llamacpp": "the embedded model",
    "jupyter_client": "code_interpreter",
    "pyseccomp": "nothing: the sandbox's seccomp program is compiled in a child interpreter",
    "ctypes": "nothing (pyseccomp)",
    "idna": "an international host name in a URL policy",
    "difflib": "a --config file's unknown key (its 'did you mean')",
    "tomllib": "--config, or a TOML prompt of --prompts",
    "uvicorn.main": "nothing: uvicorn's command line (with click), not used by `respond serve`",
    "click": "nothing (uvicorn's command line)",
    "watchfiles": "nothing (uvicorn's reloader)",
    "multiprocessing": "nothing (uvicorn's reloader)",
    "respond.dashboard": "the first request to /dashboard",
    "markupsafe": "the first request to /dashboard (its SVG charts), or jinja2",
    "respond.protocol.resource_bodies": "the first request to /v1/files, /v1/vector_stores, /v1/containers, "
                                        "/openapi.json",
    "prometheus_client": "the first scrape of /metrics, or several processes (PROMETHEUS_MULTIPROC_DIR)",
    "wsgiref": "nothing (prometheus_client's exposition)",
    "http.server": "nothing (prometheus_client's exposition)",
    "urllib.request": "nothing (prometheus_client's exposition)",
    "gzip": "nothing (prometheus_client's exposition)",
    "mmap": "nothing (prometheus_client's multiprocess values)",
    "respond.api.openapi": "the first request to /openapi.json or /docs",
    "respond.engine.tenants.key_admin": "the first request to /admin/v1/keys (or `respond keys`)",
    "respond.backends.openai_responses": "a /v1/responses upstream (kind \"responses\", --backend openai_responses)",
    "respond.backends.responses_wire": "a /v1/responses upstream",
    "respond.backends.scripted": "--backend scripted",
    "respond.backends.moderation": "--moderation-upstream",
    "respond.store.redis_rates": "--rate-store redis://",
    "respond.store.pg_direct": "a PostgreSQL database",
    "respond.store.pg_group": "a PostgreSQL database",
    "respond.store.pg_merge": "a PostgreSQL database",
    "websockets": "the first WebSocket upgrade (cli: uvicorn's WebSocket protocol)",
    "uvicorn.protocols.websockets.websockets_sansio_impl": "the first WebSocket upgrade",
}

CHILD = """
import json, sys
from respond.cli import _uvicorn, build_parser
build_parser().parse_args(["serve"])  # `respond serve` builds every command's parser
_uvicorn()  # uvicorn's Config and Server, as `respond serve` loads them
from respond.bootstrap import build_app
from respond.cli import uvicorn_config
from respond.config_file import settings_with
settings = settings_with({"database": sys.argv[1], "upstream": "http://127.0.0.1:9/v1", "embedded": "off",
                          "log_level": "error"})
uvicorn_config(_uvicorn(), build_app(settings), settings).load()  # the app, its protocols, as uvicorn loads them
print(json.dumps(sorted(sys.modules)))
"""


def test_upstream_only_app_loads_no_optional_modules(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", CHILD, f"sqlite:///{tmp_path / 'r.db'}"], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin",
                                                     "HOME": str(tmp_path)})
    loaded = set(json.loads(out.stdout))
    assert {m: why for m, why in NOT_AT_REST.items() if m in loaded} == {}
