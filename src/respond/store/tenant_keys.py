"""Stored keys, their rate counters and leases, and the usage queries, on SQLAlchemy: loaded by
store/tenants.py on first use (the first key added, read or listed, the first limit counted, the
first usage report), not by a server without stored keys (issue 20's memory target).

- `api_keys`: one row per key (salted scrypt hash, never the key); looked up by primary key.
- `rate_counters` (key, bucket, period) -> value: requests and tokens of a minute, tokens of a UTC
  day and month.  `acquire` reads a key's counters and leases, decides, and counts, in one write
  transaction: on PostgreSQL it first takes a transaction-scoped advisory lock on the key (so the
  replicas' decisions on one key are serialised, and other keys never wait), on SQLite the
  single writer thread already serialises them.  Counters are bumped with atomic upserts.
- `rate_leases`: one row per admitted request until it is settled (its reserved tokens, the periods
  it counted in) or expires (a crashed replica's requests free their slots after LEASE_SECONDS).
- `usage_records`: one row per finished response (written by store/tenants.py), summed here by key,
  model or day.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
)

from respond.core.tenants import USAGE_FIELDS, Decision, KeyLimits, TenantKey, UsageGroup
from respond.store.database import Database
from respond.store.rows import KeyRow
from respond.store.schema import upsert
from respond.store.tenants import LEASE_SECONDS, decide, key_of, needs_lease, periods

metadata = MetaData()

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(64), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("models", Text, nullable=False),
    Column("limits", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("rotated_at", BigInteger, nullable=True),
)

counters = Table(
    "rate_counters", metadata,
    Column("key_id", String(64), primary_key=True),
    Column("bucket", String(16), primary_key=True),
    Column("period", BigInteger, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

leases = Table(
    "rate_leases", metadata,
    Column("lease_id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("day", BigInteger, nullable=False),
    Column("month", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_rate_leases_key", "key_id"),
)

usage = Table(
    "usage_records", metadata,
    Column("response_id", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("backend", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in USAGE_FIELDS),
    Column("duration_ms", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_usage_created", "created_at"),
    Index("ix_usage_key_created", "key_id", "created_at"),
)


def _row(key: TenantKey) -> KeyRow:
    return {"id": key.id, "label": key.label, "salt": key.salt, "secret_hash": key.secret_hash,
            "models": orjson.dumps(list(key.models)).decode(), "limits": orjson.dumps(key.limits.as_dict()).decode(),
            "created_at": key.created_at, "expires_at": key.expires_at, "revoked_at": key.revoked_at,
            "rotated_at": key.rotated_at}


class SqlKeys:
    """Stored keys, their limits, the usage queries (store/tenants.py's `SqlTenants` hands them here)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        up = upsert(db.name, counters)
        self._bump = up.on_conflict_do_update(index_elements=["key_id", "bucket", "period"],
                                              set_={"value": counters.c.value + up.excluded.value})
        self._lock = text("SELECT pg_advisory_xact_lock(hashtext(:k))") if db.name == "postgresql" else None

    # -- keys ----------------------------------------------------------------------------------------
    async def add_key(self, key: TenantKey) -> None:
        await self.db.write(lambda conn: conn.execute(api_keys.insert().values(**_row(key))))

    async def list_keys(self) -> list[TenantKey]:
        rows = await self.db.read(lambda conn: conn.execute(
            select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())).all())
        return [key_of(r) for r in rows]

    async def update_key(self, key_id: str, **fields: Any) -> TenantKey | None:
        def write(conn: Connection) -> TenantKey | None:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                return None
            key = replace(key_of(row), **fields)
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(**_row(key)))
            return key

        return await self.db.write(write)

    # -- limits --------------------------------------------------------------------------------------
    async def acquire(self, key_id: str, lease: str, limits: KeyLimits, reserve: int, now: float) -> Decision:
        return await self.db.write(lambda conn: self._acquire(conn, key_id, lease, limits, reserve, now))

    def _acquire(self, conn: Connection, key_id: str, lease: str, limits: KeyLimits, reserve: int,
                 now: float) -> Decision:
        if self._lock is not None:
            conn.execute(self._lock, {"k": key_id})
        p = periods(now)
        wanted = {("rpm", p["minute"]), ("tpm", p["minute"]), ("day", p["day"]), ("month", p["month"])}
        rows = conn.execute(select(counters.c.bucket, counters.c.period, counters.c.value).where(
            counters.c.key_id == key_id, counters.c.bucket.in_(["rpm", "tpm", "day", "month"]))).all()
        have = {b: int(v) for b, period, v in rows if (b, period) in wanted}
        if len(rows) > len(have):  # rows of past periods: drop them while the key is locked anyway
            stale = [(b, period) for b, period, _ in rows if (b, period) not in wanted]
            for b, period in stale:
                conn.execute(delete(counters).where(counters.c.key_id == key_id, counters.c.bucket == b,
                                                    counters.c.period == period))
        in_flight = 0
        if limits.concurrent is not None:
            conn.execute(delete(leases).where(leases.c.key_id == key_id, leases.c.expires_at <= int(now)))
            in_flight = int(conn.scalar(select(func.count()).select_from(leases).where(leases.c.key_id == key_id))
                            or 0)
        decision = decide(limits, have, in_flight, reserve, now)
        if not decision.allowed:
            return decision
        # only what a limit reads is counted (a limit set later counts from then on)
        bumps = [(b, period, v) for b, period, v, limit in (
            ("rpm", p["minute"], 1, limits.rpm), ("tpm", p["minute"], reserve, limits.tpm),
            ("day", p["day"], reserve, limits.daily_tokens), ("month", p["month"], reserve, limits.monthly_tokens))
            if limit is not None]
        if bumps:
            conn.execute(self._bump, [{"key_id": key_id, "bucket": b, "period": period, "value": v}
                                      for b, period, v in bumps])
        if needs_lease(limits):
            conn.execute(leases.insert().values(lease_id=lease, key_id=key_id, reserved=reserve, minute=p["minute"],
                                                day=p["day"], month=p["month"], expires_at=int(now) + LEASE_SECONDS))
        return decision

    async def settle(self, lease: str, used: int, now: float) -> None:
        def write(conn: Connection) -> None:
            row = conn.execute(select(leases).where(leases.c.lease_id == lease)).first()
            if row is None:
                return
            if self._lock is not None:
                conn.execute(self._lock, {"k": row.key_id})
            if conn.execute(delete(leases).where(leases.c.lease_id == lease)).rowcount == 0:
                return  # settled meanwhile by another replica
            delta = used - int(row.reserved)
            for b, period in (("tpm", row.minute), ("day", row.day), ("month", row.month)) if delta else ():
                conn.execute(counters.update().where(  # only the counters acquire made (the limited ones)
                    counters.c.key_id == row.key_id, counters.c.bucket == b, counters.c.period == period)
                    .values(value=counters.c.value + delta))

        await self.db.write(write)

    # -- usage ---------------------------------------------------------------------------------------
    async def usage(self, group_by: str, since: int | None, until: int | None,
                    key_id: str | None = None) -> list[UsageGroup]:
        group = {"key": usage.c.key_id, "model": usage.c.model,
                 "day": (usage.c.created_at / 86400)}[group_by]
        totals = [func.coalesce(func.sum(getattr(usage.c, f)), 0).label(f) for f in (*USAGE_FIELDS, "duration_ms")]
        q = select(group.label("group"), func.count().label("requests"), *totals).group_by(group).order_by(group)
        if since is not None:
            q = q.where(usage.c.created_at >= since)
        if until is not None:
            q = q.where(usage.c.created_at < until)
        if key_id is not None:
            q = q.where(usage.c.key_id == key_id)
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        out: list[UsageGroup] = []
        for r in rows:
            row: UsageGroup = {"requests": int(r.requests), "input_tokens": int(r.input_tokens),
                               "cached_tokens": int(r.cached_tokens), "output_tokens": int(r.output_tokens),
                               "reasoning_tokens": int(r.reasoning_tokens), "duration_ms": int(r.duration_ms)}
            if group_by == "day":
                row["day"] = time.strftime("%Y-%m-%d", time.gmtime(int(r.group) * 86400))
            elif group_by == "model":
                row["model"] = str(r.group)
            else:
                row["key"] = str(r.group)
            out.append(row)
        return out
