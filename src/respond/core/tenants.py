"""Tenants' vocabulary and ports: keys kept as rows, their limits, the counters that enforce them,
and the usage recorded for every finished response.

- `TenantKey`: one key as stored (its salted hash, never the key), with its owner/project label,
  expiry, allowed models (names or globs) and `KeyLimits`.  Its `id` is also the owner of what it
  creates, so a rotated key (new secret, same row) keeps its data.
- `KeyStore`: the rows (store/tenants.py on SQLite and PostgreSQL).
- `RateStore`: `acquire` checks and counts every limit of a key in one atomic step (a database
  transaction serialised per key, or one Redis script) and takes a *lease* named after the
  response; `settle` turns the lease's reserved tokens into the tokens actually used and frees its
  concurrency slot.  Leases expire, so a crashed replica's slots come back.
- `UsageStore`: one row per finished response; grouped by key, model or day.

No I/O here: the adapters live in respond.store, the policy in respond.engine.tenants.tenancy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

LIMIT_NAMES = ("rpm", "tpm", "concurrent", "daily_tokens", "monthly_tokens")


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens (input + output) per minute
    concurrent: int | None = None  # requests in flight
    daily_tokens: int | None = None  # token budget per UTC day
    monthly_tokens: int | None = None  # token budget per UTC month

    @property
    def any(self) -> bool:
        return any(getattr(self, n) is not None for n in LIMIT_NAMES)

    def as_dict(self) -> dict[str, int | None]:
        return {n: getattr(self, n) for n in LIMIT_NAMES}

    @classmethod
    def from_dict(cls, raw: dict[str, int | None] | None) -> KeyLimits:
        raw = raw or {}
        return cls(**{n: (int(v) if (v := raw.get(n)) is not None else None) for n in LIMIT_NAMES})


class KeyObject(TypedDict):
    """A key as the admin API and the CLI show it (`TenantKey.public`)."""

    id: str
    object: str
    label: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    rotated_at: int | None
    models: list[str]
    limits: dict[str, int | None]


class NewKeyObject(KeyObject):
    """A key just created or rotated: its text, shown this once."""

    key: str


@dataclass(frozen=True, slots=True)
class TenantKey:
    id: str  # the lookup id, part of the key's text; also the owner of what the key creates
    label: str  # owner / project, for people
    salt: str  # hex
    secret_hash: str  # hex scrypt digest of the key's secret part
    created_at: int
    models: tuple[str, ...] = ()  # names or globs; empty: every model
    limits: KeyLimits = field(default_factory=KeyLimits)
    expires_at: int | None = None
    revoked_at: int | None = None
    rotated_at: int | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self) -> KeyObject:
        """What the admin API and the CLI show: never the hash or the salt."""
        return {"id": self.id, "object": "api_key", "label": self.label, "created_at": self.created_at,
                "expires_at": self.expires_at, "revoked_at": self.revoked_at, "rotated_at": self.rotated_at,
                "models": list(self.models), "limits": self.limits.as_dict()}


class KeyStore(Protocol):
    async def add_key(self, key: TenantKey) -> None: ...

    async def get_key(self, key_id: str) -> TenantKey | None: ...

    async def list_keys(self) -> list[TenantKey]: ...

    async def update_key(self, key_id: str, **fields: Any) -> TenantKey | None:
        """Change columns of a key (label, models, limits, expires_at, revoked_at, salt, secret_hash,
        rotated_at); the key after, or None when there is no such key."""
        ...

    async def has_keys(self) -> bool:
        """Whether any key was ever created (then every request must present a key)."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """One limit's state after a decision: what the `x-ratelimit-*` headers say."""

    limit: int
    remaining: int
    reset: float  # seconds until the window ends


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    refused_by: str | None = None  # the limit that refused: one of LIMIT_NAMES
    requests: Window | None = None  # the rpm window (when the key has one)
    tokens: Window | None = None  # the tpm window (when the key has one)
    retry_after: float = 0.0


class RateStore(Protocol):
    async def acquire(self, key_id: str, lease: str, limits: KeyLimits, reserve: int, now: float) -> Decision:
        """Check every limit of the key and, when all admit, count the request and take `lease`
        (`reserve` tokens held against tpm and the budgets, one concurrency slot): all or nothing."""
        ...

    async def settle(self, lease: str, used: int, now: float) -> None:
        """The leased request finished having used `used` tokens: replace its reservation by that,
        free its slot.  An unknown (expired, settled) lease: nothing happens."""
        ...

    async def close(self) -> None: ...


USAGE_FIELDS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")


class UsageRecord(TypedDict):
    """One finished response's usage, as recorded (the token counts are USAGE_FIELDS)."""

    response_id: str
    key_id: str
    model: str
    backend: str
    status: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    duration_ms: int
    created_at: int


class UsageTotals(TypedDict):
    """Usage summed over responses: their number and the sums of USAGE_FIELDS and duration_ms."""

    requests: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    duration_ms: int


class UsageGroup(UsageTotals, total=False):
    """The totals of one group: its `key`, `model` or `day` (the one grouped by); a key's `label`."""

    key: str
    model: str
    day: str  # YYYY-MM-DD, UTC
    label: str


def summed(groups: list[UsageGroup]) -> UsageTotals:
    """The totals of every group."""
    return {"requests": sum(g["requests"] for g in groups),
            "input_tokens": sum(g["input_tokens"] for g in groups),
            "cached_tokens": sum(g["cached_tokens"] for g in groups),
            "output_tokens": sum(g["output_tokens"] for g in groups),
            "reasoning_tokens": sum(g["reasoning_tokens"] for g in groups),
            "duration_ms": sum(g["duration_ms"] for g in groups)}


class UsageStore(Protocol):
    def record_usage(self, row: UsageRecord) -> None:
        """One finished response's usage, written behind: with the others of the next moment, in one
        transaction (a reading of the usage, `flush_usage` and closing the store write what waits)."""
        ...

    async def flush_usage(self) -> None:
        """Write the usage rows that wait now."""
        ...

    async def usage(self, group_by: str, since: int | None, until: int | None,
                    key_id: str | None = None) -> list[UsageGroup]:
        """Totals grouped by `key`, `model` or `day` (UTC), oldest group first for days."""
        ...
