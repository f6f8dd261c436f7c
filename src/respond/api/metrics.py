"""Prometheus metrics: the adapter of the `Metrics` port, the route templates, and `GET /metrics`.

Every metric lives in the app's own registry (tests build many apps in one process): in one process,
values kept in plain Python (api/metric_values.py: prometheus_client is loaded by the first scrape).
With `PROMETHEUS_MULTIPROC_DIR` set (several worker processes on one host), prometheus-client's own
metrics write values to files there and `/metrics` aggregates all processes with `MultiProcessCollector`.
Labels are bounded: routes are path templates (`/v1/responses/{response_id}`), models are the
first `MAX_MODELS` names seen (then `other`), upstreams and replicas are the configured ones (URLs
without credentials), no id and no key is ever a label, except the stored key ids of `respond_key_*`
when the operator opts in with `--metrics-per-key on`.  Queue depth and
the oldest queued run's age are read from the store at scrape time.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount

from respond.api import metric_values
from respond.core.types import Usage

MAX_MODELS = 64
LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SPEED = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)


def _kinds(multiproc_dir: str | None) -> tuple[Any, Any, Any, Any]:
    """A registry and the metric classes: prometheus_client's with several processes (values in its shared
    files, read by every process's scrape), else the plain ones of api/metric_values.py."""
    if multiproc_dir:
        import prometheus_client as p

        return p.CollectorRegistry(), p.Counter, p.Gauge, p.Histogram
    m = metric_values
    return m.LocalRegistry(), m.Counter, m.Gauge, m.Histogram


class _Pair:
    """The children a (model, backend) pair updates on every response, each looked up the first time it
    is used (a series appears in the exposition once it is first updated, as before)."""

    __slots__ = ("backend", "cache", "duration", "gen", "model", "responses", "speed", "ttft")

    def __init__(self, model: str, backend: str) -> None:
        self.model, self.backend = model, backend
        self.ttft: Any = None
        self.gen: tuple[Any, ...] | None = None  # tokens input, output, cached, reasoning; generation seconds
        self.speed: Any = None
        self.cache: dict[str, Any] = {}  # by "hit" / "miss"
        self.duration: Any = None
        self.responses: dict[str, Any] = {}  # by status


