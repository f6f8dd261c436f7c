"""Capture the first release's database rows and API reads (run once, against the release's code).

    python tests/data/release1/capture.py  # with the release checked out and installed

writes rows.json (every row of every table, as the release wrote it; bytes as {"$b64": ...}) and
reads.json (what the release's API answered for them).  tests/test_migrations.py rebuilds the
database from rows.json on the first release's frozen migration steps, upgrades it, and checks
that today's server answers at least what reads.json holds.  Captured from main at 3f6948d.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(url)


def fill(api: httpx.Client, up: httpx.Client) -> dict[str, Any]:
    reads: dict[str, Any] = {}
    up.post("/_control/replies", json={"replies": [{"content": "Hello there."}, {"content": "Second answer."},
                                                   {"tool_calls": [{"name": "get_weather",
                                                                    "arguments": "{\"city\": \"Paris\"}"}]},
                                                   {"content": "Background answer."}]}).raise_for_status()
    first = api.post("/responses", json={"model": "m", "input": "Hi", "metadata": {"k": "v"},
                                         "instructions": "Be brief."}).json()
    second = api.post("/responses", json={"model": "m", "input": [{"role": "user", "content": "More"}],
                                          "previous_response_id": first["id"]}).json()
    tool = api.post("/responses", json={"model": "m", "input": "Weather?", "tools": [{
        "type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}}}}]}).json()
    bg = api.post("/responses", json={"model": "m", "input": "Later", "background": True}).json()
    for _ in range(100):
        if api.get(f"/responses/{bg['id']}").json()["status"] == "completed":
            break
        time.sleep(0.1)
    conv = api.post("/conversations", json={"metadata": {"topic": "t"}, "items": [
        {"type": "message", "role": "user", "content": "In a conversation"}]}).json()
    file = api.post("/files", files={"file": ("notes.txt", b"Respond stores everything.\n")},
                    data={"purpose": "assistants"}).json()
    store = api.post("/vector_stores", json={"name": "kb", "metadata": {"a": "b"}}).json()
    api.post(f"/vector_stores/{store['id']}/files", json={"file_id": file["id"], "attributes": {"x": 1}})
    time.sleep(2)
    for r in (first, second, tool, bg):
        reads[f"/responses/{r['id']}"] = api.get(f"/responses/{r['id']}").json()
        reads[f"/responses/{r['id']}/input_items"] = api.get(f"/responses/{r['id']}/input_items").json()
    reads[f"/conversations/{conv['id']}"] = api.get(f"/conversations/{conv['id']}").json()
    reads[f"/conversations/{conv['id']}/items"] = api.get(f"/conversations/{conv['id']}/items").json()
    reads[f"/files/{file['id']}"] = api.get(f"/files/{file['id']}").json()
    reads[f"/vector_stores/{store['id']}"] = api.get(f"/vector_stores/{store['id']}").json()
    reads[f"/vector_stores/{store['id']}/files"] = api.get(f"/vector_stores/{store['id']}/files").json()
    return reads


def dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                      "AND name NOT LIKE 'chunks_fts%' AND name != 'schema_migrations'")]
    out: dict[str, list[dict[str, Any]]] = {}
    for name in sorted(names):
        out[name] = [{k: {"$b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
                      for k, v in dict(row).items()} for row in db.execute(f"SELECT * FROM {name}")]  # noqa: S608
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    up_port, port = free_port(), free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "respond.testing.upstream", "--port", str(up_port)])]
    wait(f"http://127.0.0.1:{up_port}/_control/requests")
    procs.append(subprocess.Popen([sys.executable, "-m", "respond", "serve", "--port", str(port), "--database",
                                   f"sqlite:///{tmp / 'r.db'}", "--upstream", f"http://127.0.0.1:{up_port}/v1",
                                   "--embedded", "off"]))
    wait(f"http://127.0.0.1:{port}/health")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as api, \
                httpx.Client(base_url=f"http://127.0.0.1:{up_port}", timeout=30) as up:
            reads = fill(api, up)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
    (HERE / "rows.json").write_text(json.dumps(dump(tmp / "r.db"), indent=1, sort_keys=True) + "\n")
    (HERE / "reads.json").write_text(json.dumps(reads, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
