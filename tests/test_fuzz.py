"""Property-based fuzzing of the HTTP API (issue 11): whatever the body, no 5xx, every error in the
envelope, and the server still answers afterwards.  On SQLite and PostgreSQL (the `server` fixture).

Requests come from four strategies:
- the Open Responses schema (tests/data/spec), bodies that conform and bodies that do not
  (schemathesis' positive and negative generation modes);
- Respond's own request model (`CreateResponse.model_json_schema()`), wrapped as an operation;
- mutations of a valid body: one key replaced by any JSON value (hypothesis' recursive JSON);
- path ids and cursors of the read endpoints: any text.

`RESPOND_FUZZ_EXAMPLES` (default 60) bounds the examples per strategy and database, so CI stays
within a few minutes; the closing figures of the issue came from a larger run (see its note).
`RESPOND_FUZZ_REPORT=1` counts 5xx instead of failing on the first (to measure a server version).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from respond.protocol.requests import CreateResponse
from tests.conftest import UpstreamThread

pytestmark = pytest.mark.slow  # hundreds of generated requests: `make test`, not `make check`
SPEC = json.loads((__import__("pathlib").Path(__file__).parent / "data" / "spec" / "openresponses-openapi.json")
                  .read_text())
EXAMPLES = int(os.environ.get("RESPOND_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=list(HealthCheck))
COUNT: dict[str, int] = {}


def _operation(schema: dict[str, Any]) -> Any:
    doc = {"openapi": "3.1.0", "info": {"title": "respond", "version": "1"},
           "paths": {"/responses": {"post": {"requestBody": {"required": True, "content": {
               "application/json": {"schema": schema}}}, "responses": {"200": {"description": "ok"}}}}}}
    return schemathesis.openapi.from_dict(doc)["/responses"]["POST"]


SPEC_OP = schemathesis.openapi.from_dict(SPEC)["/responses"]["POST"]
MODEL_SCHEMA = CreateResponse.model_json_schema(ref_template="#/paths/~1responses/post/requestBody/content/"
                                                             "application~1json/schema/$defs/{model}")
OWN_OP = _operation(MODEL_SCHEMA)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)
KEYS = sorted(CreateResponse.model_fields) + ["input[0]", "input[0].content", "input[0].id", "tools[0]",
                                             "tools[0].parameters", "text.format"]


REPORT = bool(os.environ.get("RESPOND_FUZZ_REPORT"))  # count 5xx instead of failing (to measure old code)


def check(resp: httpx.Response, what: str) -> None:
    COUNT[what] = COUNT.get(what, 0) + 1
    if REPORT and resp.status_code >= 500:
        COUNT[f"{what} 5xx"] = COUNT.get(f"{what} 5xx", 0) + 1
        return
    assert resp.status_code < 500, (what, resp.status_code, resp.text[:500])
    if resp.status_code >= 400:
        err = resp.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str), err


def _content(body: Any) -> bytes:
    """The body as sent: JSON when it can be, else its raw bytes (negative cases include non-JSON)."""
    if isinstance(body, bytes):
        return body
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError):
        return repr(body).encode()


def post(http: httpx.Client, body: Any, what: str) -> None:
    headers = {"content-type": "application/json"}
    if isinstance(body, dict) and body.get("stream") is True:
        with http.stream("POST", "/responses", content=_content(body), headers=headers) as resp:
            resp.read()
    else:
        resp = http.post("/responses", content=_content(body), headers=headers)
    check(resp, what)


def _with_model(body: Any, model: Any) -> Any:
    if isinstance(body, dict) and model:
        return {**body, "model": "scripted"}
    return body


def _mutate(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    parts = key.replace("[0]", ".0").split(".")
    target: Any = out
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    last = parts[-1]
    if last.isdigit() and isinstance(target, list):
        target[int(last)] = value
    elif isinstance(target, dict):
        target[last] = value
    result: dict[str, Any] = out
    return result


BASE = {"model": "scripted", "input": [{"type": "message", "role": "user", "content": "hi", "id": "msg_1"}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
        "text": {"format": {"type": "text"}}}


@pytest.fixture(scope="module")
def http(server: Any, upstream_server: UpstreamThread) -> Any:
    upstream_server.reset()
    with server.http() as client:
        yield client
    # the server still answers, and still serves a normal request
    with server.http() as client:
        assert client.get("/models").status_code == 200
        ok = client.post("/responses", json={"model": "scripted", "input": "still there?"})
        assert ok.status_code == 200 and ok.json()["status"] == "completed"
    print(f"fuzzed requests: {COUNT}")  # noqa: T201 - the figure of the issue


def test_fuzz_spec_bodies(http: httpx.Client) -> None:
    @FUZZ
    @given(case=SPEC_OP.as_strategy(), mode_case=SPEC_OP.as_strategy(GenerationMode.NEGATIVE),
           model=st.booleans())
    def run(case: Any, mode_case: Any, model: bool) -> None:
        post(http, _with_model(case.body, model), "spec positive")
        post(http, _with_model(mode_case.body, model), "spec negative")

    run()


def test_fuzz_own_model_bodies(http: httpx.Client) -> None:
    @FUZZ
    @given(case=OWN_OP.as_strategy(), model=st.booleans())
    def run(case: Any, model: bool) -> None:
        post(http, _with_model(case.body, model), "own model")

    run()


def test_fuzz_mutated_bodies(http: httpx.Client) -> None:
    @FUZZ
    @given(key=st.sampled_from(KEYS), value=JSON_VALUES)
    def run(key: str, value: Any) -> None:
        post(http, _mutate(BASE, key, value), "mutation")

    run()


def test_fuzz_ids_in_paths_and_cursors(http: httpx.Client) -> None:
    paths = ["/responses/{}", "/responses/{}/input_items", "/conversations/{}", "/conversations/{}/items",
             "/files/{}", "/vector_stores/{}", "/responses/{}/cancel"]

    @FUZZ
    @given(ident=st.text(min_size=1, max_size=80), path=st.sampled_from(paths), cursor=st.text(max_size=80))
    def run(ident: str, path: str, cursor: str) -> None:
        url = path.format(quote(ident, safe=""))
        method = "POST" if url.endswith("/cancel") else "GET"
        check(http.request(method, url), "path ids")
        check(http.get(f"/responses/resp_x/input_items?after={quote(cursor, safe='')}"), "cursors")

    run()
