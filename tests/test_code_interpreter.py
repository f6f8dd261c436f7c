"""The hosted code_interpreter tool: the scripted model writes Python, the server runs it in a sandboxed
kernel of the container, the model answers; files written under /mnt/data come back cited."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

pytestmark = pytest.mark.process  # each call runs code in a sandboxed kernel process (seconds each)
EVENT = TypeAdapter(ResponseStreamEvent)
OUTPUTS = ["code_interpreter_call.outputs"]
AUTO = [{"type": "code_interpreter", "container": {"type": "auto"}}]


def run(code: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "python", "arguments": json.dumps({"code": code})}]}


def test_state_persists_along_the_chain(server, upstream):
    client = server.client()
    f = client.files.create(file=("sales.csv", b"month,amount\njan,10\nfeb,32\n"), purpose="user_data")
    tools = [{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [f.id]}}]
    upstream.reply(run("import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\ntotal = int(df.amount.sum())\n"
                       "print('total', total)"), {"content": "The total is 42."})
    r1 = client.responses.create(model="scripted", input="Sum the sales.", tools=tools)
    Response.model_validate(server.http().get(f"/responses/{r1.id}").json())
    call, msg = r1.output
    assert call.type == "code_interpreter_call" and call.status == "completed" and call.id.startswith("ci_")
    assert call.code.startswith("import pandas") and call.container_id.startswith("cntr_")
    assert call.outputs is None  # shown only with include
    assert r1.output_text == "The total is 42."
    tool_msg = upstream.requests()[-1]["messages"][-1]
    assert tool_msg["role"] == "tool" and "total 42" in tool_msg["content"]
    # the next response of the chain reuses the container and its kernel: `total` is still defined
    upstream.reply(run("print(total * 2)"), {"content": "84."})
    r2 = client.responses.create(model="scripted", input="Double it.", tools=AUTO, previous_response_id=r1.id,
                                 include=OUTPUTS)
    call2 = r2.output[0]
    assert call2.container_id == call.container_id
    assert call2.outputs[0].type == "logs" and call2.outputs[0].logs.strip() == "84"
    assert client.responses.retrieve(r1.id, include=OUTPUTS).output[0].outputs[0].logs.strip() == "total 42"
    assert client.containers.retrieve(call.container_id).status == "running"
    # a response outside the chain gets a container of its own
    upstream.reply(run("print('total' in globals())"), {"content": "No."})
    r3 = client.responses.create(model="scripted", input="Fresh?", tools=AUTO, include=OUTPUTS)
    assert r3.output[0].container_id != call.container_id and r3.output[0].outputs[0].logs.strip() == "False"


def test_chart_and_csv_come_back_as_files(server, upstream):
    client = server.client()
    c = client.containers.create(name="charts")
    client.containers.files.create(c.id, file=("points.csv", b"x,y\n1,1\n2,4\n3,9\n"))
    code = ("import pandas as pd, matplotlib.pyplot as plt\n"
            "df = pd.read_csv('points.csv')\n"
            "df['z'] = df.x + df.y\n"
            "df.to_csv('/mnt/data/out.csv', index=False)\n"
            "plt.plot(df.x, df.y)\nplt.savefig('/mnt/data/chart.png')\nplt.show()\n")
    upstream.reply(run(code), {"content": "Here is the chart and the table out.csv."})
    r = client.responses.create(model="scripted", input="Plot it.", include=OUTPUTS,
                                tools=[{"type": "code_interpreter", "container": c.id}])
    call, msg = r.output
    assert call.container_id == c.id
    images = [o for o in call.outputs if o.type == "image"]
    assert len(images) == 1 and images[0].url.startswith("data:image/png;base64,")
    assert base64.b64decode(images[0].url.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    files = {x.path: x for x in client.containers.files.list(c.id).data}
    assert {"/mnt/data/out.csv", "/mnt/data/chart.png", "/mnt/data/points.csv"} <= set(files)
    assert files["/mnt/data/out.csv"].source == "assistant"
    chart = client.containers.files.content.retrieve(files["/mnt/data/chart.png"].id, container_id=c.id).read()
    assert chart[:8] == b"\x89PNG\r\n\x1a\n"
    table = client.containers.files.content.retrieve(files["/mnt/data/out.csv"].id, container_id=c.id).read()
    assert table == b"x,y,z\n1,1,2\n2,4,6\n3,9,12\n"
    cites = {a.filename: a for a in msg.content[0].annotations}
    assert set(cites) == {"out.csv", "chart.png"}
    out = cites["out.csv"]
    assert out.type == "container_file_citation" and out.container_id == c.id
    assert out.file_id == files["/mnt/data/out.csv"].id
    assert r.output_text[out.start_index:out.end_index] == "out.csv"
    assert "Files saved: /mnt/data/chart.png, /mnt/data/out.csv" in upstream.requests()[-1]["messages"][-1]["content"]


def test_streamed_events(server, upstream):
    upstream.reply(run("print(6 * 7)"), {"content": "42"})
    events = []
    with server.http().stream("POST", "/responses", json={
            "model": "scripted", "input": "Compute.", "tools": AUTO, "include": OUTPUTS, "stream": True}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    for ev in events:
        EVENT.validate_python(ev)
    types = [e["type"] for e in events]
    order = ["response.output_item.added", "response.code_interpreter_call.in_progress",
             "response.code_interpreter_call_code.delta", "response.code_interpreter_call_code.done",
             "response.code_interpreter_call.interpreting", "response.code_interpreter_call.completed",
             "response.output_item.done"]
    start = types.index("response.code_interpreter_call.in_progress") - 1
    assert types[start:start + len(order)] == order
    assert events[start + 2]["delta"] == "print(6 * 7)" and events[start + 3]["code"] == "print(6 * 7)"
    done = events[start + 6]["item"]
    assert done["type"] == "code_interpreter_call" and done["outputs"] == [{"type": "logs", "logs": "42\n"}]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["status"] == "completed" and [o["type"] for o in final["output"]] == ["code_interpreter_call",
                                                                                       "message"]


def test_background(server, upstream):
    client = server.client()
    upstream.reply(run("import math\nprint(math.factorial(10))"), {"content": "3628800"})
    r = client.responses.create(model="scripted", input="10!", tools=AUTO, background=True, include=OUTPUTS)
    deadline = time.time() + 60
    while r.status in ("queued", "in_progress") and time.time() < deadline:
        time.sleep(0.2)
        r = client.responses.retrieve(r.id, include=OUTPUTS)
    assert r.status == "completed"
    assert r.output[0].outputs[0].logs.strip() == "3628800" and r.output_text == "3628800"


def test_bad_tool_config(server, upstream):
    http = server.http()
    base = {"model": "scripted", "input": "x"}
    r = http.post("/responses", json={**base, "tools": [{"type": "code_interpreter"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].container"
    r = http.post("/responses", json={**base, "tools": [{"type": "code_interpreter", "container": "cntr_nope"}]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "tools[0].container"
    r = http.post("/responses", json={**base, "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-nope"]}}]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "tools[0].container.file_ids"
    r = http.post("/responses", json={**base, "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "network_policy": {"type": "allowlist"}}}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].container.network_policy"


def test_no_sandbox_no_tool(server_factory, upstream, tmp_path):
    """Without a working sandbox the tool is refused (400 naming it), never run unsandboxed."""
    s = server_factory("--upstream", upstream.base_url, "--embedded", "off",
                       "--code-python", str(tmp_path / "no-python"))
    r = s.http().post("/responses", json={"model": "scripted", "input": "x", "tools": AUTO})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "tools[0].type" and "code_interpreter" in err["message"] and "sandbox" in err["message"]
    assert "code_interpreter sandbox NOT available" in s.log_path.read_text()
    assert upstream.requests() == []
    # containers (files) still work without the sandbox
    assert s.client().containers.create(name="files only").status == "running"


@pytest.mark.parametrize("memory", ["4g"])
def test_memory_limit_above_the_servers(server, memory):
    r = server.http().post("/responses", json={"model": "scripted", "input": "x", "tools": [
        {"type": "code_interpreter", "container": {"type": "auto", "memory_limit": memory}}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].container.memory_limit"


def test_tool_choice_forces_the_call(server, upstream):
    upstream.reply(run("print(1)"), {"content": "1"})
    r = server.client().responses.create(model="scripted", input="x", tools=AUTO,
                                         tool_choice={"type": "code_interpreter"})
    assert r.output[0].type == "code_interpreter_call"
    first = upstream.requests()[-2]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "python"}}


def test_containers_across_replicas(server_factory, upstream, pg_database):
    """Files are in the store: a container made on one replica runs code on another, and back."""
    a = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=pg_database)
    b = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=pg_database)
    ca, cb = a.client(), b.client()
    c = ca.containers.create(name="shared")
    ca.containers.files.create(c.id, file=("in.txt", b"from a"))
    tools = [{"type": "code_interpreter", "container": c.id}]
    upstream.reply(run("data = open('in.txt').read()\nopen('/mnt/data/out.txt', 'w').write(data.upper())\n"
                       "print(data)"), {"content": "ok"})
    r = cb.responses.create(model="scripted", input="x", tools=tools, include=OUTPUTS)
    assert r.output[0].outputs[0].logs.strip() == "from a"
    out = next(f for f in ca.containers.files.list(c.id).data if f.path == "/mnt/data/out.txt")
    assert ca.containers.files.content.retrieve(out.id, container_id=c.id).read() == b"FROM A"
    # a file added on A reaches B's running kernel at its next call; B's variables are still there
    ca.containers.files.create(c.id, file=("late.txt", b"late"))
    upstream.reply(run("print(open('late.txt').read(), data)"), {"content": "ok"})
    r = cb.responses.create(model="scripted", input="x", tools=tools, include=OUTPUTS)
    assert r.output[0].outputs[0].logs.strip() == "late from a"


def test_replayed_stream_of_a_stored_response(server, upstream):
    """GET ?stream=true of a non-streamed response replays the call's progress events."""
    upstream.reply(run("print('hi')"), {"content": "hi"})
    r = server.client().responses.create(model="scripted", input="x", tools=AUTO)
    events = []
    with server.http().stream("GET", f"/responses/{r.id}", params={"stream": "true"}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    for ev in events:
        EVENT.validate_python(ev)
    types = [e["type"] for e in events if "code_interpreter" in e["type"]]
    assert types == ["response.code_interpreter_call.in_progress", "response.code_interpreter_call_code.delta",
                     "response.code_interpreter_call_code.done", "response.code_interpreter_call.interpreting",
                     "response.code_interpreter_call.completed"]
    done = next(e for e in events if e["type"] == "response.output_item.done")
    assert done["item"]["code"] == "print('hi')" and done["item"]["container_id"] == r.output[0].container_id
