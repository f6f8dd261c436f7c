"""The composition root: Settings -> adapters -> service -> app.  The only module that sees all.

Adapters are built only through their registries (`respond.backends` by name, `respond.store` by
URL scheme) and everything is handed over through constructors: nothing is patched onto an
object or an app after it is built.  The hosted tools are `HOSTED_TOOLS` plus the `respond.tools`
entry points; their wires make the server's one `Vocabulary` (item types, include values, ...),
which the engine passes to every parse and read.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import Mount

from respond import backends, tools
from respond import store as stores
from respond.api import containers as containers_api
from respond.api import files as files_api
from respond.api import vector_stores as vector_stores_api
from respond.api.app import create_app
from respond.api.auth import KeyRing
from respond.api.guard import GuardOptions
from respond.api.metrics import PrometheusMetrics
from respond.backends.upstream_http import UpstreamLimits
from respond.config import Settings
from respond.core.errors import BackendError
from respond.core.hosted import HostedKind, ToolServices
from respond.core.metrics import Metrics
from respond.core.netpolicy import NetworkPolicy
from respond.core.ports import HasDefaultModel, ModelBackend, WarmsUp
from respond.core.sessions import MemorySessions
from respond.engine.background.workers import RunManager
from respond.engine.read.queries import Operations
from respond.engine.record.sealing import Sealer, load_secret
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.prompts import PromptStore
from respond.engine.service import ModelRouter, ResponsesService
from respond.engine.tenants.tenancy import Tenancy
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.vocabulary import Vocabulary
from respond.store.availability import data_error, unavailable
from respond.store.journal import Journal
from respond.tools.code_interpreter import tool as code_interpreter
from respond.tools.code_interpreter.containers import Containers
from respond.tools.code_interpreter.sandbox import Limits, Sandbox
from respond.tools.file_search import tool as file_search_tool
from respond.tools.file_search.service import FileSearch
from respond.tools.file_search.source import StoredFiles
from respond.tools.mcp import tool as mcp
from respond.tools.web_search import tool as web_search
from respond.upstreams import build_upstreams, chat_defaults

if TYPE_CHECKING:
    from respond.backends.moderation import HTTPModerator

log = logging.getLogger("respond")
MiB = 1024 * 1024
# The built-in hosted tools (each its own package); installed packages add theirs by entry point.
HOSTED_TOOLS: tuple[HostedKind, ...] = (file_search_tool.KIND, mcp.KIND, web_search.KIND, code_interpreter.KIND)


def parse_models(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--model takes NAME=PATH.gguf, got '{pair}'.")
        out[name] = path
    return out


def backend_specs(settings: Settings) -> list[str]:
    """The backends to build: `--backend` specs, else the embedded one and/or the upstream."""
    if settings.backends:
        return list(settings.backends)
    return (["llamacpp"] if settings.embedded_enabled else []) + (["openai_compat"] if settings.upstream else [])


def backend_options(settings: Settings) -> dict[str, dict[str, Any]]:
    """What the configuration says to each built-in backend (a spec's own options override it)."""
    return {
        "llamacpp": {"models": parse_models(settings.models), "include_default": settings.embedded != "off",
                     "cache_dir": settings.cache_dir, "n_ctx": settings.n_ctx,
                     "max_output_tokens": settings.max_output_tokens},
        "openai_compat": {"base_url": settings.upstream, "api_key": settings.upstream_api_key,
                          **chat_defaults(settings), "limits": upstream_limits(settings)},
        # a /v1/responses upstream: its base_url (and api_key, profile, ...) come with its spec
        "openai_responses": {"limits": upstream_limits(settings)},
    }


def build_backends(settings: Settings, metrics: Metrics | None = None) -> tuple[list[ModelBackend], str | None]:
    """Backends in the order they are asked whether they serve a model (the configured upstreams
    first); and the default model."""
    defaults = backend_options(settings)
    chosen: list[ModelBackend] = list(build_upstreams(settings, upstream_limits(settings), metrics))
    for spec in backend_specs(settings):
        name, options = backends.parse_spec(spec)
        chosen.append(backends.create(name, **{**defaults.get(name, {}), **options}))
    named = (b.default_model for b in chosen if isinstance(b, HasDefaultModel))
    return chosen, settings.default_model or next((m for m in named if m), None)


async def warm_up(chosen: list[ModelBackend]) -> None:
    for backend in chosen:
        # the embedded model: assemble (first start) and load it now; an upstream: list its models,
        # start its health checks
        if isinstance(backend, WarmsUp):
            try:
                await backend.warmup()
            except BackendError as exc:
                log.error("cannot serve the embedded model: %s", exc.message)
                raise


def build_containers(settings: Settings, store: Any) -> Containers:
    """Containers (code_interpreter's files) and the sandbox its code runs in, probed now and logged."""
    limits = Limits(cpu_seconds=settings.code_cpu_seconds, wall_seconds=settings.code_wall_seconds,
                    memory_mb=settings.code_memory_mb, processes=settings.code_processes,
                    output_bytes=settings.code_output_kb * 1024, file_mb=settings.code_file_mb)
    sandbox = Sandbox(python=settings.code_python or sys.executable, limits=limits)
    if sandbox.probe():
        log.info("code_interpreter sandbox available: %s", sandbox.describe())
    else:
        log.warning("code_interpreter sandbox NOT available (%s): the code_interpreter tool is refused",
                    sandbox.reason)
    return Containers(store.containers, store.files, sandbox, max_file_bytes=int(settings.max_file_mb * 1024 * 1024),
                      max_kernels=settings.code_max_kernels, spares=min(1, settings.code_spare_kernels))


def web_options(settings: Settings) -> dict[str, Any]:
    """The web_search tool's options; its pages obey --web-allow, or else the --mcp-allow patterns."""
    network = NetworkPolicy(settings.web_allow or settings.mcp_allow, flag="--web-allow")
    return {"web_search_provider": settings.web_search_provider, "web_search_url": settings.web_search_url,
            "web_search_api_key": settings.web_search_api_key, "web_network": network,
            "web_search_timeout": settings.web_timeout, "web_max_page_bytes": settings.web_max_page_kb * 1024}


def upstream_limits(settings: Settings) -> UpstreamLimits:
    s = settings
    values = {"connect": s.upstream_connect_timeout, "first_byte": s.upstream_first_byte_timeout,
              "idle": s.upstream_idle_timeout, "total": s.upstream_timeout, "pool": s.upstream_pool,
              "pool_wait": s.upstream_pool_wait}
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"The upstream {name.replace('_', ' ')} limit must be positive, got {value:g}.")
    return UpstreamLimits(connect=s.upstream_connect_timeout, first_byte=s.upstream_first_byte_timeout,
                          idle=s.upstream_idle_timeout, total=s.upstream_timeout, pool=int(s.upstream_pool),
                          pool_wait=s.upstream_pool_wait)


