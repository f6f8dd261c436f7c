"""api/front.py: `POST /v1/responses` goes straight to its handler, past Starlette's router and exception
middleware; its answers are the routed path's: the request id, the envelope of a refused request, the
guard's early answers, and the metrics by route template."""

from __future__ import annotations

from typing import Any


def test_the_direct_path_answers_as_the_routed_one(app_factory: Any) -> None:
    app = app_factory("--backend", "scripted:model=demo,reply=hi", "--api-key", "test-key")
    http = app.http()
    ok = http.post("/responses", json={"model": "demo", "input": "x"}, headers={"x-request-id": "trace-7"})
    assert ok.status_code == 200 and ok.json()["status"] == "completed"
    assert ok.headers["x-request-id"] == "trace-7"

    bad = http.post("/responses", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert bad.headers["content-type"] == "application/json" and bad.headers["x-request-id"].startswith("req_")

    unknown = http.post("/responses", json={"model": "demo", "input": "x", "no_such_field": 1})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "no_such_field"

    anonymous = app.http(api_key=None).post("/responses", json={"model": "demo", "input": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_api_key"

    too_big = http.post("/responses", content=b"x" * (11 * 1024 * 1024), headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"

    # the routed path, for comparison: same envelope, same request id header
    routed = http.post("/responses/input_tokens", content=b"{not json", headers={"content-type": "application/json"})
    assert routed.status_code == 400 and routed.json()["error"]["code"] == "invalid_json"
    assert routed.headers["x-request-id"].startswith("req_")

    metrics = app.root("test-key").get("/metrics").text
    counted = [line for line in metrics.splitlines() if line.startswith("respond_http_requests_total{")
               and 'route="/v1/responses"' in line and 'method="POST"' in line]
    assert {line.split('status="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1]) for line in counted} == {
        "200": 1.0, "400": 2.0, "401": 1.0, "413": 1.0}
