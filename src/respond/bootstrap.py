"""The composition root: Settings -> adapters -> service -> app.  The only module that sees all."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from respond import backends
from respond.api import files as files_api
from respond.api import vector_stores as vector_stores_api
from respond.api.app import create_app
from respond.api.auth import KeyRing
from respond.config import Settings
from respond.core.errors import BackendError
from respond.core.outbound import OutboundPolicy
from respond.core.ports import ModelBackend
from respond.engine.hosted import HostedTools
from respond.engine.inputs import Inputs
from respond.engine.service import ModelRouter, ResponsesService
from respond.engine.workers import RunManager
from respond.store.sql import SqlStore
from respond.tools.file_search.service import FileSearch
from respond.tools.file_search.source import StoredFiles

log = logging.getLogger("respond")


def parse_models(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--model takes NAME=PATH.gguf, got '{pair}'.")
        out[name] = path
    return out


def build_backends(settings: Settings) -> tuple[list[ModelBackend], str | None]:
    """Backends in the order they are asked whether they serve a model; and the default model."""
    chosen: list[ModelBackend] = []
    default = settings.default_model
    if settings.embedded_enabled:
        embedded = backends.create("llamacpp", models=parse_models(settings.models),
                                   include_default=settings.embedded != "off", cache_dir=settings.cache_dir,
                                   n_ctx=settings.n_ctx)
        chosen.append(embedded)
        default = default or getattr(embedded, "default_model", None)
    if settings.upstream:
        chosen.append(backends.create("openai_compat", base_url=settings.upstream,
                                      api_key=settings.upstream_api_key, file_parts=settings.upstream_file_parts))
    return chosen, default


def build_app(settings: Settings) -> Starlette:
    store = SqlStore(settings.database)
    chosen, default = build_backends(settings)
    service = ResponsesService(store, ModelRouter(chosen, default), trust_cache=store.dialect == "sqlite")
    # files, vector stores, the hosted file_search tool
    file_search = FileSearch(store.engine, max_file_bytes=int(settings.max_file_mb * 1024 * 1024))
    service.hosted = HostedTools(file_search.retriever)
    service.inputs = Inputs(StoredFiles(file_search.files, OutboundPolicy(settings.fetch_allow),
                                        max_bytes=int(settings.max_file_mb * 1024 * 1024)))
    runs = RunManager(service, workers=settings.workers, single_process=store.dialect == "sqlite",
                      grace=settings.shutdown_grace)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await store.open()
        for backend in chosen:
            warmup = getattr(backend, "warmup", None)
            if warmup is not None:  # the embedded model: assemble (first start) and load it now
                try:
                    await warmup()
                except BackendError as exc:
                    log.error("cannot serve the embedded model: %s", exc.message)
                    raise
        await runs.start()
        await file_search.start()
        log.info("storage ready (%s); models served by: %s; %d background workers (%s)", store.dialect,
                 ", ".join(b.name for b in chosen) or "nothing", settings.workers, service.worker_id)
        try:
            yield
        finally:
            await runs.stop()
            await file_search.close()
            for backend in chosen:
                await backend.close()
            await store.close()

    app = create_app(service, runs, KeyRing(settings.api_keys), lifespan=lifespan,
                     extra_routes=files_api.ROUTES + vector_stores_api.ROUTES)
    app.state.file_search = file_search
    return app
