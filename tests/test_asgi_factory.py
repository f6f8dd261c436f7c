"""`respond.asgi:app`: the app for any ASGI server, configured by RESPOND_* variables as `respond serve` is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from respond import asgi


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The factory configures the root logger as `respond serve` does: put it back afterwards."""
    root = logging.getLogger()
    handlers, level, filters = list(root.handlers), root.level, list(root.filters)
    yield
    root.handlers[:], root.filters[:] = handlers, filters
    root.setLevel(level)


def test_the_factory_serves_with_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               upstream: Any, root_logging: None) -> None:
    monkeypatch.setenv("RESPOND_DATABASE", f"sqlite:///{tmp_path / 'asgi.db'}")
    monkeypatch.setenv("RESPOND_UPSTREAM", upstream.base_url)
    monkeypatch.setenv("RESPOND_EMBEDDED", "off")
    monkeypatch.setenv("RESPOND_API_KEY", "sk-one,sk-two")
    monkeypatch.setenv("RESPOND_JOURNAL_DIR", str(tmp_path / "journal"))
    upstream.reply({"content": "from the factory"})
    with TestClient(asgi.app()) as http:  # the lifespan runs: store, workers, backends
        assert http.post("/v1/responses", json={"model": "scripted", "input": "hi"}).status_code == 401
        headers = {"Authorization": "Bearer sk-two"}
        made = http.post("/v1/responses", json={"model": "scripted", "input": "hi"}, headers=headers)
        assert made.status_code == 200, made.text
        assert made.json()["output"][0]["content"][0]["text"] == "from the factory"
        got = http.get(f"/v1/responses/{made.json()['id']}", headers=headers)
        assert got.json()["status"] == "completed"
    assert (tmp_path / "asgi.db").exists()


def test_a_setting_only_respond_serve_applies_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         root_logging: None) -> None:
    monkeypatch.setenv("RESPOND_DATABASE", f"sqlite:///{tmp_path / 'asgi.db'}")
    monkeypatch.setenv("RESPOND_EMBEDDED", "off")
    monkeypatch.setenv("RESPOND_PROCESSES", "2")
    with pytest.raises(ValueError, match="RESPOND_PROCESSES=2 is for `respond serve`"):
        asgi.app()
