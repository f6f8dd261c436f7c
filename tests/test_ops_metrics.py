"""GET /metrics after real traffic (parsed with prometheus_client's own parser); request ids in logs."""

from __future__ import annotations

import json
import time

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families


def scrape(server, key: str | None = "test-key") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with server.root() as root:
        resp = root.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    return float(samples.get((name, want), 0.0))


def total(samples, name: str, **labels: str) -> float:
    """Sum over every label set that contains `labels`."""
    return float(sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls)))


@pytest.fixture
def plain(app_factory, upstream):
    return app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0")


@pytest.fixture
def plain_process(server_factory, upstream):  # the log lines of a real server, and WebSockets
    return server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0",
                          "--log-format", "json")


def test_counters_move_by_the_traffic(plain, upstream):
    client = plain.client()
    before = scrape(plain)
    upstream.reply({"content": "one two three", "usage": {"prompt_tokens": 11, "completion_tokens": 3}},
                   {"content": "four", "usage": {"prompt_tokens": 7, "completion_tokens": 1}},
                   {"tool_calls": [{"name": "lookup", "arguments": "{}"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    client.responses.create(model="scripted", input="a")
    with client.responses.create(model="scripted", input="b", stream=True) as stream:
        for _ in stream:
            pass
    client.responses.create(model="scripted", input="c", tools=[{"type": "function", "name": "lookup",
                                                                  "parameters": {"type": "object"}}])
    for _ in range(2):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_missing")
    upstream.reply({"error": {"status": 500, "message": "boom"}})
    failed = client.responses.create(model="scripted", input="d")
    after = scrape(plain)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    route = {"route": "/v1/responses", "method": "POST"}
    assert moved("respond_http_requests_total", status="200", **route) == 4
    assert moved("respond_http_requests_total", route="/v1/responses/{response_id}", status="404") == 2
    assert moved("respond_http_request_duration_seconds_count", **route) == 4
    assert moved("respond_tokens_total", model="scripted", kind="input") == 11 + 7 + 5
    assert moved("respond_tokens_total", model="scripted", kind="output") == 3 + 1 + 2
    assert moved("respond_time_to_first_token_seconds_count", model="scripted") == 3
    assert moved("respond_responses_total", model="scripted", status="completed") == 3
    assert moved("respond_upstream_errors_total", backend="openai_compat", kind="http_5xx") == 1
    assert failed.status == "failed"
    assert moved("respond_responses_total", model="scripted", status="failed") == 1
    assert moved("respond_generation_seconds_total", model="scripted") > 0
    # no id, no key is ever a label
    for (name, labels), _ in after.items():
        for _, label_value in labels:
            assert not label_value.startswith(("resp_", "req_", "test-key")), (name, labels)


def test_queue_gauges(plain):
    client = plain.client()  # --workers 0: background runs stay queued
    for _ in range(3):
        client.responses.create(model="scripted", input="later", background=True)
    time.sleep(1.1)
    samples = scrape(plain)
    assert value(samples, "respond_background_queue_depth") == 3
    assert value(samples, "respond_background_oldest_queued_seconds") >= 1


def test_request_ids_reach_engine_logs(plain_process, upstream):
    plain = plain_process
    http = plain.http()
    resp = http.post("/responses", json={"model": "scripted", "input": "x"}, headers={"x-request-id": "trace-42"})
    assert resp.status_code == 200 and resp.headers["x-request-id"] == "trace-42"
    generated = http.get("/models").headers["x-request-id"]
    assert generated.startswith("req_")
    bad = http.get("/models", headers={"x-request-id": "has spaces\tand tabs"}).headers["x-request-id"]
    assert bad.startswith("req_")
    bg = plain.client().responses.create(model="scripted", input="queued", background=True)
    with plain.client().responses.connect() as conn:
        conn.response.create(model="scripted", input="over ws")
        for event in conn:
            if event.type == "response.completed":
                break
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in plain.log_path.read_text().splitlines() if line.startswith("{")]
        if any(r["logger"] == "respond.websocket" and "closed" in r["message"] for r in lines):
            break
        time.sleep(0.1)
    mine = [r for r in lines if r["request_id"] == "trace-42"]
    loggers = {r["logger"] for r in mine}
    assert {"respond.run", "respond.http"} <= loggers, mine  # the engine's line and the access line
    assert all(set(r) >= {"ts", "level", "logger", "request_id", "message"} for r in lines)
    ws = [r for r in lines if r["logger"] == "respond.websocket"]
    assert [r["message"].split(":")[0] for r in ws] == ["websocket session opened", "websocket session closed"]
    assert ws[0]["request_id"] == ws[1]["request_id"] != "-"
    # the engine's line for the ws response carries the session's id
    assert any(r["logger"] == "respond.run" and r["request_id"] == ws[0]["request_id"] for r in lines)
    assert bg.status == "queued"


@pytest.fixture
def keyed(app_factory, upstream):
    return app_factory("--upstream", upstream.base_url, "--embedded", "off", "--api-key", "key-a")


def test_metrics_protected_like_the_api(keyed):
    assert keyed.root().get("/metrics").status_code == 401
    assert keyed.root("nope").get("/metrics").status_code == 401
    assert scrape(keyed, "key-a")


def test_metrics_key(app_factory, upstream):
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--api-key", "key-a",
                      "--metrics-key", "scraper")
    assert srv.root("key-a").get("/metrics").status_code == 401
    assert scrape(srv, "scraper")
    # the API itself still wants an API key, not the metrics key
    assert srv.http("scraper").get("/models").status_code == 401


@pytest.mark.parametrize("operator_flags", [["--admin-key", "boss"], ["--admin-key", "boss", "--metrics-key", "scraper"],
                                            ["--metrics-key", "scraper"]])
def test_metrics_answer_the_operator_never_a_tenant(app_factory, upstream, operator_flags):
    """Attack: a tenant scrapes /metrics to read every tenant's models and traffic. With an operator key
    configured, a tenant key is a 401; the admin key and the metrics key (whichever are set) work."""
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--api-key", "key-a",
                      "--api-key", "key-b", *operator_flags)
    srv.client("key-a").responses.create(model="scripted", input="tenant a traffic")
    root = srv.root()
    for tenant in ("key-a", "key-b"):
        refused = root.get("/metrics", headers={"Authorization": f"Bearer {tenant}"})
        assert refused.status_code == 401 and "scripted" not in refused.text
    assert root.get("/metrics").status_code == 401
    for header in ("Bearer", "Basic Ym9zczo=", "bearer  boss x", "Bearer boss\tx"):
        assert root.get("/metrics", headers={"Authorization": header}).status_code == 401, header
    for flag, key in zip(operator_flags[::2], operator_flags[1::2], strict=True):
        assert total(scrape(srv, key), "respond_responses_total", model="scripted") >= 1, flag


def test_multiprocess_mode(server_factory, upstream, tmp_path):
    mp = tmp_path / "prom"
    mp.mkdir()
    srv = server_factory("--upstream", upstream.base_url, "--embedded", "off",
                         env={"PROMETHEUS_MULTIPROC_DIR": str(mp)})
    srv.client().responses.create(model="scripted", input="x")
    samples = scrape(srv)
    assert total(samples, "respond_responses_total", status="completed") == 1
    assert any(mp.iterdir())  # values went through the shared files


def test_hosted_tool_calls_counted_and_vector_store_page(plain, upstream):
    from tests._kb import MANUAL_MD, make_store

    client = plain.client()
    store, _ = make_store(client, {"manual.md": (MANUAL_MD, None)})
    before = scrape(plain)
    upstream.reply({"tool_calls": [{"id": "c1", "name": "file_search", "arguments": '{"query": "warranty"}'}]},
                   {"content": "Two years."})
    r = client.responses.create(model="scripted", input="warranty?",
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert r.output[0].type == "file_search_call"
    after = scrape(plain)
    moved = total(after, "respond_tool_calls_total", type="file_search_call", outcome="completed") - \
        total(before, "respond_tool_calls_total", type="file_search_call", outcome="completed")
    assert moved == 1
    assert total(after, "respond_responses_total") - total(before, "respond_responses_total") == 1
    # the dashboard's vector store page: ingestion status and a working search box (no keys: open)
    page = plain.root().get(f"/dashboard/vector_stores/{store.id}", params={"q": "warranty"})
    assert page.status_code == 200 and "completed" in page.text and "manual.md" in page.text


def test_background_run_log_lines(server_factory, upstream):
    srv = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                         "--log-format", "json")
    client = srv.client()
    r = client.responses.create(model="scripted", input="in the background", background=True)
    deadline = time.monotonic() + 20
    while client.responses.retrieve(r.id).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    lines = [json.loads(line) for line in srv.log_path.read_text().splitlines() if line.startswith("{")]
    runs = [x for x in lines if x["logger"] == "respond.runs" and r.id in x["message"]]
    assert [x["message"].split(" on ")[0].split(" in ")[0] for x in runs] == [
        f"background run {r.id} started", f"background run {r.id} ended completed"]
    assert {x["request_id"] for x in runs} == {r.id}
    # the engine's own line for that run carries the run's id too
    assert any(x["logger"] == "respond.run" and x["request_id"] == r.id for x in lines)


def test_route_labels_are_templates(plain):
    for path in ("/dashboard/responses", "/dashboard/responses/resp_a", "/dashboard/responses/resp_b",
                 "/dashboard/static/dashboard.css", "/v1/responses/resp_c", "/no/such/path"):
        plain.root("test-key").get(path)
    routes = {dict(labels)["route"] for (name, labels) in scrape(plain) if name == "respond_http_requests_total"}
    assert {"/dashboard/responses", "/dashboard/responses/{response_id}", "/dashboard/static",
            "/v1/responses/{response_id}", "unmatched"} <= routes
    assert not any("resp_" in r for r in routes)


def test_a_client_cannot_forge_a_log_line(server_factory, upstream):
    """The attack: a path whose `%0A` decodes to a line break, then a whole fake access line, sent to a real
    server (httptools decodes the path uvicorn hands on) that logs in text: the fake line must not appear
    as a line of its own."""
    plain = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0")
    fake = "2026-12-06 00:00:00,000 INFO respond.http [req_forged] POST /v1/admin/keys 200 1.0ms"
    with plain.root() as root:
        assert root.get("/v1/%0A" + fake.replace(" ", "%20") + "%0D%1B[2K").status_code == 404
        assert root.get("/health").status_code == 200
    deadline = time.monotonic() + 5
    while "GET /health 200" not in plain.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = plain.log_path.read_text().splitlines()
    assert not any(line.startswith("2026-12-06 00:00:00,000") for line in lines)
    (logged,) = [line for line in lines if "req_forged" in line]
    assert logged.endswith(" GET /v1/\\n" + fake + "\\r\\x1b[2K 404 " + logged.rsplit(" ", 1)[1])
    assert "\r" not in plain.log_path.read_text() and "\x1b" not in plain.log_path.read_text()