def build_tenancy(settings: Settings, store: Any, metrics: PrometheusMetrics,
                  clock: Callable[[], float] | None) -> Tenancy | None:
    """Stored keys, their limits (counted in the database or Redis) and usage; None for a store
    without tenant tables (a third-party adapter)."""
    sql = getattr(store, "tenants", None)
    if sql is None:
        return None
    if settings.rate_store == "database":
        rates = sql
    elif settings.rate_store.startswith(("redis://", "rediss://", "unix://")):
        from respond.store.redis_rates import RedisRates  # (and redis) only for a Redis rate store

        rates = RedisRates(settings.rate_store)
    else:
        raise ValueError(f"--rate-store is 'database' or a redis:// URL, got {settings.rate_store!r}.")
    if settings.key_cache_seconds < 0:
        raise ValueError("--key-cache-seconds must be 0 or more.")
    return Tenancy(sql, rates, sql, clock=clock or time.time, cache_seconds=settings.key_cache_seconds,
                   metrics=metrics if settings.metrics_per_key == "on" else None)


class BuiltOnFirstUse:
    """An ASGI app built by its first request: the dashboard's modules (its pages, views, SVG charts,
    markupsafe; ~0.6 MB resident, bench/memory.py) stay out of a server whose dashboard is not opened."""

    def __init__(self, build: Callable[[], Starlette]) -> None:
        self._build = build
        self._app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = self._build()
        await self._app(scope, receive, send)


