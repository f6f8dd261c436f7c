"""In-process fixtures: the engine over a real SQLite store and the shipped scripted backend.

No subprocess, no network: these tests call the use cases directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from respond.backends.scripted import ScriptedBackend
from respond.engine.service import ModelRouter, ResponsesService
from respond.store.sql import SqlStore

OWNER = "owner-1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'respond.db'}")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def service(store: SqlStore) -> ResponsesService:
    backend = ScriptedBackend(reply="one two three four")
    return ResponsesService(store, ModelRouter([backend], backend.default_model), trust_cache=True)
