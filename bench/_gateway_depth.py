"""bench/gateway.py's depth figures, in process: the engine's context build and the store's query."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson

from _common import pct
from respond.backends.scripted import ScriptedBackend
from respond.engine.service import ModelRouter, ResponsesService
from respond.protocol.requests import CreateResponse
from respond.store.sql import _CONTEXT, SqlStore

MODEL = "scripted"
OWNER = "anonymous"  # Respond's owner when no --api-key is configured


async def engine_context_timing(db: Path, depths: dict[int, str], reps: int) -> dict[int, float]:
    """p50 ms of what a create does to build its context: ResponsesService's history (context cache,
    warm after the first call, as in a server that served the chain) plus the Generation's messages."""
    store = SqlStore(f"sqlite:///{db}")
    # the model's backend is resolved for file inputs in the history (none here): a scripted one serves it
    service = ResponsesService(store, ModelRouter([ScriptedBackend(MODEL)]), trust_cache=True)
    times: dict[int, list[float]] = {d: [] for d in depths}
    try:
        for i in range(reps + 20):
            for d, rid in depths.items():
                req = CreateResponse(model=MODEL, input="next", previous_response_id=rid)
                t0 = time.perf_counter()
                history = await service.references.history(req, OWNER)
                gen = service.context.prepare(req, MODEL, history, service.vocabulary.normalize_input(req.input)).gen
                dt = time.perf_counter() - t0
                assert len(gen.messages) == 2 * d + 1, (d, len(gen.messages))
                if i >= 20:
                    times[d].append(dt)
    finally:
        await store.close()
    return {d: pct(v, .5) for d, v in times.items()}


async def context_timing(db: Path, ids: list[str], reps: int) -> dict[str, dict[int, float]]:
    """p50 ms of load_context (SqlStore, as Respond runs it) and of its parts, depth 1 vs depth N."""
    depths = {1: ids[0], len(ids): ids[-1]}
    store = SqlStore(f"sqlite:///{db}")
    times: dict[int, list[float]] = {d: [] for d in depths}
    try:
        for i in range(reps + 20):
            for d, rid in depths.items():
                t0 = time.perf_counter()
                items = await store.load_context(rid, OWNER)
                dt = time.perf_counter() - t0
                assert items is not None and len(items) == 2 * d, (d, len(items or []))
                if i >= 20:
                    times[d].append(dt)
    finally:
        await store.close()
    out: dict[str, dict[int, float]] = {"context build": await engine_context_timing(db, depths, reps),
                                        "load_context": {d: pct(v, .5) for d, v in times.items()},
                                        "CTE in plain sqlite3": {}, "orjson.loads of the bodies": {}}
    con = sqlite3.connect(db)
    try:
        for d, rid in depths.items():
            sql_t, parse_t = [], []
            for _ in range(max(50, reps // 4)):
                t0 = time.perf_counter()
                rows = con.execute(_CONTEXT.sqlite, {"rid": rid, "owner": OWNER}).fetchall()
                t1 = time.perf_counter()
                [orjson.loads(b) for _, b in rows if b is not None]
                parse_t.append(time.perf_counter() - t1)
                sql_t.append(t1 - t0)
            out["CTE in plain sqlite3"][d] = pct(sql_t, .5)
            out["orjson.loads of the bodies"][d] = pct(parse_t, .5)
    finally:
        con.close()
    return out
