"""Tenancy: who a stored key is, what it may use, its limits, and what it used.

- `authenticate(token)`: a key in our format (engine/tenants/keys.py) is looked up by its id and its
  secret checked with scrypt (in a thread).  Two caches keep that off the hot path: the key's row,
  re-read by primary key once it is older than `cache_seconds` (so a revocation, an expiry or new
  limits reach every replica within that time), and the verified tokens (by an HMAC under a
  per-process secret; valid while the row's hash is the one verified, so a rotation ends the old
  secret at the next re-read).  Failed tokens are remembered as briefly, so a flood of wrong keys
  costs one scrypt per distinct token.
- `model_filter(owner)`: the names or globs a key may use (the engine matches the requested name and
  the model an alias names, and answers a refused one like a model not served).
- `admit(owner, model, reserve, lease)`: called by the engine as a response starts: the RateStore
  counts the request against every limit of the key (429 with
  the hosted API's `x-ratelimit-*` headers when one refuses).  The headers are also left in
  `RATE_HEADERS` (a per-request holder the HTTP layer sets) for the successful answer.
- `finished(response, owner, backend, seconds)`: the response ended (on whichever replica ran it):
  its usage row recorded (written behind, with others: store/tenants.py) and, for a stored key, its
  lease settled with the tokens used, in a tracked task, so the client's answer never waits for
  it; `drain()` awaits them and writes the waiting usage rows (shutdown, tests).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from respond.core.tenants import Decision, KeyStore, RateStore, TenantKey, UsageRecord, UsageStore, Window
from respond.engine.tenants.keys import ID_PREFIX, model_allowed, parse, verify
from respond.protocol.errors import APIError

log = logging.getLogger("respond.tenants")

# Set by the HTTP layer to a fresh dict per request; `admit` leaves the rate-limit headers in it.
RATE_HEADERS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("rate_headers", default=None)
_MESSAGES = {
    "rpm": ("requests", "requests per minute (RPM)"),
    "tpm": ("tokens", "tokens per minute (TPM)"),
    "concurrent": ("requests", "concurrent requests"),
    "daily_tokens": ("insufficient_quota", "tokens per day (daily budget)"),
    "monthly_tokens": ("insufficient_quota", "tokens per month (monthly budget)"),
}


class KeyMetrics(Protocol):
    def key_usage(self, key: str, model: str, input_tokens: int, output_tokens: int, status: str) -> None: ...


def reset_text(seconds: float) -> str:
    """The hosted API's duration format: `20ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(1, int(seconds * 1000))}ms"
    whole = int(round(seconds))
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


def headers_of(decision: Decision) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, window in (("requests", decision.requests), ("tokens", decision.tokens)):
        if window is not None:
            out.update(_trio(name, window))
    return out


def _trio(name: str, w: Window) -> dict[str, str]:
    return {f"x-ratelimit-limit-{name}": str(w.limit), f"x-ratelimit-remaining-{name}": str(w.remaining),
            f"x-ratelimit-reset-{name}": reset_text(w.reset)}


class RateLimited(APIError):
    def __init__(self, key: TenantKey, decision: Decision) -> None:
        kind, what = _MESSAGES[decision.refused_by or "rpm"]
        limit = getattr(key.limits, decision.refused_by or "rpm")
        quota = kind == "insufficient_quota"
        message = (f"{'Budget' if quota else 'Rate limit'} reached for key {key.id} on {what}: limit {limit}. "
                   f"Please try again in {reset_text(decision.retry_after)}.")
        super().__init__(429, message, type=kind, code="insufficient_quota" if quota else "rate_limit_exceeded",
                         retry_after=max(1, int(decision.retry_after + 0.999)))
        self.headers = headers_of(decision)


def _whole(limit: int | None, now: float) -> Window | None:
    return Window(limit, limit, 60 - now % 60) if limit is not None else None


def _moved(window: Window | None, elapsed: float) -> Window | None:
    return Window(window.limit, window.remaining, max(0.0, window.reset - elapsed)) if window else None


