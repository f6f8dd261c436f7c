"""Routing over a --config file, with real scripted upstreams: in process, and with real `respond serve`
processes where the process matters (replicas killed, the command line).

Two chat upstreams: `alpha` as two replicas (two scripted servers) serving `m-a` (configured), and
`beta` (one server) whose models are listed from it (`scripted`); one stateless responses upstream,
`gamma`, serving `m-r` (the scripted server's /v1/responses mode, on beta's server); aliases name
them all.  The replica
test gets its own server process, since it kills upstreams.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import UpstreamThread


def config(path: Path, alpha: list[str], beta: str, extra: str = "", backoff: float = 30) -> Path:
    urls = ", ".join(f'"{u}"' for u in alpha)
    path.write_text(f"""
embedded = "off"
default_model = "m-a"
{extra}
[[upstreams]]
name = "alpha"
kind = "chat"
urls = [{urls}]
api_key_env = "ALPHA_KEY"
models = ["m-a"]
backoff_s = {backoff}
health_interval_s = 0.2

[[upstreams]]
name = "beta"
url = "{beta}"
api_key_file = "beta.key"

[[upstreams]]
name = "gamma"
kind = "responses"
url = "{beta}"
models = ["m-r"]

[aliases]
"gpt-4o" = "m-a"
"gpt-4.1-mini" = "scripted"
"o4-mini" = "m-r"
""")
    (path.parent / "beta.key").write_text("sk-beta-file-secret\n")
    return path


@pytest.fixture(scope="module")
def ups() -> Any:
    started = [UpstreamThread() for _ in range(3)]
    yield started
    for up in started:
        up.stop()


@pytest.fixture(scope="module")
def routed(module_app_factory, ups, tmp_path_factory):
    """The app of `respond serve --config respond.toml`, in process (the file is read as the CLI reads it)."""
    a1, a2, b = ups
    path = config(tmp_path_factory.mktemp("cfg") / "respond.toml", [a1.base_url, a2.base_url], b.base_url)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ALPHA_KEY", "sk-alpha-env-secret")  # read when the settings are made
        return module_app_factory("--config", str(path))


@pytest.fixture
def clean(ups):
    for up in ups:
        up.reset()
    return ups


def test_routes_by_model_and_alias(routed, clean):
    a1, a2, b = clean
    client = routed.client()
    r = client.responses.create(model="scripted", input="to beta")
    assert r.model == "scripted" and r.output_text == "Hello from the scripted upstream."
    assert [q["model"] for q in b.requests()] == ["scripted"] and not a1.requests() + a2.requests()
    r = client.responses.create(model="gpt-4o", input="to alpha by its alias")
    assert r.model == "m-a"  # the response names the model that made it
    sent = a1.requests() + a2.requests()
    assert [q["model"] for q in sent] == ["m-a"] and len(b.requests()) == 1
    r = client.responses.create(input="the default model")
    assert r.model == "m-a"


def test_replicas_share_the_load(routed, clean):
    a1, a2, _ = clean
    client = routed.client()
    for i in range(6):
        client.responses.create(model="m-a", input=f"n{i}")
    assert len(a1.requests()) == len(a2.requests()) == 3


def test_model_list_and_unknown_model(routed, clean):
    http = routed.http()
    models = {m["id"]: m for m in http.get("/models").json()["data"]}
    assert models["m-a"]["owned_by"] == "alpha" and models["scripted"]["owned_by"] == "beta"
    assert models["gpt-4o"] == {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "alpha",
                                "alias_for": "m-a"}
    assert models["gpt-4.1-mini"]["alias_for"] == "scripted" and models["gpt-4.1-mini"]["owned_by"] == "beta"
    assert models["m-r"]["owned_by"] == "gamma" and models["o4-mini"]["alias_for"] == "m-r"
    with pytest.raises(openai.NotFoundError) as err:
        routed.client().responses.create(model="gpt-5-turbo", input="x")
    body = err.value.body
    assert isinstance(body, dict) and body["code"] == "model_not_found" and body["param"] == "model"
    assert "'gpt-4o'" in body["message"] and "'m-a'" in body["message"] and "'scripted'" in body["message"]


def test_a_chain_alternates_models_across_upstreams_and_kinds(routed, clean):
    a1, a2, b = clean
    client = routed.client()
    hello = "Hello from the scripted upstream."  # what alpha's replicas answer
    r1 = client.responses.create(model="m-a", input="first question")
    b.reply({"content": "gamma two"})
    r2 = client.responses.create(model="o4-mini", input="second question", previous_response_id=r1.id)
    b.reply({"content": "beta three"})
    r3 = client.responses.create(model="scripted", input="third question", previous_response_id=r2.id)
    r4 = client.responses.create(model="gpt-4o", input="fourth question", previous_response_id=r3.id)
    assert [r.output_text for r in (r1, r2, r3, r4)] == [hello, "gamma two", "beta three", hello]
    assert [r.model for r in (r1, r2, r3, r4)] == ["m-a", "m-r", "scripted", "m-a"]
    to_gamma, to_beta = b.requests()
    # the responses upstream got the whole history, statelessly
    assert to_gamma["model"] == "m-r" and to_gamma["store"] is False and "previous_response_id" not in to_gamma
    assert [(i["role"], _text(i["content"])) for i in to_gamma["input"]] == [
        ("user", "first question"), ("assistant", hello), ("user", "second question")]
    assert [(m["role"], _text(m["content"])) for m in to_beta["messages"]] == [
        ("user", "first question"), ("assistant", hello), ("user", "second question"), ("assistant", "gamma two"),
        ("user", "third question")]
    last = max(a1.requests() + a2.requests(), key=lambda q: len(q["messages"]))
    assert [(m["role"], _text(m["content"])) for m in last["messages"]] == [
        ("user", "first question"), ("assistant", hello), ("user", "second question"), ("assistant", "gamma two"),
        ("user", "third question"), ("assistant", "beta three"), ("user", "fourth question")]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_upstream_metrics(routed, clean):
    routed.client().responses.create(model="scripted", input="count me")
    text = routed.root().get("/metrics").text
    assert 'respond_upstream_requests_total{outcome="ok",replica="' in text
    assert 'respond_upstream_up{replica="' + clean[2].base_url + '",upstream="beta"} 1.0' in text
    assert "respond_upstream_first_delta_seconds_bucket" in text


def metric(server: Any, line_start: str) -> float:
    for line in httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_replica_killed_then_all_down_then_back(server_factory, upstream_server, tmp_path):
    a1, a2 = UpstreamThread(), UpstreamThread()
    try:
        path = config(tmp_path / "respond.toml", [a1.base_url, a2.base_url], upstream_server.base_url, backoff=2)
        srv = server_factory("--config", str(path), env={"ALPHA_KEY": "k"})
        client = srv.client()
        for i in range(2):
            client.responses.create(model="m-a", input=f"warm {i}")
        port = a2.server.port
        a2.stop()  # killed: no client sees an error for requests it had not started
        texts = [client.responses.create(model="m-a", input=f"after {i}").output_text for i in range(4)]
        assert texts == ["Hello from the scripted upstream."] * 4
        label = f'replica="{a2.base_url}",upstream="alpha"'
        assert metric(srv, f"respond_upstream_up{{{label}}}") == 0.0
        assert metric(srv, f"respond_upstream_failovers_total{{{label}}}") == 1.0
        page = httpx.get(srv.base_url.removesuffix("/v1") + "/dashboard/upstreams").text
        row = next(r for r in page.split("<tr>") if a2.base_url in r)
        assert ">down<" in row and "alpha" in row and "next check in" in row
        assert ">up<" in next(r for r in page.split("<tr>") if a1.base_url in r)
        stream = client.responses.create(model="m-a", input="streamed", stream=True)
        assert [e.type for e in stream][-1] == "response.completed"
        a1.stop()  # now every replica is down
        http = srv.http()
        resp = http.post("/responses", json={"model": "m-a", "input": "anyone?"})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "upstream_unavailable"
        assert 1 <= int(resp.headers["retry-after"]) <= 30
        resp = http.post("/responses", json={"model": "m-a", "input": "anyone?", "stream": True})
        assert resp.status_code == 503 and "retry-after" in resp.headers
        # the other upstream is not affected
        assert client.responses.create(model="scripted", input="beta?").status == "completed"
        a2 = UpstreamThread(port=port)  # back on its address: the health check finds it
        deadline = time.monotonic() + 40  # backoffs double while it is down: 2, 4, 8, 16 s
        while metric(srv, f"respond_upstream_up{{{label}}}") != 1.0:
            assert time.monotonic() < deadline, "the restarted replica was never found up"
            time.sleep(0.2)
        assert client.responses.create(model="m-a", input="back").status == "completed"
        assert len(a2.requests()) == 1
    finally:
        for up in (a1, a2):
            if up.thread.is_alive():
                up.stop()


def check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`respond config check PATH`, run by the real command line in this process: (exit code, stdout, stderr)."""
    from respond.cli import main

    code = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_config_check_masks_secrets(tmp_path, monkeypatch, capsys):
    path = config(tmp_path / "respond.toml", ["http://10.0.0.5:8000/v1"], "http://10.0.0.9:11434/v1",
                  extra='admin_key = "admin-literal-secret"\nworkers = 2')
    monkeypatch.setenv("ALPHA_KEY", "sk-alpha-env-secret")
    monkeypatch.setenv("RESPOND_WORKERS", "5")
    code, out, err = check_config(path, capsys)
    assert code == 0, err
    for secret in ("sk-alpha-env-secret", "sk-beta-file-secret", "admin-literal-secret"):
        assert secret not in out
    assert 'admin_key = "****"' in out and "from env ALPHA_KEY" in out and "workers = 5" in out
    assert '"gpt-4o" = "m-a"' in out and 'urls = ["http://10.0.0.5:8000/v1"]' in out


def test_config_errors_stop_check(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[upstreams]]\nname = "x"\nurls = ["http://127.0.0.1:9/v1"]\napi_key = "sk-in-the-file"\n')
    code, _, err = check_config(path, capsys)
    assert code == 2 and "upstreams[0] ('x').api_key" in err and "api_key_env" in err
    assert "sk-in-the-file" not in err
    path.write_text('[[upstreams]]\nname = "r"\nkind = "responses"\nurl = "http://127.0.0.1:9/v1"\n'
                    '[upstreams.options]\nprofile = "no-such-profile"\n')
    code, _, err = check_config(path, capsys)  # the backend itself checks its options
    assert code == 2 and "upstreams 'r' (responses)" in err and "no-such-profile" in err


@pytest.mark.process
def test_a_config_error_stops_serve(tmp_path):
    """The `respond serve` process itself exits 2 on a bad file (the command line, as a process)."""
    path = tmp_path / "bad.toml"
    path.write_text("port = 8080\nworkerz = 2\n")
    done = subprocess.run([sys.executable, "-m", "respond", "serve", "--config", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "unknown key 'workerz' (did you mean 'workers'?)" in done.stderr
