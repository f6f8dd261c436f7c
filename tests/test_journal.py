"""Issue 17 item 10: an outage of any length loses nothing acknowledged.

Runs that end while PostgreSQL is down (a drained one, a stream, a background run) and requests made
during the outage answer at once: their final writes go to the process's journal (store/journal.py)
and are replayed when the database is back, or, after a `kill -9` during the outage, by the restarted
server at start.  Every acknowledged response is then retrievable with its full output.  The outage is
a real one: the scratch cluster of tests/test_pg_outage.py, stopped and started under the server.
The journal's own defences (forged lines, another database, another owner, replaying twice) are
tested on the files directly, against a real database.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from respond.store.journal import Journal, Write
from respond.store.sql import SqlStore
from tests.test_pg_outage import Cluster, cluster  # noqa: F401 - the scratch-cluster fixture

TEXT = "word " * 20
SLOW = {"content": TEXT, "chunks": 20, "chunk_delay": 0.15}  # ~3 s of generation
QUICK = {"content": "quick answer"}


def _serve(factory: Any, upstream: Any, url: str, journal: Path) -> Any:
    return factory("--upstream", upstream.base_url, "--embedded", "off", "--journal-dir", str(journal),
                   "--secret-key", "journal-test-secret", database=url)


def _outage(cluster: Cluster, factory: Any, upstream: Any, tmp_path: Path, seconds: float, kill: bool) -> None:  # noqa: F811
    journal = tmp_path / "journal"
    srv = _serve(factory, upstream, cluster.url, journal)
    http = srv.http()
    upstream.reply(SLOW, SLOW, SLOW, *[QUICK] * 3)
    bg = http.post("/responses", json={"model": "scripted", "input": "bg", "background": True}).json()["id"]
    results: dict[str, Any] = {}

    def foreground(stream: bool) -> None:
        with httpx.Client(base_url=srv.base_url, timeout=120) as c:
            if stream:
                with c.stream("POST", "/responses", json={"model": "scripted", "input": "s", "stream": True}) as r:
                    results["stream"] = [line for line in r.iter_lines() if line.startswith("data: ")]
            else:
                results["plain"] = c.post("/responses", json={"model": "scripted", "input": "p"})
            results[f"done_{stream}"] = time.monotonic()

    threads = [threading.Thread(target=foreground, args=(s,)) for s in (True, False)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the three runs are generating
    cluster.stop()
    down = time.monotonic()
    for t in threads:
        t.join(30)
    # the runs that were generating answered at once: no wait for the database
    assert max(results["done_True"], results["done_False"]) - down < 8, "a client waited for the database"
    assert results["plain"].status_code == 200, results["plain"].text
    assert '"response.completed"' in results["stream"][-1]
    stream_rid = httpx.Response(200, content=results["stream"][0][6:]).json()["response"]["id"]
    acknowledged = {results["plain"].json()["id"]: TEXT, stream_rid: TEXT, bg: TEXT}
    # new requests during the outage are answered too (a drained run needs no database until its end)
    for i in range(3):
        start = time.monotonic()
        r = http.post("/responses", json={"model": "scripted", "input": f"during {i}"})
        assert r.status_code == 200 and time.monotonic() - start < 5, r.text
        acknowledged[r.json()["id"]] = "quick answer"
    files = list(journal.glob("journal-*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    wait = time.monotonic() + 20
    while files[0].read_bytes().count(b"\n") < 6:  # fsync'd lines: the three runs and the three quick ones
        assert time.monotonic() < wait, files[0].read_bytes()[:2000]
        time.sleep(0.1)
    if kill:
        srv.kill()  # nothing flushed, nothing cleaned up
    time.sleep(max(0.0, seconds - (time.monotonic() - down)))
    cluster.start()
    if kill:
        srv = _serve(factory, upstream, cluster.url, journal)  # replays the dead process's journal at start
        http = srv.http()
    deadline = time.monotonic() + 60
    for rid, text in acknowledged.items():
        while True:
            got = http.get(f"/responses/{rid}")
            if got.status_code == 200 and got.json()["status"] == "completed":
                break
            assert time.monotonic() < deadline, (rid, got.status_code, got.text[:300])
            time.sleep(0.2)
        body = got.json()
        assert body["output"][0]["content"][0]["text"] == text, body
    if kill:
        assert not list(journal.glob("journal-*.jsonl.rejected"))
    ended = time.monotonic() + 10
    while any(p.stat().st_size for p in journal.glob("journal-*.jsonl")):
        assert time.monotonic() < ended, "the journal was not emptied once replayed"
        time.sleep(0.2)


def test_short_outage_loses_nothing(cluster: Cluster, server_factory: Any, upstream: Any, tmp_path: Path) -> None:  # noqa: F811
    _outage(cluster, server_factory, upstream, tmp_path, seconds=5, kill=False)


def test_kill_9_during_the_outage_then_restart_replays(cluster: Cluster, server_factory: Any, upstream: Any,  # noqa: F811
                                                       tmp_path: Path) -> None:
    _outage(cluster, server_factory, upstream, tmp_path, seconds=5, kill=True)


def test_a_minute_long_outage_loses_nothing(cluster: Cluster, server_factory: Any, upstream: Any,  # noqa: F811
                                            tmp_path: Path) -> None:
    """The one slow test of the journal: 60 s without the database."""
    _outage(cluster, server_factory, upstream, tmp_path, seconds=60, kill=False)


# -- the journal's defences, on its files, against a real SQLite database ---------------------------

def _response(rid: str, text: str = "hello") -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": 1, "status": "completed", "model": "m",
            "output": [{"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "metadata": {}}


async def _dead_journal(directory: Path, secret: bytes, url: str, entries: list[Write]) -> Path:
    """A journal file as a process that died would leave it (written, lock released)."""
    j = Journal(directory, secret, url)
    for e in entries:
        await j.append("insert", e)
    path = j.path
    fd, j._fd = j._fd, None
    if fd is not None:
        os.close(fd)
    return path


def _entry(rid: str, owner: str, text: str = "hello") -> Write:
    return {"response": _response(rid, text), "owner": owner, "input_items": [], "output_items": [],
            "conversation_id": None}


@pytest.fixture
def store_at(tmp_path: Path) -> Any:
    async def make(secret: bytes = b"s1") -> SqlStore:
        s = SqlStore(f"sqlite:///{tmp_path / 'j.db'}")
        s.journal = Journal(tmp_path / "journal", secret, s.url)
        await s.open()
        return s
    return make


def test_replay_is_idempotent_and_refuses_forgeries(store_at: Any, tmp_path: Path) -> None:
    async def main() -> None:
        directory = tmp_path / "journal"
        first = await store_at()
        url = first.url
        await first.insert_response(_response("resp_theirs", "their text"), "owner-b", [], [])
        await first.close()
        good = await _dead_journal(directory, b"s1", url, [_entry("resp_a", "owner-a")])
        copy = directory / "journal-999999-copy.jsonl"
        copy.write_bytes(good.read_bytes())  # the same entries twice: replayed once
        await _dead_journal(directory, b"s1", url, [_entry("resp_theirs", "owner-a", "overwritten")])  # another owner's row
        await _dead_journal(directory, b"another secret", url, [_entry("resp_forged", "owner-a")])  # forged
        edited = await _dead_journal(directory, b"s1", url, [_entry("resp_edit", "owner-a")])
        edited.write_bytes(edited.read_bytes().replace(b"resp_edit", b"resp_EDIT"))  # a MAC no longer matching
        other_db = await _dead_journal(directory, b"s1", "sqlite:////elsewhere.db", [_entry("resp_x", "owner-a")])
        planted = directory / "journal-4242-planted.jsonl"
        planted.symlink_to(tmp_path / "j.db")  # a link planted to make a replayer read (or move) another file
        torn = await _dead_journal(directory, b"s1", url, [_entry("resp_torn", "owner-a")])
        with torn.open("ab") as f:
            f.write(b"deadbeef")  # the process died in the middle of its next line: never acknowledged
        live = Journal(directory, b"s1", url)
        await live.append("insert", _entry("resp_live", "owner-a"))  # a live process's: locked, left alone
        second = await store_at()  # replays at start
        assert (await second.get_response("resp_a", "owner-a"))["output"][0]["content"][0]["text"] == "hello"
        assert await second.get_response("resp_torn", "owner-a") is not None  # its complete lines replayed
        assert planted.is_symlink() and (tmp_path / "j.db").exists()  # never followed
        theirs = await second.get_response("resp_theirs", "owner-b")
        assert theirs["output"][0]["content"][0]["text"] == "their text"  # never written by owner-a's entry
        assert await second.get_response("resp_theirs", "owner-a") is None
        for rid in ("resp_forged", "resp_edit", "resp_EDIT", "resp_x", "resp_live"):
            assert await second.get_response(rid, "owner-a") is None, rid
        names = sorted(p.name for p in directory.iterdir())
        assert sum(n.endswith(".rejected") for n in names) == 2  # the forged and the edited files
        assert other_db.exists() and live.path.exists()
        assert not good.exists() and not copy.exists()
        applied = await second.db.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM journal_applied").scalar())
        assert applied == 3  # resp_a once (its copy was skipped), resp_torn, the refused entry for another owner's row
        await second.close()
        live.close()

    asyncio.run(main())
