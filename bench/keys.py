"""What stored keys cost per request, side by side with static `--api-key` keys in one run (issue 22).

1. Authentication alone: a static key (SHA-256 + constant-time compare against each configured key);
   a stored key verified and cached (the hot path); a stored key whose row is re-read each time
   (`--key-cache-seconds 0`: one primary-key read); a stored key checked from nothing (the row read and
   the scrypt hash: a replica's first request with that key).
2. The limit check alone: `acquire` + `settle` of one request (all five limits set) on SQLite, on
   PostgreSQL (--postgres URL) and on Redis (--redis URL), each when reachable.
3. End to end, in process over ASGI with the scripted backend and SQLite: `POST /v1/responses` with a
   static key, a stored key without limits, a stored key with limits; the ratio to the static key.

    .venv/bin/python bench/keys.py [--postgres postgresql://postgres@127.0.0.1:5432/test] \\
        [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from respond.api.auth import KeyRing  # noqa: E402
from respond.bootstrap import build_app  # noqa: E402
from respond.config import Settings  # noqa: E402
from respond.core.tenants import KeyLimits  # noqa: E402
from respond.engine.tenants.key_admin import KeyAdmin  # noqa: E402
from respond.engine.tenants.tenancy import Tenancy  # noqa: E402
from respond.store.sql import SqlStore  # noqa: E402

ALL_LIMITS = {"rpm": 10**9, "tpm": 10**12, "concurrent": 10**6, "daily_tokens": 10**15, "monthly_tokens": 10**15}


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def per_call(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """Median of 5 batches, microseconds per call."""
    for _ in range(min(n, 20)):
        await fn()
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        batches.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(batches)


async def auth(db: str) -> None:
    store = SqlStore(db)
    await store.open()
    try:
        made = await KeyAdmin(store.tenants).create({"label": "bench"})
        token = made["key"]
        ring = KeyRing([f"static-{i}" for i in range(3)] + ["bench-static"])
        static = await per_call(lambda: asyncio.sleep(0, ring.owner("Bearer bench-static")), 20000)
        hot = Tenancy(store.tenants, store.tenants, store.tenants, cache_seconds=3600)
        cached = await per_call(lambda: hot.authenticate(token), 20000)
        reread = Tenancy(store.tenants, store.tenants, store.tenants, cache_seconds=0)
        read_each = await per_call(lambda: reread.authenticate(token), 500)

        async def cold() -> None:
            await Tenancy(store.tenants, store.tenants, store.tenants).authenticate(token)

        uncached = await per_call(cold, 20)
        out(f"\n## 1. authentication per request ({store.dialect})")
        out(f"{'static --api-key':<44}{static:>10.1f} us   1.0x")
        for name, value in (("stored key, cached (the hot path)", cached),
                            ("stored key, row re-read (cache 0 s)", read_each),
                            ("stored key, from nothing (read + scrypt)", uncached)):
            out(f"{name:<44}{value:>10.1f} us {value / static:>6.1f}x")
    finally:
        await store.close()


async def limits(name: str, make: Callable[[], Any]) -> float | None:
    try:
        rates, close = await make()
    except Exception as exc:  # noqa: BLE001 - a store that is not reachable is skipped, said so
        out(f"{name:<44}  skipped ({type(exc).__name__}: {exc})"[:120])
        return None
    limits_ = KeyLimits.from_dict(ALL_LIMITS)
    counter = iter(range(10**9))

    async def one() -> None:
        lease = f"bench-{next(counter)}"
        await rates.acquire("key_bench", lease, limits_, 100, time.time())
        await rates.settle(lease, 80, time.time())

    value = await per_call(one, 300)
    await close()
    return value


async def limit_checks(sqlite: str, postgres: str | None, redis: str | None) -> None:
    out("\n## 2. limit check per request (acquire + settle, five limits)")

    async def sql(url: str) -> Any:
        store = SqlStore(url)
        await store.open()
        return store.tenants, store.close

    async def red(url: str) -> Any:
        from respond.store.redis_rates import RedisRates

        rates = RedisRates(url)
        await rates.redis.ping()
        return rates, rates.close

    for name, maker in (("SQLite", lambda: sql(sqlite)),
                        ("PostgreSQL", (lambda: sql(postgres)) if postgres else None),
                        ("Redis", (lambda: red(redis)) if redis else None)):
        if maker is None:
            out(f"{name:<44}  not asked for")
            continue
        value = await limits(name, maker)
        if value is not None:
            out(f"{name:<44}{value:>10.1f} us")


async def end_to_end(tmp: Path, n: int) -> None:
    settings = Settings(database=f"sqlite:///{tmp / 'e2e.db'}", backends=["scripted:model=demo,reply=hello there"],
                        api_keys=["static-key"], admin_key="admin", secret_key="s" * 32, embedded="off",
                        cache_dir=tmp / "cache", key_file=tmp / "secret.key", code_spare_kernels=0)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        admin = {"Authorization": "Bearer admin"}
        free = (await http.post("/admin/v1/keys", headers=admin, json={})).json()["key"]
        limited = (await http.post("/admin/v1/keys", headers=admin, json={"limits": ALL_LIMITS})).json()["key"]
        sides = {"static --api-key": "static-key", "stored key, no limits": free, "stored key, five limits": limited}
        results: dict[str, list[float]] = {k: [] for k in sides}
        for _round in range(3):  # alternate, so a noisy neighbour hits every side alike
            for name, key in sides.items():
                async def one(key: str = key) -> None:
                    r = await http.post("/v1/responses", headers={"Authorization": f"Bearer {key}"},
                                        json={"model": "demo", "input": "hi"})
                    assert r.status_code == 200, r.text

                results[name].append(await per_call(one, n))
        await app.state.tenancy.drain()
        await http.aclose()
    out(f"\n## 3. POST /v1/responses end to end (in process, SQLite, scripted model; {n} x 5 x 3 requests)")
    base = statistics.median(results["static --api-key"])
    for name, values in results.items():
        value = statistics.median(values)
        out(f"{name:<44}{value / 1000:>10.2f} ms {value / base:>6.2f}x")


def reachable(url: str | None, port: int) -> str | None:
    if not url:
        return None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return url
    except OSError:
        return None


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", help="a PostgreSQL URL for the limit check (e.g. postgresql://postgres@127.0.0.1/test)")
    p.add_argument("--redis", help="a Redis URL for the limit check (e.g. redis://127.0.0.1:6379/0)")
    p.add_argument("--requests", type=int, default=60, help="requests per batch end to end")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{Path(tmp) / 'keys.db'}"
        await auth(sqlite)
        if args.postgres:
            await auth(args.postgres)
        await limit_checks(sqlite, args.postgres, reachable(args.redis, 6379) or args.redis)
        await end_to_end(Path(tmp), args.requests)


if __name__ == "__main__":
    asyncio.run(main())
