"""Replicas of one upstream as one `ModelBackend`: balancing, passive and active health, failover.

An `[[upstreams]]` entry lists replicas (URLs of one service).  The composition root builds one
backend per URL through the backends registry (`openai_compat` for kind "chat", `openai_responses`
for "responses") and hands them to a `ReplicaSet`, which the router sees as one backend named after
the upstream.  The adapters stay behind the port: a replica is only ever asked `generate` and
`models`.

- Balancing: least outstanding requests among the replicas that are up; ties go round-robin.
- Passive health: a replica whose request fails before its first delta (no connection, a 5xx, a
  timeout, a reply that is no stream) is marked down for a backoff (doubling with each failure in a
  row, at most `MAX_BACKOFF`) and the request is retried once on another replica.  A 4xx is the
  request's own fault: passed on, the replica stays up.  So does one whose connection pool in this
  process is full (503 `upstream_busy`): the request tries another replica, none is marked down.
  After the first delta nothing is retried: a failure ends the response `failed`, as with a single
  upstream.
- Active health: a loop started by `warmup` (the composition root's start-up hook) probes each down
  replica with its backend's `models()` (GET /models) once its backoff is over; an answer brings it
  back.  A down replica whose backoff is over may also take one request (half-open) when no
  replica is up.  The same loop refreshes the model list of an upstream without configured models.
- All replicas down: 503 `upstream_unavailable`, whose `retry_after` is when the next probe is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from respond.core.errors import BackendError
from respond.core.metrics import Metrics, NullMetrics
from respond.core.ports import ModelBackend, WarmsUp
from respond.core.types import Delta, Generation, ModelInfo

log = logging.getLogger("respond.routing")
MAX_BACKOFF = 60.0
PROBE_TIMEOUT = 10.0


@dataclass
class Replica:
    label: str  # its URL without credentials: logs, metrics, the dashboard
    backend: ModelBackend
    outstanding: int = 0
    down: bool = False
    failures: int = 0  # failures in a row
    retry_at: float = 0.0  # monotonic time its backoff ends
    requests: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class ReplicaHealth:
    upstream: str
    kind: str
    replica: str
    up: bool
    outstanding: int
    requests: int
    errors: int
    retry_in: float
    last_error: str | None


@dataclass
class Health:
    backoff: float = 2.0  # seconds a replica stays down after its first failure
    interval: float = 1.0  # seconds between two rounds of probes
    models_refresh: float = 60.0  # seconds a listed model list is kept
    extra: dict[str, float] = field(default_factory=dict)


def retryable(exc: BackendError) -> bool:
    """A failure of the replica, not of the request: no answer, a timeout, a 5xx, an invalid reply."""
    return exc.status is None or exc.status >= 500


def kind_of(exc: BackendError) -> str:
    if exc.code == "upstream_unreachable":
        return "connect"
    if exc.code == "upstream_timeout":
        return "timeout"
    return f"http_{exc.status // 100}xx" if exc.status else "transport"


class ReplicaSet:
    """One upstream: its replicas, their health, and its models (configured, or listed and cached)."""

    def __init__(self, name: str, replicas: list[tuple[str, ModelBackend]], *, kind: str = "chat",
                 models: list[str] | None = None, health: Health | None = None,
                 metrics: Metrics | None = None) -> None:
        if not replicas:
            raise ValueError(f"The upstream '{name}' has no replica.")
        self.name = name
        self.kind = kind
        self.replicas = [Replica(label, backend) for label, backend in replicas]
        self.configured = list(models) if models is not None else None
        self.health = health or Health()
        self.metrics: Metrics = metrics or NullMetrics()
        first = self.replicas[0].backend
        self.vision: bool = getattr(first, "vision", True)  # what input_files asks of a backend
        self.file_parts: bool = getattr(first, "file_parts", False)
        self._listed: dict[str, ModelInfo] = {}
        self._listed_at: float | None = None
        self._turn = 0
        self._watcher: asyncio.Task[None] | None = None
        for r in self.replicas:
            self.metrics.upstream_state(self.name, r.label, True)

    # -- the port ------------------------------------------------------------------------------
    def serves(self, model: str) -> bool:
        return model in self.configured if self.configured is not None else model in self._listed

    @property
    def default_model(self) -> str | None:
        """The first configured model (a listed one is not known when the default is chosen)."""
        return self.configured[0] if self.configured else None

    def known(self) -> list[str]:
        return list(self.configured) if self.configured is not None else list(self._listed)

    async def models(self) -> list[ModelInfo]:
        if self.configured is not None:
            return [ModelInfo(id=m, owned_by=self.name) for m in self.configured]
        if self._listed_at is None:
            await self.refresh()
        return [ModelInfo(id=m.id, owned_by=self.name, created=m.created) for m in self._listed.values()]

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        tried: set[int] = set()
        for attempt in range(2):
            r = self._pick(tried)
            if r is None:
                raise self._unavailable()
            tried.add(id(r))
            deltas = r.backend.generate(gen)
            r.outstanding += 1
            r.requests += 1
            started = time.monotonic()
            try:
                try:
                    first = await anext(deltas)
                except StopAsyncIteration:
                    return
                except BackendError as exc:
                    self.metrics.upstream_request(self.name, r.label, kind_of(exc), time.monotonic() - started)
                    if not retryable(exc):
                        raise
                    busy = exc.code == "upstream_busy"  # this process's pool to it is full: not the replica's fault
                    if not busy:
                        self._failed(r, exc)
                    if attempt == 0 and self._pick(tried) is not None:
                        self.metrics.upstream_failover(self.name, r.label)
                        log.warning("upstream %s: %s failed (%s); retrying on another replica", self.name,
                                    r.label, exc.message)
                        continue
                    if not busy and not any(not x.down for x in self.replicas):
                        raise self._unavailable() from exc
                    raise
                self.metrics.upstream_request(self.name, r.label, "ok", time.monotonic() - started)
                self._recovered(r)
                yield first
                try:
                    async for delta in deltas:
                        yield delta
                except BackendError as exc:
                    r.errors += 1
                    r.last_error = exc.message
                    self.metrics.upstream_request(self.name, r.label, "stream", time.monotonic() - started)
                    raise
                return
            finally:
                r.outstanding -= 1
                with contextlib.suppress(Exception):
                    await deltas.aclose()  # type: ignore[attr-defined]

    async def warmup(self) -> None:
        """Start-up: each replica's own (an upstream profile probed, say), list the models (when none
        are configured) and start the health loop; never fails."""
        for r in self.replicas:
            if isinstance(r.backend, WarmsUp):
                try:
                    await r.backend.warmup()
                except BackendError as exc:
                    log.warning("upstream %s, replica %s: start-up failed: %s", self.name, r.label, exc.message)
        if self.configured is None:
            await self.refresh()
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name=f"health:{self.name}")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for r in self.replicas:
            await r.backend.close()

    # -- choosing and health -------------------------------------------------------------------
    def _pick(self, tried: set[int]) -> Replica | None:
        now = time.monotonic()
        fresh = [r for r in self.replicas if id(r) not in tried]
        up = [r for r in fresh if not r.down] or [r for r in fresh if r.retry_at <= now]  # else half-open
        if not up:
            return None
        least = min(r.outstanding for r in up)
        ties = [r for r in up if r.outstanding == least]
        self._turn += 1
        return ties[self._turn % len(ties)]

    def _unavailable(self) -> BackendError:
        wait = min(r.retry_at for r in self.replicas) - time.monotonic()
        err = BackendError(f"The upstream '{self.name}' is unavailable: all {len(self.replicas)} of its replicas "
                           f"are down. Retry shortly.", status=503, code="upstream_unavailable")
        err.retry_after = max(1.0, wait)
        return err

    def _failed(self, r: Replica, exc: BackendError) -> None:
        r.errors += 1
        r.failures += 1
        r.last_error = exc.message
        r.retry_at = time.monotonic() + min(self.health.backoff * 2 ** (r.failures - 1), MAX_BACKOFF)
        if not r.down:
            r.down = True
            self.metrics.upstream_state(self.name, r.label, False)
            log.warning("upstream %s: replica %s marked down (%s)", self.name, r.label, exc.message)

    def _recovered(self, r: Replica) -> None:
        r.failures = 0
        if r.down:
            r.down = False
            self.metrics.upstream_state(self.name, r.label, True)
            log.info("upstream %s: replica %s is back up", self.name, r.label)

    async def _probe(self, r: Replica) -> list[ModelInfo] | None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                found = await r.backend.models()
        except (BackendError, TimeoutError) as exc:
            message = exc.message if isinstance(exc, BackendError) else "no answer to GET /models"
            self._failed(r, BackendError(message))
            return None
        self._recovered(r)
        return found

    async def refresh(self) -> None:
        """List the upstream's models from the first replica that answers (down ones are probed too)."""
        for r in sorted(self.replicas, key=lambda x: x.down):
            found = await self._probe(r)
            if found is not None:
                self._listed = {m.id: m for m in found}
                self._listed_at = time.monotonic()
                return
        log.warning("upstream %s: could not list its models (no replica answered)", self.name)

    async def refresh_if_older(self, seconds: float) -> None:
        if self.configured is None and (self._listed_at is None or time.monotonic() - self._listed_at > seconds):
            await self.refresh()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.health.interval)
            try:
                now = time.monotonic()
                due = [r for r in self.replicas if r.down and r.retry_at <= now]
                if due:
                    await asyncio.gather(*(self._probe(r) for r in due))
                await self.refresh_if_older(self.health.models_refresh)
            except Exception:  # the loop must outlive any one bad round
                log.exception("upstream %s: health check round failed", self.name)

    def state(self) -> list[ReplicaHealth]:
        now = time.monotonic()
        return [ReplicaHealth(self.name, self.kind, r.label, not r.down, r.outstanding, r.requests, r.errors,
                              max(0.0, r.retry_at - now) if r.down else 0.0, r.last_error) for r in self.replicas]