class PrometheusMetrics:
    """Implements `respond.core.metrics.Metrics` and the HTTP-level metrics."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        self.registry, Counter, Gauge, Histogram = _kinds(multiproc_dir)  # noqa: N806
        reg = self.registry
        self._models: set[str] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._pairs: dict[tuple[str, str], _Pair] = {}  # by the (model, backend) the engine reports
        self.requests = Counter("respond_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=reg)
        self.latency = Histogram("respond_http_request_duration_seconds", "HTTP request duration (to the last "
                                 "byte, streams included)", ["route", "method"], buckets=LATENCY, registry=reg)
        self.ttft = Histogram("respond_time_to_first_token_seconds", "Time from the start of generation to the "
                              "first model delta", ["model", "backend"], buckets=LATENCY, registry=reg)
        self.tokens = Counter("respond_tokens", "Tokens by model, backend and kind (input, output, cached, "
                              "reasoning)", ["model", "backend", "kind"], registry=reg)
        self.gen_seconds = Counter("respond_generation_seconds", "Seconds spent generating (tokens/s = "
                                   "rate(output tokens) / rate(this))", ["model", "backend"], registry=reg)
        self.speed = Histogram("respond_generation_tokens_per_second", "Output tokens per second of each "
                               "generation", ["model", "backend"], buckets=SPEED, registry=reg)
        self.cache = Counter("respond_prompt_cache", "Generations by whether the backend reused a cached prompt "
                             "prefix (the embedded engine's context pool)", ["backend", "result"], registry=reg)
        self.responses = Counter("respond_responses", "Responses by final status", ["model", "backend", "status"],
                                 registry=reg)
        self.duration = Histogram("respond_response_duration_seconds", "Duration of a response, start to final "
                                  "status", ["model", "backend"], buckets=LATENCY, registry=reg)
        self.upstream_errors = Counter("respond_upstream_errors", "Backend errors by kind (http_4xx, http_5xx, "
                                       "transport)", ["backend", "kind"], registry=reg)
        self.tool_calls = Counter("respond_tool_calls", "Server-run tool calls by type and outcome",
                                  ["type", "outcome"], registry=reg)
        self.queue_depth = Gauge("respond_background_queue_depth", "Background runs waiting in the queue",
                                 registry=reg, multiprocess_mode="max")
        self.running = Gauge("respond_background_running", "Background runs being executed",
                             registry=reg, multiprocess_mode="max")
        self.up_requests = Counter("respond_upstream_requests", "Requests to each replica of an upstream, by "
                                   "outcome (ok, connect, timeout, http_4xx, http_5xx, transport, stream)",
                                   ["upstream", "replica", "outcome"], registry=reg)
        self.up_latency = Histogram("respond_upstream_first_delta_seconds", "Time from a request to a replica to "
                                    "its first delta (or its failure)", ["upstream", "replica"], buckets=LATENCY,
                                    registry=reg)
        self.up_failovers = Counter("respond_upstream_failovers", "Requests retried on another replica after this "
                                    "one failed before its first delta", ["upstream", "replica"], registry=reg)
        self.up_state = Gauge("respond_upstream_up", "1 while a replica is up, 0 while it is marked down",
                              ["upstream", "replica"], registry=reg, multiprocess_mode="livemin")
        # --metrics-per-key on: tenants' tokens and responses by stored key id (one series per key)
        self.key_tokens = Counter("respond_key_tokens", "Tokens by stored key, model and kind (input, output); "
                                  "only with --metrics-per-key on", ["key", "model", "kind"], registry=reg)
        self.key_responses = Counter("respond_key_responses", "Responses by stored key, model and final status; "
                                     "only with --metrics-per-key on", ["key", "model", "status"], registry=reg)
        self.oldest = Gauge("respond_background_oldest_queued_seconds", "Age of the oldest queued run",
                            registry=reg, multiprocess_mode="max")

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once per label set (labels() takes a lock and checks
        its arguments on every call; the label sets are bounded, see the module docstring)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def model(self, name: str) -> str:
        if name in self._models:
            return name
        if len(self._models) < MAX_MODELS:
            self._models.add(name)
            return name
        return "other"

    def _pair(self, model: str, backend: str) -> _Pair:
        """Three lookups a response instead of ten (`child` builds a key for each)."""
        found = self._pairs.get((model, backend))
        if found is None:
            found = _Pair(self.model(model), backend)  # (a name past MAX_MODELS stays `other`)
            if len(self._pairs) < MAX_MODELS * 16:
                self._pairs[(model, backend)] = found
        return found

    # -- the port ------------------------------------------------------------------------------
    def first_token(self, model: str, backend: str, seconds: float) -> None:
        p = self._pair(model, backend)
        if p.ttft is None:
            p.ttft = self.child(self.ttft, p.model, backend)
        p.ttft.observe(seconds)

    def generated(self, model: str, backend: str, usage: Usage | None, seconds: float) -> None:
        p = self._pair(model, backend)
        m = p.model
        u = usage or Usage()
        if p.gen is None:
            p.gen = (*(self.child(self.tokens, m, backend, kind) for kind in ("input", "output", "cached",
                                                                               "reasoning")),
                     self.child(self.gen_seconds, m, backend))
        tin, tout, tcached, treasoning, gen_seconds = p.gen
        tin.inc(u.input_tokens)
        tout.inc(u.output_tokens)
        tcached.inc(u.cached_tokens)
        treasoning.inc(u.reasoning_tokens)
        gen_seconds.inc(seconds)
        if u.output_tokens and seconds > 0:
            if p.speed is None:
                p.speed = self.child(self.speed, m, backend)
            p.speed.observe(u.output_tokens / seconds)
        result = "hit" if u.cached_tokens else "miss"
        cache = p.cache.get(result)
        if cache is None:
            cache = p.cache[result] = self.child(self.cache, backend, result)
        cache.inc()

    def upstream_error(self, backend: str, kind: str) -> None:
        self.child(self.upstream_errors, backend, kind).inc()

    def response_finished(self, model: str, backend: str, status: str, seconds: float) -> None:
        p = self._pair(model, backend)
        responses = p.responses.get(status)
        if responses is None:
            responses = p.responses[status] = self.child(self.responses, p.model, backend, status)
        responses.inc()
        if p.duration is None:
            p.duration = self.child(self.duration, p.model, backend)
        p.duration.observe(seconds)

    def tool_call(self, tool_type: str, outcome: str) -> None:
        self.child(self.tool_calls, tool_type[:40], outcome[:20]).inc()

    def upstream_request(self, upstream: str, replica: str, outcome: str, seconds: float) -> None:
        self.child(self.up_requests, upstream, replica, outcome).inc()
        self.child(self.up_latency, upstream, replica).observe(seconds)

    def upstream_failover(self, upstream: str, replica: str) -> None:
        self.child(self.up_failovers, upstream, replica).inc()

    def upstream_state(self, upstream: str, replica: str, up: bool) -> None:
        self.child(self.up_state, upstream, replica).set(1 if up else 0)

    def key_usage(self, key: str, model: str, input_tokens: int, output_tokens: int, status: str) -> None:
        m = self.model(model)
        self.child(self.key_tokens, key, m, "input").inc(input_tokens)
        self.child(self.key_tokens, key, m, "output").inc(output_tokens)
        self.child(self.key_responses, key, m, status).inc()

    # -- exposition ----------------------------------------------------------------------------
    def render(self, queued: int, running: int, oldest: float) -> bytes:
        self.queue_depth.set(queued)
        self.running.set(running)
        self.oldest.set(oldest)
        if not self.multiproc_dir:
            return metric_values.exposition(self.registry)
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiproc_dir)  # type: ignore[no-untyped-call, unused-ignore]
        return bytes(generate_latest(merged))


def route_template(routes: list[BaseRoute], scope: MutableMapping[str, Any]) -> str:
    """The matched route's template, prefixed by its mount (`/dashboard/responses/{response_id}`).

    Starlette records the matched route in the scope; a request that never reached the router
    (refused by auth) is matched here against the app's own routes."""
    route = scope.get("route")
    if route is None:
        for candidate in routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    if isinstance(route, Mount) and "root_path" in scope:  # a mounted app (static files): its mount point
        return str(scope["root_path"]) or "/"
    return f"{scope.get('root_path', '')}{path}" or "/"


async def metrics_endpoint(request: Request) -> Response:
    metrics: PrometheusMetrics = request.app.state.metrics
    stats = await request.app.state.operations.queue()
    body = metrics.render(stats.queued, stats.running, stats.oldest_queued_age)
    from prometheus_client import CONTENT_TYPE_LATEST  # loaded by the render above

    return Response(body, media_type=CONTENT_TYPE_LATEST)
