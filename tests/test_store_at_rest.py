"""An upstream-only server on SQLite makes none of the SQL store's cold adapters (store/deferred.py,
store/tenants.py): starting up (file_search's resume, both sweeps), serving responses (stored, streamed,
continued), writing their usage and a scrape of /metrics leave the modules of files, vector stores,
containers, dashboard sessions, stored keys and the dashboard's list queries unimported, and SQLAlchemy with them (issue 20's memory target).  Checked in a
fresh interpreter (this test process has imported everything), as tests/test_memory_at_rest.py does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import asyncio, json, sys
import httpx
import respond.tools.file_search.service as file_search
from respond.testing.upstream import ScriptedUpstream

file_search.SWEEP_EVERY = 0.05  # the expired-file sweep runs while this child does (every 30 s in a server)


async def main() -> None:
    upstream = await ScriptedUpstream().start()
    from respond.bootstrap import build_app
    from respond.config_file import settings_with

    app = build_app(settings_with({"database": sys.argv[1], "upstream": upstream.base_url, "embedded": "off",
                                   "log_level": "error"}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://respond") as client:
            first = (await client.post("/v1/responses", json={"model": "scripted", "input": "hi"})).json()
            await client.post("/v1/responses", json={"model": "scripted", "input": "more", "stream": True,
                                                     "previous_response_id": first["id"]})
            assert (await client.get(f"/v1/responses/{first['id']}")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200  # (it reads the queue's stats)
        await asyncio.sleep(0.3)  # the sweeps, the usage rows written behind
    await upstream.stop()
    print(json.dumps(sorted(sys.modules)))


asyncio.run(main())
"""
COLD = ["respond.store.files", "respond.store.vectors", "respond.store.containers", "respond.store.sessions",
        "respond.store.tenant_keys", "respond.store.listing_queries"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules of the child once it has served (one child for both tests)."""
    tmp_path = tmp_path_factory.mktemp("at_rest")
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", CHILD, f"sqlite:///{tmp_path / 'r.db'}"], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin",
                                                     "HOME": str(tmp_path)})
    return set(json.loads(out.stdout))


def test_an_upstream_only_server_makes_no_cold_adapter(loaded: set[str]) -> None:
    assert [m for m in COLD if m in loaded] == []


def test_an_upstream_only_server_loads_no_sqlalchemy(loaded: set[str]) -> None:
    assert "sqlalchemy" not in loaded


def test_the_store_modules_a_server_imports_import_no_sqlalchemy(tmp_path: Path) -> None:
    """The cold helper's part on its own (the check above waits for the response store's hot path)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    child = ("import sys, respond.store.tenants, respond.store.deferred, respond.store.conversations, "
             "respond.store.listing; print('sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.stdout.strip() == "False"