def build_app(settings: Settings, clock: Callable[[], float] | None = None) -> Starlette:
    """`clock` (tests move it; default the wall clock): what the limits of stored keys, responses'
    created_at/completed_at and files' and vector stores' times read.  Job leases and queue ages
    stay on the wall clock: they are shared with other processes."""
    clock = clock or time.time
    store = stores.create(settings.database)
    metrics = PrometheusMetrics(settings.metrics_multiproc_dir)
    chosen, default = build_backends(settings, metrics)
    tenancy = build_tenancy(settings, store, metrics, clock)
    # files, vector stores (file_search's knowledge base), and the hosted tools (respond.tools)
    file_search = FileSearch(store.files, store.vectors, max_file_bytes=int(settings.max_file_mb * 1024 * 1024),
                             clock=clock)
    containers = build_containers(settings, store)
    services = ToolServices(retriever=file_search.retriever, network=NetworkPolicy(settings.mcp_allow),
                            options={"mcp_timeout": settings.mcp_timeout, "containers": containers,
                                     **web_options(settings)})
    server_secret = load_secret(settings.secret_key, settings.key_file)
    if hasattr(store, "journal"):  # the SQL store: final writes wait in a local journal during an outage
        store.journal = Journal(settings.journal_dir, server_secret, settings.database)
    queued = asyncio.Event()  # set when a background job is queued here: wakes an idle worker
    moderator: HTTPModerator | None = None
    if settings.moderation_upstream:
        from respond.backends.moderation import HTTPModerator  # only with a moderation upstream

        moderator = HTTPModerator(settings.moderation_upstream, settings.moderation_api_key, upstream_limits(settings))
    if settings.prompts is not None and not settings.prompts.is_dir():
        raise ValueError(f"--prompts must be a folder of prompt files; {settings.prompts} is not one.")
    kinds = tools.kinds(HOSTED_TOOLS, tools.plugins())
    hosted = HostedTools(tools.build(kinds, services), Vocabulary(k.wire for k in kinds))
    # SQLite served by this process alone: nothing else deletes what it cached, or runs its jobs
    alone = store.dialect == "sqlite" and settings.processes == 1
    service = ResponsesService(store, ModelRouter(chosen, default, settings.repeat_guard, settings.aliases),
                               hosted=hosted, trust_cache=alone, on_queued=queued.set,
                               sealer=Sealer(server_secret),
                               prompts=PromptStore(settings.prompts), metrics=metrics, tenancy=tenancy, clock=clock,
                               moderator=moderator,
                               files=InputFiles(StoredFiles(
                                   store.files, NetworkPolicy(settings.fetch_allow, flag="--fetch-allow"),
                                   max_bytes=int(settings.max_file_mb * 1024 * 1024)),
                                   image_allow=NetworkPolicy(settings.image_url_allow, flag="--image-url-allow")))
    runs = RunManager(service, workers=settings.workers, single_process=alone, grace=settings.shutdown_grace, wake=queued)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await store.open()
        await warm_up(chosen)
        await runs.start()
        await file_search.start()
        await containers.start()
        log.info("storage ready (%s); models served by: %s; %d background workers (%s)", store.dialect,
                 ", ".join(b.name for b in chosen) or "nothing", settings.workers, service.worker_id)
        try:
            yield
        finally:
            await runs.stop()
            await file_search.close()
            await service.hosted.aclose()
            await containers.close()
            if moderator is not None:
                await moderator.close()
            for backend in chosen:
                await backend.close()
            if tenancy is not None:
                await tenancy.drain()  # the usage of the responses that just ended
                await tenancy.rates.close()
            await store.close()

    operations = Operations(store, runs, file_search, usage=getattr(store, "tenants", None),
                            keys=getattr(store, "tenants", None), upstreams=service.router.health)
    keys = KeyRing(settings.api_keys)
    admin = KeyRing([settings.admin_key] if settings.admin_key else [])
    sessions = getattr(store, "sessions", None) or MemorySessions()

    def board() -> Starlette:
        from respond.dashboard import create_dashboard
        from respond.dashboard.session import secret_for

        return create_dashboard(operations, keys, admin, secret_for(server_secret), sessions, stored=tenancy)

    guard: GuardOptions = {"max_body": int(settings.max_body_mb * MiB), "store_unavailable": unavailable,
                           "store_data_error": data_error,
                           "max_upload": int(settings.max_file_mb * MiB) + MiB}  # + the multipart framing
    return create_app(service, runs, keys, lifespan=lifespan, guard=guard,
                      extra_routes=files_api.routes(file_search) + vector_stores_api.routes(file_search)
                      + containers_api.routes(containers) + [Mount("/dashboard", app=BuiltOnFirstUse(board))],
                      metrics=metrics, operations=operations, tenancy=tenancy, admin_keys=admin,
                      metrics_keys=KeyRing([k for k in (settings.metrics_key, settings.admin_key) if k]))
