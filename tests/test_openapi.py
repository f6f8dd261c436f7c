"""GET /openapi.json: valid OpenAPI 3.1, generated from the request models; /docs local; schemathesis smoke."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from respond.protocol.requests import CreateResponse


@pytest.fixture(scope="module")
def srv(module_app_factory, upstream_server):
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off", "--workers", "1")


@pytest.fixture(scope="module")
def real(module_server_factory, upstream_server):  # schemathesis, another program, reaches it over TCP
    return module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off", "--workers", "1")


def test_valid_openapi_31_from_the_models(srv):
    doc = srv.root().get("/openapi.json").json()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"
    create = doc["paths"]["/v1/responses"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    # the very model that validates POST /v1/responses: same fields, same bounds, no extras allowed
    assert set(schema["properties"]) == set(CreateResponse.model_fields)
    assert schema["additionalProperties"] is False
    temp = next(s for s in schema["properties"]["temperature"]["anyOf"] if s.get("type") == "number")
    assert (temp["minimum"], temp["maximum"]) == (0, 2)
    # every real route is described, with its path parameters
    for path in ("/v1/responses/{response_id}", "/v1/conversations/{conversation_id}/items/{item_id}",
                 "/v1/files", "/v1/vector_stores/{vector_store_id}/search"):
        assert path in doc["paths"], path
    get = doc["paths"]["/v1/responses/{response_id}"]["get"]
    assert [p["name"] for p in get["parameters"]] == ["response_id"]
    assert "ErrorEnvelope" in doc["components"]["schemas"]


def test_docs_page_is_local(srv):
    resp = srv.root().get("/docs")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "/v1/responses/{response_id}/cancel" in resp.text
    assert "previous_response_id" in resp.text  # body fields, from the model
    # nothing fetched from elsewhere: no external src/href at all
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", resp.text)


def test_schemathesis_smoke(real, tmp_path: Path):
    """Generated requests for every operation: whatever they send, never a 500."""
    exe = Path(sys.executable).parent / "schemathesis"
    cmd = [str(exe), "run", f"http://127.0.0.1:{real.port}/openapi.json", "--checks", "not_a_server_error",
           "--phases", "examples,fuzzing", "--max-examples", "8", "--workers", "1", "--seed", "1",
           "--suppress-health-check", "all"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", done.stdout), done.stdout[-2000:]
