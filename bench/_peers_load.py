"""The client load: the same httpx (async) requests against every server.

Every create sends a list `input` (open-responses-server splits a plain string into one message per
character) and checks the answer: a non-stream body must be a completed response carrying the
upstream's text; a stream must end in `response.completed` whose text equals the joined deltas.
Anything else counts as an error, with the first one kept for the report.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from _peers_proc import Meter
from _peers_servers import API_KEY, MODEL

EXPECTED_TEXT = "Hello from the scripted upstream."


@dataclass
class Result:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    foreign_cores: float = 0.0  # CPU others used meanwhile (see _peers_servers.Meter)
    server_cpu_s: float = 0.0  # CPU the server's processes used meanwhile (user + system)
    first_error: str | None = None
    ids: list[str] = field(default_factory=list)

    @property
    def cpu_ms(self) -> float:
        """Server CPU per answered request, in ms: comparable on a shared machine, unlike req/s."""
        return self.server_cpu_s * 1000 / self.ok if self.ok else float("nan")

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] * 1000

    def fail(self, why: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = why[:300]


def client(conc: int = 1) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc),
        timeout=httpx.Timeout(60.0),
        headers={"authorization": f"Bearer {API_KEY}"},
    )


@asynccontextmanager
async def clients(conc: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client (one keep-alive connection) per simulated user: httpx's shared pool itself slows
    down past a few dozen connections (656 vs 1535 req/s at 64 against the bare upstream)."""
    cs = [client(1) for _ in range(conc)]
    try:
        yield cs
    finally:
        await asyncio.gather(*(c.aclose() for c in cs))


def body(text: str, stream: bool, previous: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "model": MODEL,
        "stream": stream,
        "input": [{"type": "message", "role": "user", "content": text}],
    }
    if previous:
        b["previous_response_id"] = previous
    return b


def _text_of(resp: dict[str, Any]) -> str:
    return "".join(
        p.get("text", "")
        for it in resp.get("output") or []
        if it.get("type") == "message"
        for p in it.get("content") or []
        if p.get("type") == "output_text"
    )


async def create(c: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """One create; (response id, None) when it checks out, else (None, what went wrong)."""
    if not payload["stream"]:
        r = await c.post(url, json=payload)
        if r.status_code != 200:
            return None, f"HTTP {r.status_code}: {r.text[:200]}"
        data = orjson.loads(r.content) if r.content else None
        if not isinstance(data, dict) or "id" not in data:
            return None, f"not a response object: {r.text[:120]!r}"
        if data.get("status") != "completed" or _text_of(data) != EXPECTED_TEXT:
            return None, f"status={data.get('status')} text={_text_of(data)[:60]!r}"
        return str(data["id"]), None
    deltas: list[str] = []
    done: dict[str, Any] | None = None
    async with c.stream("POST", url, json=payload) as r:
        if r.status_code != 200:
            return None, f"HTTP {r.status_code}: {(await r.aread())[:200]!r}"
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            if '"response.output_text.delta"' in line:
                deltas.append(orjson.loads(line[5:]).get("delta", ""))
            elif '"response.completed"' in line:
                done = orjson.loads(line[5:])["response"]
            elif '"type": "error"' in line or '"type":"error"' in line:
                return None, f"error event: {line[:200]}"
    if done is None:
        return None, "stream ended without response.completed"
    if _text_of(done) != EXPECTED_TEXT or "".join(deltas) != EXPECTED_TEXT:
        return None, f"text mismatch: completed={_text_of(done)[:60]!r} deltas={''.join(deltas)[:60]!r}"
    return str(done["id"]), None


async def _sample_rss(rss: Callable[[], float], res: Result, stop: asyncio.Event) -> None:
    while not stop.is_set():
        res.rss_mb = max(res.rss_mb, await asyncio.to_thread(rss))
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass


async def _drive(
    n: int,
    clients: list[httpx.AsyncClient],
    max_s: float,
    meter: Meter,
    one: Callable[[httpx.AsyncClient, int], Any],
) -> Result:
    """Run `one(client, i)` for i < n, one worker per client (stopping after max_s); time and sample RSS."""
    res, nxt, stop = Result(), iter(range(n)), asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(meter.rss_mb, res, stop))
    mark, ticks = meter.mark(), meter.server_ticks()
    t0 = time.perf_counter()
    end = t0 + max_s

    async def worker(c: httpx.AsyncClient) -> None:
        for i in nxt:
            if time.perf_counter() > end:
                return
            s = time.perf_counter()
            try:
                rid, err = await one(c, i)
            except httpx.HTTPError as e:
                rid, err = None, f"{type(e).__name__}: {e}"
            if err is None:
                res.ok += 1
                res.latencies.append(time.perf_counter() - s)
                if rid:
                    res.ids.append(rid)
            else:
                res.fail(err)

    await asyncio.gather(*(worker(c) for c in clients))
    res.seconds = time.perf_counter() - t0
    res.foreign_cores = meter.foreign_cores(mark, meter.mark())
    res.server_cpu_s = (meter.server_ticks() - ticks) / meter.HZ
    stop.set()
    await sampler
    return res


async def create_load(url: str, stream: bool, n: int, conc: int, max_s: float, meter: Meter) -> Result:
    async with clients(conc) as cs:
        await asyncio.gather(*(create(c, url, body(f"warm {i}", stream)) for i, c in enumerate(cs + cs)))
        return await _drive(n, cs, max_s, meter, lambda c, i: create(c, url, body(f"Say hello #{i}", stream)))


async def chain(url: str, turns: int, stream: bool) -> tuple[list[float], list[str], str | None]:
    """A previous_response_id chain, one turn after another: (latency per turn, ids, error)."""
    lat: list[float] = []
    ids: list[str] = []
    async with client(1) as c:
        prev: str | None = None
        for t in range(1, turns + 1):
            s = time.perf_counter()
            rid, err = await create(c, url, body(f"turn {t}", stream, prev))
            if err is not None or rid is None:
                return lat, ids, f"turn {t}: {err}"
            lat.append(time.perf_counter() - s)
            ids.append(rid)
            prev = rid
    return lat, ids, None


async def retrieve(base_url: str, ids: list[str], n: int, conc: int, max_s: float, meter: Meter) -> Result:
    rng = random.Random(7)
    picks = [rng.choice(ids) for _ in range(n)]

    async with clients(conc) as cs:

        async def one(c: httpx.AsyncClient, i: int) -> tuple[str | None, str | None]:
            r = await c.get(f"{base_url}/{picks[i]}")
            if r.status_code != 200:
                return None, f"HTTP {r.status_code}: {r.text[:200]}"
            got = orjson.loads(r.content)
            if got.get("id") != picks[i] or got.get("status") != "completed":
                return (
                    None,
                    f"asked {picks[i][:20]}.., got id={str(got.get('id'))[:20]} status={got.get('status')}",
                )
            return None, None

        await asyncio.gather(*(one(c, i % n) for i, c in enumerate(cs + cs)))
        return await _drive(n, cs, max_s, meter, one)


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000 if xs else float("nan")
