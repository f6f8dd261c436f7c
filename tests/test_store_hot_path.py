"""What an upstream-only server asks of its SQLite store runs on sqlite3 alone (issue 20's memory target:
SQLAlchemy is 13 MB resident; store/statement.py).

In a fresh interpreter, a `SqlStore` on a real SQLite file does a response's whole life: created stored
(with metadata, in a conversation), streamed (started, its events appended and read, finished), continued
with previous_response_id (its context loaded, an item referred to), read (GET, input_items both ways),
run in the background (enqueued, claimed, leases renewed, expired jobs looked for, cancelled, requeued,
finished), replayed from a journal entry, updated and deleted.  Once the store is open, SQLAlchemy's
statements and its engines over the SQLite file are made to fail: each of those calls must have none.
With the cold features loaded on first use (store/deferred.py), SQLAlchemy is not even imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, json, sys
from respond.store.sql import SqlStore
from respond.store.sqlite_threads import SqliteThreads
from respond.store.statement import Sql


def forbidden(*_args, **_kwargs):
    raise AssertionError("SQLAlchemy on the hot path")


def response(rid, status="completed", **extra):
    return {"id": rid, "object": "response", "created_at": 1, "status": status, "model": "m\x00odel",
            "output": [], **extra}


def item(iid, text):
    return {"id": iid, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def life(store):
    o = "owner"
    await store.insert_response(response("resp_1", metadata={"k\x00": "v" * 600}), o,
                                [item("msg_1", "hello")], [item("msg_2", "hi")], conversation_id="conv_1")
    await store.start_response(response("resp_2", "in_progress", previous_response_id="resp_1"), o,
                               [item("msg_3", "again")], worker="w", lease_ms=60_000)
    await store.append_events("resp_2", [{"type": "response.created", "sequence_number": 0}],
                              response("resp_2", "in_progress"))
    events, status = await store.read_events("resp_2", o, -1)
    assert status == "in_progress" and len(events) == 1, (events, status)
    assert await store.renew_leases("w", 60_000, ["resp_2"]) == []
    assert await store.renew_leases("w", 60_000) == []
    assert await store.renew_leases("w", 60_000, []) == []
    await store.finish_response(response("resp_2", previous_response_id="resp_1"), o, [item("msg_3", "again")],
                                [item("msg_4", "done")], events=[{"type": "response.completed", "sequence_number": 1}])
    context = await store.load_context("resp_2", o)
    assert [i["id"] for i in context] == ["msg_1", "msg_2", "msg_3", "msg_4"], context
    assert set(await store.get_items(["msg_2", "msg_4", "nope"], o)) == {"msg_2", "msg_4"}
    assert (await store.get_response("resp_1", o))["status"] == "completed"
    assert await store.response_exists("resp_2", o) and not await store.response_exists("resp_2", "other")
    page, more = await store.list_input_items("resp_1", o, after=None, limit=10, order="desc")
    assert [i["id"] for i in page] == ["msg_1"] and not more
    assert await store.list_input_items("resp_2", o, after="msg_3", limit=1, order="asc") == ([], False)

    await store.enqueue_response(response("resp_3", "queued", background=True), o, [item("msg_5", "later")],
                                 request={"input": "later"}, lease_ms=60_000,
                                 events=[{"type": "response.queued", "sequence_number": 0}])
    claimed = await store.claim_job("w", 60_000)
    assert claimed is not None and claimed["response_id"] == "resp_3", claimed
    assert await store.claim_job("w", 60_000) is None
    await store.request_cancel("resp_3")
    assert await store.renew_leases("w", 60_000, ["resp_3"]) == ["resp_3"]
    assert [j["response_id"] for j in await store.expired_jobs(any_worker_but="x")] == ["resp_3"]
    assert await store.expired_jobs() == []
    await store.requeue("resp_3", response("resp_3", "queued", background=True), keep_events=1)
    assert await store.cancel_queued("resp_3")
    await store.finish_job("resp_3")
    await store.update_response(response("resp_3", "cancelled", background=True))

    entry = {"response": response("resp_4"), "owner": o, "input_items": [item("msg_6", "replayed")],
             "output_items": [], "conversation_id": None, "v": 1, "id": "entry_1", "db": "", "op": "insert"}
    await store.apply(entry)
    await store.apply(entry)  # recorded: applied once
    assert await store.response_exists("resp_4", o)

    epoch = await store.deletion_epoch()
    assert await store.delete_response("resp_2", o) and not await store.delete_response("resp_2", o)
    assert await store.deletion_epoch() == epoch + 1


async def main(url):
    store = SqlStore(url)
    await store.open()
    await store.create_conversation("conv_1", "owner", 1, {}, [])  # (a cold feature: SQLAlchemy may come with it)
    loaded = "sqlalchemy" in sys.modules
    Sql.clause = forbidden
    SqliteThreads._sa = forbidden
    try:
        await life(store)
        if sys.argv[2] == "all":
            await store.conversation_items("conv_1")  # what a create in a conversation reads (a cold module's)
    finally:
        await store.close()
    print(json.dumps({"loaded_before": loaded, "loaded": sorted(m for m in sys.modules if m.startswith("sqlalchemy"))}))


asyncio.run(main(sys.argv[1]))
"""


def _run(tmp_path: Path, calls: str) -> dict[str, object]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", CHILD, f"sqlite:///{tmp_path / 'r.db'}", calls], capture_output=True,
                         text=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_a_response_s_life_runs_on_sqlite3_alone(tmp_path: Path) -> None:
    _run(tmp_path, "store")  # the child asserts each call's outcome; SQLAlchemy's statements and engines fail there


def test_sqlalchemy_is_not_imported(tmp_path: Path) -> None:
    got = _run(tmp_path, "all")  # (a conversation's reads too: store/conversations.py)
    assert got["loaded_before"] is False and got["loaded"] == []
