"""`--backend NAME[:options]` chooses a registered backend; an unknown name stops the server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.spec import check_response


def test_scripted_backend_by_name(app_factory: Any) -> None:
    srv = app_factory("--backend", "scripted:model=demo,reply=hello from the script")
    client = srv.client()
    resp = client.responses.create(model="demo", input="hi")
    assert resp.output_text == "hello from the script"
    with srv.http() as http:  # no model named: the backend's default model
        body = http.post("/responses", json={"input": "hi"}).json()
    check_response(body)
    assert body["model"] == "demo" and body["output"][0]["content"][0]["text"] == "hello from the script"
    assert [m.id for m in client.models.list()] == ["demo"]


def test_unknown_backend_is_an_error(server_factory: Any) -> None:
    with pytest.raises(RuntimeError, match="Unknown backend 'nope'. Known backends: llamacpp, openai_compat, openai_responses, scripted"):
        server_factory("--backend", "nope")
