"""Tenants on the SQL database: what every request and the idle server run, without SQLAlchemy; the keys'
administration, their limits and the usage queries (store/tenant_keys.py, on SQLAlchemy) loaded on first use.

A server without stored keys asks two things here (issue 20's memory target: it never loads SQLAlchemy):
`has_keys()` (engine/tenants/tenancy.py's `required`, at most every `--key-cache-seconds`) and the usage
row of every response that ends.  `record_usage` queues the row and the rows of the next `USAGE_DELAY`
seconds go in one transaction (one per response cost a commit each on the hot path); a reading of the
usage, `flush_usage` and `close` write what waits first.  A process killed outright loses at most that
moment's rows.  Both are `Sql` statements (store/statement.py) in lite transactions.

A stored key's row (`get_key`, re-read every `--key-cache-seconds` while its requests come) is a `Sql`
read too; a key with limits loads store/tenant_keys.py with its first request: its counters and leases
(`acquire`/`settle`, under PostgreSQL's advisory lock) are SQLAlchemy statements there, as are adding,
listing and changing keys and the usage reports.  The decision itself (`decide`) is here, shared with the
Redis rate store (store/redis_rates.py).

Its frozen migration is here (`tenants_0001`, listed in store/migrations.py's `ordered()`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from respond.core.tenants import USAGE_FIELDS, Decision, KeyLimits, TenantKey, UsageGroup, UsageRecord, Window
from respond.store.database import Database, MigrationConnection, execute_rows
from respond.store.migrations import ddl
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.store.tenant_keys import SqlKeys

log = logging.getLogger("respond.tenants")
LEASE_SECONDS = 900  # a request not settled by then (its replica died) stops holding a slot
USAGE_DELAY = 0.05  # seconds a usage row waits for others to share its transaction

_ANY_KEY = Sql("SELECT api_keys.id FROM api_keys LIMIT 1")
_KEY_COLUMNS = ("id", "label", "salt", "secret_hash", "models", "limits", "created_at", "expires_at", "revoked_at",
                "rotated_at")  # api_keys' columns, in its order (store/tenant_keys.py reads them with `select(api_keys)`)
_GET_KEY = Sql(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys WHERE id = :id")
_USAGE_COLUMNS = ("response_id", "key_id", "model", "backend", "status", *USAGE_FIELDS, "duration_ms", "created_at")
# a response's usage row is written once (a second one, from a replayed end, is dropped)
INSERT_USAGE = Sql(f"INSERT INTO usage_records ({', '.join(_USAGE_COLUMNS)}) "
                   f"VALUES ({', '.join(':' + c for c in _USAGE_COLUMNS)}) ON CONFLICT DO NOTHING",
                   build="insert_usage")


async def tenants_0001(conn: MigrationConnection) -> None:
    """Keys, rate counters and leases, usage records (issue 22)."""
    await ddl(conn, """CREATE TABLE api_keys (
        id VARCHAR(64) NOT NULL,
        label VARCHAR(200) NOT NULL,
        salt VARCHAR(64) NOT NULL,
        secret_hash VARCHAR(128) NOT NULL,
        models TEXT NOT NULL,
        limits TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        rotated_at BIGINT,
        PRIMARY KEY (id))""", """CREATE TABLE rate_counters (
        key_id VARCHAR(64) NOT NULL,
        bucket VARCHAR(16) NOT NULL,
        period BIGINT NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (key_id, bucket, period))""", """CREATE TABLE rate_leases (
        lease_id VARCHAR(64) NOT NULL,
        key_id VARCHAR(64) NOT NULL,
        reserved BIGINT NOT NULL,
        minute BIGINT NOT NULL,
        day BIGINT NOT NULL,
        month BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (lease_id))""",
        "CREATE INDEX ix_rate_leases_key ON rate_leases (key_id)", """CREATE TABLE usage_records (
        response_id VARCHAR(64) NOT NULL,
        key_id VARCHAR(64) NOT NULL,
        model VARCHAR(128) NOT NULL,
        backend VARCHAR(64) NOT NULL,
        status VARCHAR(16) NOT NULL,
        input_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        duration_ms BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id))""",
        "CREATE INDEX ix_usage_created ON usage_records (created_at)",
        "CREATE INDEX ix_usage_key_created ON usage_records (key_id, created_at)")


def periods(now: float) -> dict[str, int]:
    """The counting periods of `now`: minute, UTC day, UTC month (months since year 0)."""
    t = time.gmtime(now)
    return {"minute": int(now // 60), "day": int(now // 86400), "month": t.tm_year * 12 + t.tm_mon - 1}


def key_of(row: Sequence[Any]) -> TenantKey:
    """A key of its `api_keys` row (a tuple, or SQLAlchemy's row of `select(api_keys)`: the same order)."""
    return TenantKey(id=row[0], label=row[1], salt=row[2], secret_hash=row[3], models=tuple(orjson.loads(row[4])),
                     limits=KeyLimits.from_dict(orjson.loads(row[5])), created_at=row[6], expires_at=row[7],
                     revoked_at=row[8], rotated_at=row[9])


class SqlTenants:
    """The KeyStore, RateStore and UsageStore ports on one `Database` (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql: SqlKeys | None = None
        self._usage: list[UsageRecord] = []  # rows waiting for their transaction (record_usage)
        self._usage_writer: asyncio.Task[None] | None = None

    @property
    def _keys(self) -> SqlKeys:
        """Keys, limits and usage queries, on SQLAlchemy: loaded by the first of them."""
        if self._sql is None:
            from respond.store.tenant_keys import SqlKeys

            self._sql = SqlKeys(self.db)
        return self._sql

    # -- keys ----------------------------------------------------------------------------------------
    async def has_keys(self) -> bool:
        return await self.db.scalar(_ANY_KEY) is not None

    async def add_key(self, key: TenantKey) -> None:
        await self._keys.add_key(key)

    async def get_key(self, key_id: str) -> TenantKey | None:
        """A stored key's row (every `--key-cache-seconds` while its requests come): a `Sql` read."""
        rows = await self.db.fetch(_GET_KEY, {"id": key_id})
        return key_of(rows[0]) if rows else None

    async def list_keys(self) -> list[TenantKey]:
        return await self._keys.list_keys()

    async def update_key(self, key_id: str, **fields: Any) -> TenantKey | None:
        return await self._keys.update_key(key_id, **fields)

    # -- limits --------------------------------------------------------------------------------------
    async def acquire(self, key_id: str, lease: str, limits: KeyLimits, reserve: int, now: float) -> Decision:
        return await self._keys.acquire(key_id, lease, limits, reserve, now)

    async def settle(self, lease: str, used: int, now: float) -> None:
        await self._keys.settle(lease, used, now)

    async def close(self) -> None:
        await self.flush_usage()
        if self._usage_writer is not None:  # not cancelled: it may hold rows on their way in
            await self._usage_writer  # (it ends within USAGE_DELAY)

    # -- usage ---------------------------------------------------------------------------------------
    def record_usage(self, row: UsageRecord) -> None:
        """Queued: written with the rows of the next USAGE_DELAY seconds (see the module docstring)."""
        self._usage.append(row)
        if self._usage_writer is None:
            self._usage_writer = asyncio.get_running_loop().create_task(self._write_usage_behind())

    async def _write_usage_behind(self) -> None:
        while self._usage:
            await asyncio.sleep(USAGE_DELAY)
            await self.flush_usage()
        self._usage_writer = None

    async def flush_usage(self) -> None:
        rows, self._usage = self._usage, []
        if not rows:
            return
        try:  # one prepared INSERT for all of them (SQLite: executemany on the event loop's connection)
            await self.db.write(lambda conn: execute_rows(conn, INSERT_USAGE, rows), quick=True, lite=True)
        except Exception:  # noqa: BLE001 - accounting never fails a response; logged
            log.exception("recording the usage of %d responses failed", len(rows))

    async def usage(self, group_by: str, since: int | None, until: int | None,
                    key_id: str | None = None) -> list[UsageGroup]:
        await self.flush_usage()
        return await self._keys.usage(group_by, since, until, key_id)


def needs_lease(limits: KeyLimits) -> bool:
    """A lease is kept until the request ends only when a limit reads it: concurrency, or tokens to settle."""
    return any(v is not None for v in (limits.concurrent, limits.tpm, limits.daily_tokens, limits.monthly_tokens))


def _window(limit: int, used: int, reset: float) -> Window:
    return Window(limit=limit, remaining=max(0, limit - used), reset=reset)


def decide(limits: KeyLimits, have: dict[str, int], in_flight: int, reserve: int, now: float) -> Decision:
    """The decision for one request given the key's current counts (shared with the Redis store's
    reading of its script's answer): the first limit that refuses, in the order
    concurrency, requests, tokens, daily budget, monthly budget; the windows after counting it."""
    minute_left = 60 - (now % 60)
    rpm_used, tpm_used = have.get("rpm", 0), have.get("tpm", 0)
    refused, retry = None, 0.0
    if limits.concurrent is not None and in_flight >= limits.concurrent:
        refused, retry = "concurrent", 1.0
    elif limits.rpm is not None and rpm_used + 1 > limits.rpm:
        refused, retry = "rpm", minute_left
    elif limits.tpm is not None and tpm_used + reserve > limits.tpm:
        refused, retry = "tpm", minute_left
    elif limits.daily_tokens is not None and have.get("day", 0) + reserve > limits.daily_tokens:
        refused, retry = "daily_tokens", 86400 - (now % 86400)
    elif limits.monthly_tokens is not None and have.get("month", 0) + reserve > limits.monthly_tokens:
        refused, retry = "monthly_tokens", 86400 - (now % 86400)
    after_rpm = rpm_used + (0 if refused else 1)
    after_tpm = tpm_used + (0 if refused else reserve)
    return Decision(allowed=refused is None, refused_by=refused,
                    requests=_window(limits.rpm, after_rpm, minute_left) if limits.rpm is not None else None,
                    tokens=_window(limits.tpm, after_tpm, minute_left) if limits.tpm is not None else None,
                    retry_after=retry)
