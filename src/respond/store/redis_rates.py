"""The RateStore port on Redis (`--rate-store redis://host:port/db`).

One Lua script per operation, so each is atomic on the server whatever the number of replicas:
`acquire` reads a key's minute counters (requests, tokens), its day and month token counters and
its in-flight set (a sorted set of leases scored by expiry; expired ones dropped first), decides
with the same order of limits as the SQL store (`store.tenants.decide`), and on admission bumps
every counter (each with a TTL past its period) and writes the lease (a hash naming the counters
it reserved tokens in).  `settle` replaces the reservation by the tokens used and frees the slot.
Times come from the caller's clock (an injectable one in tests), never from Redis's.
"""

from __future__ import annotations

from typing import Any

from respond.core.tenants import Decision, KeyLimits
from respond.store.tenants import LEASE_SECONDS, decide, periods

ACQUIRE = """
local now = tonumber(ARGV[1])
local lease = ARGV[2]
local reserve = tonumber(ARGV[3])
local rpm, tpm, conc, dayb, monthb = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[5])
local r = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = tonumber(redis.call('GET', KEYS[2]) or '0')
local d = tonumber(redis.call('GET', KEYS[3]) or '0')
local m = tonumber(redis.call('GET', KEYS[4]) or '0')
local refused = 0
if conc >= 0 and inflight >= conc then refused = 1
elseif rpm >= 0 and r + 1 > rpm then refused = 1
elseif tpm >= 0 and t + reserve > tpm then refused = 1
elseif dayb >= 0 and d + reserve > dayb then refused = 1
elseif monthb >= 0 and m + reserve > monthb then refused = 1
end
if refused == 0 then
  redis.call('INCRBY', KEYS[1], 1)
  redis.call('EXPIRE', KEYS[1], 120)
  redis.call('INCRBY', KEYS[2], reserve)
  redis.call('EXPIRE', KEYS[2], 120)
  redis.call('INCRBY', KEYS[3], reserve)
  redis.call('EXPIRE', KEYS[3], 2 * 86400)
  redis.call('INCRBY', KEYS[4], reserve)
  redis.call('EXPIRE', KEYS[4], 32 * 86400)
  redis.call('ZADD', KEYS[5], now + ttl, lease)
  redis.call('EXPIRE', KEYS[5], ttl)
  redis.call('HSET', KEYS[6], 'reserved', reserve, 'tpm', KEYS[2], 'day', KEYS[3], 'month', KEYS[4],
    'inflight', KEYS[5])
  redis.call('EXPIRE', KEYS[6], ttl)
end
return {r, t, d, m, inflight}
"""

SETTLE = """
local lease = redis.call('HGETALL', KEYS[1])
if #lease == 0 then return 0 end
local f = {}
for i = 1, #lease, 2 do f[lease[i]] = lease[i + 1] end
redis.call('DEL', KEYS[1])
redis.call('ZREM', f['inflight'], ARGV[1])
local delta = tonumber(ARGV[2]) - tonumber(f['reserved'])
if delta ~= 0 then
  for _, name in ipairs({'tpm', 'day', 'month'}) do
    if redis.call('EXISTS', f[name]) == 1 then redis.call('INCRBY', f[name], delta) end
  end
end
return 1
"""


def _limit(value: int | None) -> int:
    return -1 if value is None else value


class RedisRates:
    """RateStore on Redis through redis-py's asyncio client (one connection pool per process)."""

    def __init__(self, url: str, prefix: str = "respond:rl:") -> None:
        from redis.asyncio import Redis  # only when --rate-store redis:// is given

        self.redis: Any = Redis.from_url(url)
        self.prefix = prefix
        self._acquire = self.redis.register_script(ACQUIRE)
        self._settle = self.redis.register_script(SETTLE)

    async def acquire(self, key_id: str, lease: str, limits: KeyLimits, reserve: int, now: float) -> Decision:
        p, k = periods(now), self.prefix + key_id
        keys = [f"{k}:rpm:{p['minute']}", f"{k}:tpm:{p['minute']}", f"{k}:day:{p['day']}",
                f"{k}:month:{p['month']}", f"{k}:inflight", f"{self.prefix}lease:{lease}"]
        args: list[str | int | float] = [now, lease, reserve, _limit(limits.rpm), _limit(limits.tpm), _limit(limits.concurrent),
                _limit(limits.daily_tokens), _limit(limits.monthly_tokens), LEASE_SECONDS]
        r, t, d, m, inflight = (int(v) for v in await self._acquire(keys=keys, args=args))
        return decide(limits, {"rpm": r, "tpm": t, "day": d, "month": m}, inflight, reserve, now)

    async def settle(self, lease: str, used: int, now: float) -> None:
        await self._settle(keys=[f"{self.prefix}lease:{lease}"], args=[lease, used])

    async def close(self) -> None:
        await self.redis.aclose()
