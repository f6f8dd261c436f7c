"""Fill a Respond database with N realistic stored responses, fast (bulk inserts, same tables).

Each response: one input message, one output message, usage, 2 metadata keys (`team`: 8 values,
`user`: 1,000 values), one of 4 models, mostly completed (some failed/incomplete), two owners
(key-a and key-b, half each), every 5th continuing the previous one of its owner, 1 in 50 a
background run, 1 in 10 streamed with ~24 stored events.  A marker word appears in 1 in 1,000
first inputs (the text search's needle).  Rows go through the store's own tables and the same
`preview`/`metadata_rows` helpers the save path uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from typing import Any

import orjson
from sqlalchemy import insert

from respond.store import schema
from respond.store.listing_migration import metadata_rows, preview
from respond.store.sql import SqlStore

MODELS = ["qwen2.5-coder-0.5b-instruct", "gpt-4o-mini", "llama-3.1-8b", "mistral-small"]
STATUSES = ["completed"] * 18 + ["failed", "incomplete"]
WORDS = "alpha beta gamma delta search index query vector token stream chain model answer".split()


def owner_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _response(i: int, rng: random.Random, now: int, n: int, prev: str | None, owner_key: str) -> dict[str, Any]:
    created = now - (n - i) * 2  # one every 2 s, the newest now: ~55 h for 100k
    status = rng.choice(STATUSES)
    text = " ".join(rng.choice(WORDS) for _ in range(12)) + (" needle" if i % 1000 == 8 else "")
    usage = {"input_tokens": rng.randint(20, 900), "output_tokens": rng.randint(5, 400)}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return {
        "id": f"resp_{i:08d}{rng.getrandbits(64):016x}", "object": "response", "created_at": created,
        "status": status, "model": MODELS[i % 7 % 4], "previous_response_id": prev,
        "background": i % 50 == 4, "metadata": {"team": f"team{i % 8}", "user": f"u{i % 1000}"},
        "completed_at": created + rng.randint(1, 20) if status == "completed" else None,
        "error": {"code": "server_error", "message": "upstream failed"} if status == "failed" else None,
        "usage": {**usage, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
        "output": [{"id": f"msg_{i:08d}o", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "The answer is " + text[:60], "annotations": []}]}],
        "_input": [{"id": f"msg_{i:08d}i", "type": "message", "role": "user", "status": "completed",
                    "content": [{"type": "input_text", "text": text}]}],
        "_owner": owner_of(owner_key),
    }


def _events(r: dict[str, Any]) -> list[dict[str, Any]]:
    evs = [{"type": "response.created"}, {"type": "response.in_progress"}]
    evs += [{"type": "response.output_text.delta", "item_id": r["output"][0]["id"], "content_index": 0,
             "delta": "tok "} for _ in range(20)]
    evs += [{"type": "response.output_text.done"}, {"type": f"response.{r['status']}"}]
    return [{"response_id": r["id"], "seq": n, "body": orjson.dumps({**e, "sequence_number": n}).decode()}
            for n, e in enumerate(evs)]


def _rows(batch: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"responses": [], "items": [], "meta": [], "events": [], "jobs": []}
    for r in batch:
        inputs, owner = r.pop("_input"), r.pop("_owner")
        out["responses"].append({
            "id": r["id"], "owner": owner, "created_at": r["created_at"], "status": r["status"],
            "previous_response_id": r["previous_response_id"], "background": r["background"],
            "body": orjson.dumps(r).decode(), "model": r["model"], "preview": preview(inputs)})
        for pos, (kind, item) in enumerate([(0, inputs[0]), (1, r["output"][0])]):
            out["items"].append({"id": item["id"], "response_id": r["id"], "owner": owner, "position": pos,
                                 "kind": kind, "body": orjson.dumps(item).decode()})
        out["meta"] += metadata_rows(r, owner)
        if int(r["id"][5:13]) % 10 == 2:
            out["events"] += _events(r)
        if r["background"]:
            out["jobs"].append({"response_id": r["id"], "owner": owner, "state": "done", "request": None,
                                "worker": None, "lease_until": 0, "cancel_requested": False,
                                "created_at": r["created_at"] * 1000})
    return out


async def fill(url: str, n: int, batch: int = 5000, seed: int = 1) -> dict[str, str]:
    """Returns a few ids worth timing: a streamed one in the middle of a chain, an old one."""
    store = SqlStore(url)
    await store.open()
    rng = random.Random(seed)
    now = int(time.time())
    last: dict[str, str] = {}
    picks: dict[str, str] = {}
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        chunk = []
        for i in range(start, min(n, start + batch)):
            key = "key-a" if i % 2 == 0 else "key-b"
            prev = last.get(key) if i % 5 != 0 else None
            r = _response(i, rng, now, n, prev, key)
            last[key] = r["id"]
            if key == "key-a" and i % 10 == 2 and i > n // 2 and "detail" not in picks:
                picks["detail"] = r["id"]
            chunk.append(r)
        rows = _rows(chunk)

        def write(conn: Any, rows: dict[str, list[dict[str, Any]]] = rows) -> None:
            conn.execute(insert(schema.responses), rows["responses"])
            conn.execute(insert(schema.items), rows["items"])
            conn.execute(insert(schema.response_metadata), rows["meta"])
            if rows["events"]:
                conn.execute(insert(schema.events), rows["events"])
            if rows["jobs"]:
                conn.execute(insert(schema.jobs), rows["jobs"])

        await store.tx(write)
    await store.close()
    picks["fill_seconds"] = f"{time.perf_counter() - t0:.1f}"
    return picks


if __name__ == "__main__":
    import sys

    print(asyncio.run(fill(sys.argv[1], int(sys.argv[2]))))
