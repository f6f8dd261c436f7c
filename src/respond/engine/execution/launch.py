"""Stage "plan the tools and run" of a create: a resolved request -> a `Run` (engine/execution/run.py).

`Launcher.launch` resolves the backend, reads the new items' files for it, builds this turn's
generation (engine/assemble/context.py) with the request options applied around it (engine/intake/request_options.py:
images, moderation, prompt-cache diagnostics), binds the hosted tools (the plan: `HostedTools.prepare`), wraps the
model's turns in the repeat guard, the hosted loop and metering, primes the first delta (foreground:
a request the backend refuses is still an HTTP error) and picks how the run is stored
(engine/record/persistence.py).  It returns the `Run`; whoever consumes its events drives it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from respond.core.errors import BackendError
from respond.core.hosted import ToolContext
from respond.core.metrics import Metrics
from respond.core.ports import Store
from respond.engine.assemble import compaction
from respond.engine.assemble.context import ContextBuilder
from respond.engine.assemble.reasoning import ReasoningStream
from respond.engine.execution.generation import History
from respond.engine.execution.metered import Metered, finished
from respond.engine.execution.priming import prime
from respond.engine.execution.router import ModelRouter
from respond.engine.execution.run import Run
from respond.engine.intake.request_options import RequestOptions
from respond.engine.record.hub import Hub
from respond.engine.record.persistence import Persistence, Record, RunMode, persistence
from respond.engine.record.recording import Recording
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.local_state import Connection, LocalState
from respond.engine.stream.events import EventBuilder
from respond.engine.tenants.tenancy import Tenancy
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes import JSONObject, ResponseDict

HEADERS_WAIT = 0.25  # seconds a stream waits for the backend's first delta before sending its headers


class Launcher:
    def __init__(self, store: Store, router: ModelRouter, hosted: HostedTools, hub: Hub, *, files: InputFiles,
                 context: ContextBuilder, recording: Recording, metrics: Metrics, tenancy: Tenancy | None,
                 sealer: Sealer | None, worker_id: str, clock: Callable[[], float],
                 options: RequestOptions | None = None) -> None:
        self.store = store
        self.router = router
        self.hosted = hosted
        self.hub = hub
        self.files = files
        self.context = context
        self.recording = recording
        self.metrics = metrics
        self.tenancy = tenancy
        self.sealer = sealer  # reasoning.encrypted_content (None: an include of it seals nothing)
        self.worker_id = worker_id
        self.clock = clock
        self.options = options or RequestOptions(store)  # images, moderation, prompt cache diagnostics

    async def launch(self, req: CreateResponse, model: str, record: Record, history: History, *,
                     background: bool = False, local: LocalState | None = None,
                     secrets: dict[str, JSONObject] | None = None) -> Run:
        """`secrets`: what the hosted tools dropped from a queued run's tools[] (opened from its job)."""
        backend = self.router.resolve(model)
        # The model reads copies in which file and image parts are resolved for this backend.
        ctx_new = await self.files.for_context(record.input_items, record.owner, backend, strict=not background)
        if history.messages is None:
            history = History(await self.files.for_context(history.items, record.owner, backend))
        prepared = self.context.prepare(req, model, history, ctx_new)
        wrap = await self.options.prepare(req, prepared.gen, record)
        include: set[str] = set(req.include or [])
        ctx = ToolContext(record.owner, frozenset(include), req.tool_choice, history.items, record.input_items,
                          secrets or {})
        hosted = await self.hosted.prepare(prepared.hosted_tools, prepared.gen, ctx, req.max_tool_calls)
        turns = self.router.turns(backend, lambda: self.hosted.answered(ctx.history, ctx.new_items))  # the repeat guard

        def model_turns() -> AsyncIterator[Any]:
            return hosted.run(turns) if hosted is not None else turns.generate(prepared.gen)

        limit = compaction.threshold(req.context_management)  # past it, the context is compacted first
        deltas = model_turns() if limit is None else compaction.Compactor(
            backend, prepared.gen, limit, self.context.seal_compaction(record.owner),
            instructions=bool(req.instructions)).run(model_turns)
        deltas = Metered(wrap(deltas), self.metrics, model, backend.name)
        started = time.perf_counter()
        # Foreground: prime, so a request the backend refuses is still an HTTP error; a stream waits
        # for the backend only HEADERS_WAIT seconds, then its headers and first events go out anyway.
        first = None if background else await prime(deltas, HEADERS_WAIT if req.stream else None)
        mode = RunMode.of(store=req.store is not False, stream=bool(req.stream), background=background)
        remember = self.recording.remember
        store: Persistence
        if mode is RunMode.EPHEMERAL and local is not None:
            # An unstored response is remembered only by the WebSocket that made it.
            store = Connection(self.store, self.hub, record,
                               on_stored=lambda r: remember(r, record, history, local, ctx_new))
        else:
            store = persistence(mode, self.store, self.hub, record, worker=self.worker_id,
                                on_stored=lambda r: remember(r, record, history, new_items=ctx_new))
        await store.begin()
        # Events are copied only for a watched run (streamed, background): a drained one is only read at its end;
        # and a watched run's events are only ever serialized (SSE, WebSocket, the store): their copies are JSON.
        watched = bool(req.stream) or background
        builder = EventBuilder(record.response, want_logprobs="message.output_text.logprobs" in include or
                               bool(req.top_logprobs), copies=watched, as_json=watched, include=include,
                               reasoning=self._reasoning(req, record.owner), tools=prepared.tools,
                               vocabulary=self.hosted.vocabulary)

        def ended(response: ResponseDict) -> None:  # metering and the key's usage, once, stored or not
            finished(response, self.metrics, backend.name, started)
            if self.tenancy is not None:
                self.tenancy.finished(response, record.owner, backend.name, time.perf_counter() - started)

        return Run(record, deltas, first, builder, store, on_end=ended, clock=self.clock)

    def failing(self, record: Record, exc: BackendError) -> Run:
        """A queued run that cannot start (its history or its credentials are gone): it ends `failed`."""
        async def nothing() -> Any:
            return
            yield  # pragma: no cover

        store = persistence(RunMode.BACKGROUND, self.store, self.hub, record)
        return Run(record, nothing(), exc, EventBuilder(record.response), store, clock=self.clock)

    def _reasoning(self, req: CreateResponse, owner: str) -> ReasoningStream:
        options = req.reasoning or {}
        sealer = self.sealer if "reasoning.encrypted_content" in (req.include or []) else None
        return ReasoningStream(summary=bool(options.get("summary") or options.get("generate_summary")),
                               seal=(lambda payload: sealer.seal(payload, owner)) if sealer is not None else None)
