"""`respond serve --processes N`: one port, N server processes sharing the database; a dead one is replaced,
SIGTERM stops them all, a killed supervisor leaves nothing serving, /metrics counts every process."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.test_background import wait_status

pytestmark = pytest.mark.process


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(c) for c in text)
    return found


def wait_children(pid: int, n: int, timeout: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = children(pid)
        if len(got) == n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{pid} has children {children(pid)}, not {n}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def wait_gone(pids: set[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(alive(p) for p in pids), [p for p in pids if alive(p)]


def posted(root: httpx.Client) -> int:
    """POST /v1/responses answered 200, as /metrics counts them."""
    total = 0
    for line in root.get("/metrics").text.splitlines():
        if line.startswith("respond_http_requests_total{") and all(
                label in line for label in ('route="/v1/responses"', 'method="POST"', 'status="200"')):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_processes_share_the_port_the_store_and_the_metrics(server_factory: Any, upstream: Any,
                                                            database: str) -> None:
    srv: Server = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--processes", "2",
                                 database=database)
    assert srv.proc is not None
    supervisor = srv.proc.pid
    first = wait_children(supervisor, 2)
    made = []
    for i in range(12):  # a new connection each: the kernel hands them to either process
        with httpx.Client(base_url=srv.base_url, headers={"Authorization": "Bearer k"}, timeout=30) as http:
            r = http.post("/responses", json={"model": "scripted", "input": f"hello {i}"})
            assert r.status_code == 200, r.text
            made.append(r.json()["id"])
    client = srv.client()
    for rid in made:  # whichever process stored it, every one reads it
        assert client.responses.retrieve(rid).status == "completed"
    bg = client.responses.create(model="scripted", input="later", background=True)
    assert wait_status(client, bg.id, {"completed", "failed"}).status == "completed"
    with srv.root() as root:
        assert posted(root) == len(made) + 1  # all processes' counters, whichever answered the scrape

    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)  # one dies: the other serves, the supervisor replaces it
    client = srv.client()  # (the old one's kept-alive connection may have been to the killed process)
    assert client.responses.create(model="scripted", input="still here").status == "completed"
    again = wait_children(supervisor, 2)
    assert victim not in again and len(again & first) == 1
    assert client.responses.create(model="scripted", input="and again").status == "completed"

    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    wait_gone(again)


def test_a_killed_supervisor_leaves_nothing_serving(server_factory: Any, upstream: Any, database: str) -> None:
    srv: Server = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--processes", "2",
                                 database=database)
    assert srv.proc is not None
    kids = wait_children(srv.proc.pid, 2)
    srv.kill()
    wait_gone(kids)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{srv.port}/health", timeout=2)


def test_processes_must_be_at_least_one(server_factory: Any, upstream: Any, database: str) -> None:
    srv: Server = server_factory("--upstream", upstream.base_url, "--processes", "0", database=database,
                                 start=False)
    with pytest.raises(RuntimeError, match="--processes must be at least 1"):
        srv.start(timeout=30)


def test_a_database_that_cannot_be_migrated_stops_the_supervisor(server_factory: Any, upstream: Any) -> None:
    srv: Server = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--processes", "2",
                                 database="postgresql://postgres@127.0.0.1:1/unreachable", start=False)
    with pytest.raises(RuntimeError, match="migrations failed"):
        srv.start(timeout=60)


def test_settings_that_cannot_make_a_server_stop_the_supervisor(server_factory: Any, upstream: Any,
                                                                  tmp_path: Path) -> None:
    """Every process would fail the same way: the supervisor says why once and exits, it does not retry."""
    srv: Server = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--processes", "2",
                                 "--prompts", str(tmp_path / "no-such-folder"), start=False)
    with pytest.raises(RuntimeError, match="exited with 2") as failed:
        srv.start(timeout=60)
    assert "--prompts must be a folder" in str(failed.value)


def test_ctrl_c_right_after_a_burst_stops_cleanly(server_factory: Any, upstream: Any, database: str) -> None:
    """SIGINT (Ctrl-C) with keep-alive connections just used: exit 0 and no traceback (uvicorn re-raises the
    signal it shut down for once it is done; `respond serve` ends there as `uvicorn.run` does)."""
    from concurrent.futures import ThreadPoolExecutor

    srv: Server = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=database)
    assert srv.proc is not None
    clients = [srv.http() for _ in range(8)]

    def burst(http: httpx.Client) -> int:
        return sum(http.post("/responses", json={"model": "scripted", "input": "hi"}).status_code == 200
                   for _ in range(25))

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(burst, clients)) == 200
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(30) == 0
    for http in clients:
        http.close()
    assert "Traceback" not in srv.log_path.read_text()
