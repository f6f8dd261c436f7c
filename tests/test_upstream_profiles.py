"""Upstream profiles: Respond adapts to what an upstream cannot do (issue 18, point 5).

With the scripted upstreams declared as llama-cpp-python's server (`profile=llama-cpp-server`):
usage counted by Respond when none comes back (never 0 for output), structured output asked as
`json_object` + `schema` and validated by Respond, a required tool call that did not come back
failing the response with an error naming the limitation.  Then the real thing: llama-cpp-python's
own server (`python -m llama_cpp.server`) on the embedded GGUF, as a third-party upstream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from respond import backends
from respond.backends.profiles import estimate
from tests.conftest import free_port

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
          "required": ["city", "days"], "additionalProperties": False}
FORMAT = {"format": {"type": "json_schema", "name": "trip", "schema": SCHEMA, "strict": True}}
TOOLS = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(scope="module", params=["openai_compat", "openai_responses"])
def pserver(request: pytest.FixtureRequest, module_app_factory: Any, upstream_server: Any) -> Any:
    spec = f"{request.param}:base_url={upstream_server.base_url},profile=llama-cpp-server"
    return module_app_factory("--backend", spec, "--embedded", "off")


def test_usage_counted_when_the_upstream_sends_none(pserver: Any, upstream: Any) -> None:
    text = "Twelve words of output that the upstream never counted for us, sadly."
    upstream.reply({"content": text, "no_usage": True,
                    "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}})
    r = pserver.client().responses.create(model="scripted", input="Say something long.")
    assert r.status == "completed" and r.usage is not None
    # the scripted upstream has no tokenizer endpoint: Respond's documented estimate
    assert r.usage.output_tokens == estimate(text) and r.usage.input_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_json_schema_asked_in_the_upstreams_form_and_validated(pserver: Any, upstream: Any) -> None:
    upstream.reply({"content": '{"city": "Oslo", "days": 3}'}, {"content": '{"city": "Oslo", "days": "three"}'},
                   {"content": "Oslo for three days"})
    client = pserver.client()
    ok = client.responses.create(model="scripted", input="trip", text=FORMAT)
    assert ok.status == "completed" and json.loads(ok.output_text) == {"city": "Oslo", "days": 3}
    req = upstream.requests()[0]
    if "messages" in req:  # chat: llama-cpp-python's form, json_object with the schema
        assert req["response_format"] == {"type": "json_object", "schema": SCHEMA}
    for expected in ("does not match the schema at days", "it is not JSON"):
        bad = client.responses.create(model="scripted", input="trip", text=FORMAT)
        assert bad.status == "failed" and bad.error is not None
        # the SDK's error codes are a closed list: Respond's own code rides in the message
        assert bad.error.code == "server_error" and "(upstream_structured_output)" in bad.error.message
        assert "llama-cpp-server" in bad.error.message and expected in bad.error.message


def test_required_tool_call_that_did_not_come_back_fails(pserver: Any, upstream: Any) -> None:
    upstream.reply({"content": "I would rather talk."}, {"content": "Still talking."},
                   {"tool_calls": [{"name": "weather", "arguments": '{"city": "Rome"}'}]})
    client = pserver.client()
    for choice in ("required", {"type": "function", "name": "weather"}):
        r = client.responses.create(model="scripted", input="weather?", tools=TOOLS,
                                    tool_choice=choice)
        assert r.status == "failed" and r.error is not None
        assert r.error.code == "server_error" and "(upstream_tool_choice_unsupported)" in r.error.message
        assert "does not enforce tool_choice" in r.error.message and "llama-cpp-server" in r.error.message
    r = client.responses.create(model="scripted", input="weather?", tools=TOOLS,
                                tool_choice="required")
    assert r.status == "completed" and r.output[0].type == "function_call"


def test_profiles_are_checked() -> None:
    with pytest.raises(ValueError, match="Known profiles: auto, default, llama-cpp-server"):
        backends.create("openai_compat", base_url="http://127.0.0.1:1/v1", profile="nope")
    with pytest.raises(ValueError, match="Unknown upstream profile setting 'colour'"):
        backends.create("openai_responses", base_url="http://127.0.0.1:1/v1", colour="red")
    with pytest.raises(ValueError, match="structured_output must be one of"):
        backends.create("openai_compat", base_url="http://127.0.0.1:1/v1", structured_output="xml")
    b = backends.create("openai_compat", base_url="http://127.0.0.1:1/v1", profile="llama-cpp-server",
                        tool_choice_support="true")
    assert b.profile.tool_choice_support and not b.profile.stream_usage  # type: ignore[attr-defined]


async def test_auto_profile_probes_the_upstream(upstream: Any) -> None:
    """The scripted upstream is none of the known servers: `auto` settles on `default` (overrides kept);
    an unreachable upstream too, without failing the start."""
    for url in (upstream.base_url, "http://127.0.0.1:1/v1"):
        b = backends.create("openai_responses", base_url=url, profile="auto", stream_usage="false")
        await b.warmup()  # type: ignore[attr-defined]
        assert b.profile.name == "default" and not b.profile.stream_usage  # type: ignore[attr-defined]
        await b.close()


# -- llama-cpp-python's own server, a real third-party upstream ------------------------------------
# A real model on 2 shared cores: a reply takes seconds on a quiet machine and much longer under load;
# the client waits for it (the server's own timeouts still apply).  One llama.cpp thread: its threads
# spin at barriers, and two of them on a loaded machine were measured ~9x slower than one.
LLAMA_TIMEOUT = 600
def _gguf() -> Path | None:
    root = Path(os.environ.get("RESPOND_CACHE_DIR") or Path.home() / ".cache" / "respond") / "models"
    found = sorted(root.glob("*.gguf")) if root.is_dir() else []
    return found[0] if found else None


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server extra is not installed")
    model = _gguf()
    if model is None:
        pytest.skip("the embedded GGUF has not been assembled yet (start `respond serve` once)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
                                 "--model_alias", "qwen"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start in 180 s")
    yield base
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def via_llama(llama_server: str, module_server_factory: Any) -> Any:
    return module_server_factory("--backend", f"openai_compat:base_url={llama_server},profile=auto",
                                 "--embedded", "off")


@pytest.mark.model
async def test_auto_profile_recognises_llama_cpp_server(llama_server: str) -> None:
    b = backends.create("openai_compat", base_url=llama_server, profile="auto")
    await b.warmup()  # type: ignore[attr-defined]
    assert b.profile.name == "llama-cpp-server" and b.profile.structured_output == "json_object_schema"  # type: ignore[attr-defined]
    await b.close()


@pytest.mark.model
async def test_auto_profile_is_probed_for_each_replica_of_an_upstream(llama_server: str) -> None:
    from respond.engine.execution.replicas import ReplicaSet

    b = backends.create("openai_responses", base_url=llama_server, profile="auto")
    replicas = ReplicaSet("llama", [("r1", b)], kind="responses", models=["qwen"])
    await replicas.warmup()
    try:
        assert b.profile.name == "llama-cpp-server"  # type: ignore[attr-defined]
    finally:
        await replicas.close()


@pytest.mark.model
def test_llama_cpp_server_plain_text_has_usage(via_llama: Any, llama_server: str) -> None:
    r = via_llama.client(timeout=LLAMA_TIMEOUT).responses.create(model="qwen", input="Say hello in three words.", max_output_tokens=16,
                                            temperature=0)
    assert r.status in ("completed", "incomplete") and r.output_text
    assert r.usage is not None and r.usage.output_tokens > 0 and r.usage.input_tokens > 0
    # counted by the upstream's own tokenizer (/extras/tokenize/count), not estimated
    count = httpx.post(llama_server.removesuffix("/v1") + "/extras/tokenize/count",
                       json={"input": r.output_text}).json()["count"]
    assert r.usage.output_tokens == count


@pytest.mark.model
def test_llama_cpp_server_json_schema_parses(via_llama: Any) -> None:
    r = via_llama.client(timeout=LLAMA_TIMEOUT).responses.create(model="qwen", input="A trip: Oslo for 3 days, as JSON.",
                                            text=FORMAT, temperature=0, max_output_tokens=40)
    assert r.status == "completed", r.error
    value = json.loads(r.output_text)
    assert set(value) == {"city", "days"} and isinstance(value["days"], int)


@pytest.mark.model
def test_llama_cpp_server_tool_choice_required_is_handled_honestly(via_llama: Any) -> None:
    r = via_llama.client(timeout=LLAMA_TIMEOUT).responses.create(model="qwen", input="What is the weather in Rome?", tools=TOOLS,
                                            tool_choice="required", temperature=0, max_output_tokens=16)
    # Either the server really called the tool, or the response says it did not: never a silent pass.
    if r.status == "completed":
        assert r.output[-1].type == "function_call"
    else:
        assert r.status == "failed" and r.error is not None
        assert "(upstream_tool_choice_unsupported)" in r.error.message
