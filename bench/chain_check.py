"""The cost of checking a cached chain across replicas (issue 11): before, a hit was confirmed by a
primary-key read of the previous response (`response_exists`, which missed a deleted ancestor);
now by the store's deletion epoch (`deletion_epoch`, a primary-key read of a one-row table).  For
reference, what counting the whole chain would cost (`chain count`, the recursive query over ids
that the first version of the fix used).  Side by side, depth 1 and 200, in process.

    python bench/chain_check.py [--database postgresql://postgres@127.0.0.1:5432/test] [--reps 300]

With SQLite (one process) neither check runs: its cache is trusted (deletes clear it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import text  # noqa: E402

from _common import pct  # noqa: E402
from respond.protocol.ids import new_id  # noqa: E402
from respond.store.sql import SqlStore  # noqa: E402

OWNER = "anonymous"
CHAIN_COUNT = text("""
    WITH RECURSIVE chain(id, prev) AS (
        SELECT id, previous_response_id FROM responses WHERE id = :rid AND owner = :owner
        UNION ALL
        SELECT r.id, r.previous_response_id FROM responses r JOIN chain c ON r.id = c.prev WHERE r.owner = :owner)
    SELECT count(*) FROM chain""")


async def main(url: str, reps: int) -> None:
    store = SqlStore(url)
    await store.open()
    try:
        prev: str | None = None
        ids: list[str] = []
        for i in range(200):
            rid = new_id("resp")
            resp = {"id": rid, "object": "response", "created_at": 0, "status": "completed", "output": [],
                    "previous_response_id": prev, "background": False, "model": "m"}
            await store.insert_response(resp, OWNER, [{"id": new_id("msg"), "type": "message", "role": "user",
                                                       "content": [{"type": "input_text", "text": f"t{i}"}]}], [])
            ids.append(rid)
            prev = rid
        rows = []
        async def chain_count(rid: str, owner: str) -> int:
            return int(await store.rx(lambda conn: conn.scalar(CHAIN_COUNT, {"rid": rid, "owner": owner})) or 0)

        async def epoch(rid: str, owner: str) -> int:
            return await store.deletion_epoch()

        for name, fn in (("response_exists (before)", store.response_exists), ("deletion_epoch (now)", epoch),
                         ("chain count (reference)", chain_count)):
            figures = []
            for _depth, rid in ((1, ids[0]), (200, ids[-1])):
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    await fn(rid, OWNER)
                    times.append(time.perf_counter() - t0)
                figures.append(pct(times, .5))
            rows.append(f"| {name} | {figures[0]:.3f} | {figures[1]:.3f} | {figures[1] / figures[0]:.2f}x |")
        print(f"database: {store.dialect}, {reps} reps, p50 ms\n| check | depth 1 | depth 200 | ratio |\n"  # noqa: T201
              "|---|---|---|---|\n" + "\n".join(rows))
    finally:
        await store.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--reps", type=int, default=300)
    args = p.parse_args()
    asyncio.run(main(args.database, args.reps))