def usage_key(owner: str) -> str:
    """How usage names an owner: a stored key by its id; a static key by `static:` and 12 digits of
    its digest (never the whole unsalted digest); `anonymous`."""
    if owner.startswith(ID_PREFIX) or owner == "anonymous":
        return owner[:64]
    return "static:" + owner[:12]


def reserve(max_output_tokens: int | None, new_items: list[dict[str, Any]]) -> int:
    """Tokens held against a key's limits while a response runs: its `max_output_tokens` and an
    estimate of its new input (4 characters of its text a token); replaced by the tokens used when
    it finishes."""
    return int(max_output_tokens or 0) + _chars(new_items) // 4


_FRAMING = frozenset({"type", "role", "id", "status", "call_id", "name", "detail"})


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k not in _FRAMING)
    return 0


def unauthorized(message: str) -> APIError:
    return APIError(401, message, type="invalid_request_error", code="invalid_api_key")


class Tenancy:
    def __init__(self, keys: KeyStore, rates: RateStore, usage: UsageStore, *, clock: Callable[[], float] = time.time,
                 cache_seconds: float = 0.5, metrics: KeyMetrics | None = None) -> None:
        self.keys, self.rates, self.usage_store = keys, rates, usage
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.metrics = metrics
        self._secret = secrets.token_bytes(32)
        self._rows: dict[str, tuple[TenantKey | None, float]] = {}
        self._verified: dict[bytes, tuple[str, str]] = {}
        self._failed: dict[bytes, float] = {}
        self._any: tuple[bool, float] = (False, -1e9)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, tuple[Decision, float]] = {}  # a limited key's last admission here

    # -- who ------------------------------------------------------------------------------------------
    async def required(self) -> bool:
        """Whether keys exist in the database (then anonymous requests are refused)."""
        found, at = self._any
        if not found and time.monotonic() - at > self.cache_seconds:
            try:
                found = await self.keys.has_keys()
            except Exception:
                if at < 0:
                    raise  # never known: the request fails (a 503 while the database is away)
                return found  # the database is away: no key can have been added meanwhile
            self._any = (found, time.monotonic())
        return found

    async def row(self, key_id: str) -> TenantKey | None:
        cached = self._rows.get(key_id)
        if cached is not None and time.monotonic() - cached[1] <= self.cache_seconds:
            return cached[0]
        key = await self.keys.get_key(key_id)
        if len(self._rows) > 100_000:
            self._rows.clear()
        self._rows[key_id] = (key, time.monotonic())
        return key

    async def authenticate(self, token: str) -> TenantKey | None:
        """The key a bearer token names; None when it is not in our format (a static key, maybe);
        a 401 when it is ours but wrong, revoked or expired."""
        presented = parse(token)
        if presented is None:
            return None
        digest = hmac.new(self._secret, token.encode(), hashlib.sha256).digest()
        failed_at = self._failed.get(digest)
        if failed_at is not None and time.monotonic() - failed_at <= self.cache_seconds:
            raise unauthorized("Incorrect API key provided.")
        key = await self.row(presented.key_id)
        if key is None or self._verified.get(digest) != (key.id, key.secret_hash):
            ok = await asyncio.to_thread(verify, presented.secret, key.salt if key else None,
                                         key.secret_hash if key else None)
            if not ok or key is None:
                if len(self._failed) > 10_000:
                    self._failed.clear()
                self._failed[digest] = time.monotonic()
                raise unauthorized("Incorrect API key provided.")
            if len(self._verified) > 100_000:
                self._verified.clear()
            self._verified[digest] = (key.id, key.secret_hash)
        now = self.clock()
        if key.revoked_at is not None:
            raise unauthorized(f"The API key {key.id} has been revoked.")
        if key.expires_at is not None and now >= key.expires_at:
            raise unauthorized(f"The API key {key.id} has expired.")
        return key

    async def usable(self, owner: str) -> bool:
        """False only for a stored key that is gone, revoked or expired (other owners: True)."""
        if not self.is_key_owner(owner):
            return True
        key = await self.row(owner)
        return key is not None and key.usable(self.clock())

    @staticmethod
    def is_key_owner(owner: str) -> bool:
        return owner.startswith(ID_PREFIX)

    # -- what it may do -------------------------------------------------------------------------------
    async def model_filter(self, owner: str) -> Callable[[str], bool] | None:
        """What a stored key may use (None: any, for an owner that is no stored key); an unusable key
        is refused here."""
        if not self.is_key_owner(owner):
            return None
        key = await self.row(owner)
        if key is None or not key.usable(self.clock()):
            raise unauthorized("The API key is no longer valid.")
        patterns = key.models
        return lambda model: model_allowed(patterns, model)

    async def admit(self, owner: str, model: str, reserve: int, lease: str) -> None:
        """Count a response against its key's limits (its model was checked by `model_filter`)."""
        key = await self.row(owner) if self.is_key_owner(owner) else None
        if key is None or not key.limits.any:
            return
        now = self.clock()
        decision = await self.rates.acquire(key.id, lease, key.limits, max(0, reserve), now)
        self._last[key.id] = (decision, now)
        holder = RATE_HEADERS.get()
        if holder is not None:
            holder.update(headers_of(decision))
        if not decision.allowed:
            raise RateLimited(key, decision)

    def last_headers(self, key: TenantKey) -> dict[str, str]:
        """The rate-limit headers of a limited key's other requests: its last admission here, its
        windows moved on to now (a window that has ended is whole again)."""
        if not key.limits.rpm and not key.limits.tpm:
            return {}
        last = self._last.get(key.id)
        now = self.clock()
        if last is None or int(now // 60) != int(last[1] // 60):
            fresh = Decision(True, requests=_whole(key.limits.rpm, now), tokens=_whole(key.limits.tpm, now))
            return headers_of(fresh)
        decision, at = last
        return headers_of(Decision(True, requests=_moved(decision.requests, now - at),
                                   tokens=_moved(decision.tokens, now - at)))

    async def abandon(self, owner: str, lease: str) -> None:
        """An admitted request that never ran (refused later on, its client gone): free its slot."""
        if self.is_key_owner(owner) and await self._leased(owner):
            await self.rates.settle(lease, 0, self.clock())

    # -- what it used ---------------------------------------------------------------------------------
    def finished(self, response: Mapping[str, Any], owner: str, backend: str, seconds: float) -> None:
        u = response.get("usage") or {}
        row: UsageRecord = {"response_id": str(response.get("id")), "key_id": usage_key(owner), "model": str(response.get("model"))[:128],
               "backend": backend[:64], "status": str(response.get("status"))[:16],
               "input_tokens": int(u.get("input_tokens") or 0), "output_tokens": int(u.get("output_tokens") or 0),
               "cached_tokens": int((u.get("input_tokens_details") or {}).get("cached_tokens") or 0),
               "reasoning_tokens": int((u.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
               "duration_ms": int(seconds * 1000), "created_at": int(response.get("created_at") or self.clock())}
        self.usage_store.record_usage(row)  # written behind, with others (store/tenants.py)
        if self.is_key_owner(owner):  # its lease is settled in a tracked task: the answer never waits for it
            task = asyncio.get_running_loop().create_task(self._settle(owner, row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.metrics is not None:
            self.metrics.key_usage(owner if self.is_key_owner(owner) else "static", row["model"],
                                   row["input_tokens"], row["output_tokens"], row["status"])

    async def _settle(self, owner: str, row: UsageRecord) -> None:
        try:
            if await self._leased(owner):
                await self.rates.settle(row["response_id"], row["input_tokens"] + row["output_tokens"], self.clock())
        except Exception:  # noqa: BLE001 - accounting never fails a response; logged
            log.exception("settling the lease of %s failed", row["response_id"])

    async def _leased(self, owner: str) -> bool:
        """Whether the key's requests hold a lease to settle (its limits as last read)."""
        key = await self.row(owner)
        limits = key.limits if key is not None else None
        return limits is None or any(v is not None for v in (limits.concurrent, limits.tpm, limits.daily_tokens,
                                                             limits.monthly_tokens))

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.usage_store.flush_usage()
