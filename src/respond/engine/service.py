"""The use cases of a response: create (foreground, background, WebSocket), count input tokens, compact;
the read side (retrieve, delete, list input items) is `ReadSide` (engine/reads.py).

`ResponsesService` sees only the ports.  `create` validates everything and opens the model
stream *before* any byte goes to the client, so a bad request or an upstream 4xx is still an
HTTP error; what fails later ends the response `failed`, stored so.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from respond.core.errors import BackendError
from respond.core.hosted import ToolContext
from respond.core.metrics import Metrics, NullMetrics
from respond.core.ports import Store, TokenCounter
from respond.core.types import Finish, Generation
from respond.engine import compaction, queue
from respond.engine.call_ids import check_outputs_answer_calls
from respond.engine.context_cache import ContextCache
from respond.engine.conversations import conversation_id
from respond.engine.errors import backend_to_api
from respond.engine.events import EventBuilder
from respond.engine.generation import (
    History,
    Prepared,
    build_generation,
    compaction_messages,
    items_to_messages,
    prepare,
)
from respond.engine.hosted import HostedTools
from respond.engine.hub import Hub
from respond.engine.input_files import InputFiles
from respond.engine.inputs import apply_prompt, open_reasoning
from respond.engine.local_state import Connection, LocalState
from respond.engine.metered import finished, metered
from respond.engine.persistence import LEASE_MS, Persistence, Record, RunMode, persistence
from respond.engine.priming import prime
from respond.engine.prompts import PromptStore
from respond.engine.reads import ReadSide
from respond.engine.reasoning import ReasoningStream
from respond.engine.router import ModelRouter as ModelRouter  # where bootstrap and tests import it from
from respond.engine.run import Run
from respond.engine.sealing import Sealer
from respond.engine.tenancy import Tenancy, reserve
from respond.protocol.bodies import parse_compact, parse_input_tokens
from respond.protocol.errors import APIError, invalid, not_found
from respond.protocol.ids import new_id
from respond.protocol.items import normalize_input
from respond.protocol.lifecycle import transition
from respond.protocol.requests import CreateResponse, parse_create
from respond.protocol.response import new_response, usage_object

log = logging.getLogger("respond.service")
# A queued job's MCP headers/authorization: sealed (engine/sealing.py) in this key of its stored request.
SEALED_SECRETS, SECRETS_PURPOSE = "_respond_sealed_secrets", "mcp_secrets"
HEADERS_WAIT = 0.25  # seconds a stream waits for the backend's first delta before sending its headers


class ResponsesService(ReadSide):
    def __init__(self, store: Store, router: ModelRouter, *, hosted: HostedTools | None = None,
                 worker_id: str | None = None, trust_cache: bool = False,
                 on_queued: Callable[[], None] | None = None, sealer: Sealer | None = None,
                 prompts: PromptStore | None = None, metrics: Metrics | None = None,
                 files: InputFiles | None = None, tenancy: Tenancy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock  # created_at, completed_at (tests move it)
        self.tenancy = tenancy  # stored keys: allowed models, limits, usage (None: static keys only)
        self.metrics: Metrics = metrics or NullMetrics()
        self.router = router
        self.hosted = hosted or HostedTools()  # server-run tools; bootstrap gives them (respond.tools)
        # hosted tools' secrets (MCP headers) of the background run starting here, opened from its job
        self.secrets: dict[str, dict[str, Any]] = {}  # (stored sealed: SEALED_SECRETS); given once
        self.hub = Hub()
        self.contexts = ContextCache()
        self.trust_cache = trust_cache  # no other process can delete what this one cached (SQLite)
        self.worker_id = worker_id or new_id("worker")[:32]
        self._on_queued = on_queued  # a background job was queued here (wakes an idle worker)
        self.sealer = sealer  # reasoning.encrypted_content (None: an include of it seals nothing)
        self._sealer = sealer or Sealer(secrets.token_bytes(32))  # compaction items, MCP secrets of queued runs
        self.prompts = prompts or PromptStore(None)  # `prompt` templates (--prompts)
        self.files = files or InputFiles(None)  # files named by input parts (a FileSource resolves them)

    # -- create ----------------------------------------------------------------------------------
    def _check(self, req: CreateResponse) -> str:
        if req.background and req.store is False:
            raise invalid("Background mode requires 'store' to be true.", "background", "invalid_value")
        if req.previous_response_id and req.conversation:
            raise invalid("'previous_response_id' cannot be used together with 'conversation'.",
                          "previous_response_id", "invalid_value")
        if req.stream_options is not None and not req.stream:
            raise invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options",
                          "invalid_value")
        model = req.model or self.router.default_model
        if not model:
            raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
        return model

    async def _resolve_references(self, items: list[dict[str, Any]], owner: str) -> list[dict[str, Any]]:
        refs = [it["id"] for it in items if it.get("type") == "item_reference"]
        if not refs:
            return items
        found = await self.store.get_items(refs, owner)
        out = []
        for i, it in enumerate(items):
            if it.get("type") == "item_reference":
                if it["id"] not in found:
                    raise not_found("Item", it["id"], f"input[{i}].id")
                out.append(found[it["id"]])
            else:
                out.append(it)
        return out

    async def _inputs(self, req: CreateResponse, owner: str) -> tuple[CreateResponse, list[dict[str, Any]]]:
        """The request with its prompt template applied, and its new input items (the template's
        first, references resolved, sealed reasoning opened)."""
        if req.client_metadata:
            log.info("client_metadata (not sent upstream): %s", req.client_metadata)
        req, prompt_items = apply_prompt(req, self.prompts)
        items = await self._resolve_references(normalize_input(req.input), owner)
        return req, prompt_items + open_reasoning(items, self._sealer, owner)

    async def create(self, body: Any, owner: str, local: LocalState | None = None, generate: bool = True
                     ) -> tuple[Run | None, CreateResponse, dict[str, Any]]:
        """Validate and start a response.

        Returns (run, request, response): `run` is None for a background response, which is
        stored `queued` for a worker; otherwise the caller drains or streams `run.events()`.
        `local`: a WebSocket's connection state; `generate=False` (WebSocket only) prepares the
        response's context without calling the model (the response is returned, `completed`).
        """
        req = parse_create(body)
        model = await self._model(owner, self._check(req))  # an alias: the model it names
        req, new_items = await self._inputs(req, owner)
        history = await self._history(req, owner, local)
        if not new_items and not history.items:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        check_outputs_answer_calls(history.items, new_items)
        response = new_response(req, response_id=new_id("resp"), created_at=int(self.clock()), model=model,
                                status="queued" if req.background and generate else "in_progress",
                                conversation_id=conversation_id(req))
        response["tools"] = self.hosted.echo(response["tools"])
        record = Record(response, owner, new_items, conversation_id(req))
        if not generate:
            self._generation(req, model, history, new_items)  # validates tools, formats, ...
            await self._prepare_only(req, record, history, local)
            return None, req, response
        if self.tenancy is None:
            return await self._start(body, req, model, record, history, local)
        # the key's limits count this response (its id names the lease) until it is settled
        await self.tenancy.admit(owner, model, reserve(req.max_output_tokens, new_items), response["id"])
        try:
            return await self._start(body, req, model, record, history, local)
        except BaseException:
            await self.tenancy.abandon(owner, response["id"])
            raise

    async def _start(self, body: Any, req: CreateResponse, model: str, record: Record, history: History,
                     local: LocalState | None) -> tuple[Run | None, CreateResponse, dict[str, Any]]:
        response, owner, new_items = record.response, record.owner, record.input_items
        if req.background:
            secrets = self.hosted.secrets(req.tools)
            if secrets:  # stored with the job only sealed (whoever claims it opens them), never in clear
                body = {**body, "tools": self.hosted.echo(body["tools"]), SEALED_SECRETS: self._sealer.seal(
                    {"secrets": secrets, "response": response["id"]}, owner, SECRETS_PURPOSE)}
            # Files named by the input are checked now: a bad one is a 400, not a failed run later.
            await self.files.for_context(new_items, owner, self.router.resolve(model), strict=True)
            # Everything the foreground checks before the model is asked, checked before queueing.
            gen = self._generation(req, model, history, new_items)
            await self.hosted.prepare(req.tools, gen, ToolContext(
                owner, frozenset(req.include or []), req.tool_choice, history.items, new_items, secrets),
                req.max_tool_calls)
            await self.store.enqueue_response(response, owner, new_items, request=body, lease_ms=LEASE_MS,
                                              order=queue.job_order(req.background_options, self.clock()),
                                              events=queue.queued_events(response))
            if self._on_queued is not None:
                self._on_queued()
            return None, req, response
        run = await self._run(req, model, record, history, local=local)
        return run, req, response

    async def _model(self, owner: str, requested: str) -> str:
        """The model that serves `requested` (an alias resolved).  A stored key that may use neither the
        name nor the model it names gets the answer for a model not served at all: a 404 naming only
        models it may use, so a key learns nothing of the others."""
        allowed = await self.tenancy.model_filter(owner) if self.tenancy is not None else None
        if allowed is None:
            return await self.router.route(requested)

        def visible(name: str) -> bool:
            return allowed(name) or allowed(self.router.canonical(name))

        if not visible(requested):
            raise self.router.unknown(requested, visible)
        return await self.router.route(requested, visible)

    async def _prepare_only(self, req: CreateResponse, record: Record, history: History,
                            local: LocalState | None) -> None:
        transition(record.response, "completed", completed_at=int(self.clock()), usage=usage_object(0, 0))
        if req.store is not False:
            r = record
            await self.store.insert_response(r.response, r.owner, r.input_items, [],
                                             conversation_id=r.conversation_id)
            self._remember(r.response, record, history)
        elif local is not None:
            self._remember(record.response, record, history, local)

    async def _history(self, req: CreateResponse, owner: str, local: LocalState | None = None) -> History:
        conv_id = conversation_id(req)
        if conv_id is not None:
            if await self.store.get_conversation(conv_id, owner) is None:
                raise APIError(404, f"Conversation with id '{conv_id}' not found.", param="conversation",
                               code="conversation_not_found")
            items, _ = await self.store.conversation_items(conv_id)
            return History(items)
        if not req.previous_response_id:
            return History()
        kept = local.get(req.previous_response_id) if local is not None else None
        if kept is not None:
            return History(*kept)
        prev = req.previous_response_id
        cached = self.contexts.get(prev, owner)
        if cached is not None and await self._still_valid(prev, owner, cached[2]):
            return History(*cached)
        # Read before the items: a deletion after this read moves it and drops the entry.
        epoch = None if self.trust_cache else await self.store.deletion_epoch()
        found = await self.store.load_context(prev, owner)
        if found is None:
            raise APIError(404, f"Previous response with id '{prev}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        backend = self.router.resolve(req.model or self.router.default_model or "")
        found = await self.files.for_context(found, owner, backend)
        messages = items_to_messages(found, hosted=self._item_context)
        self.contexts.put(prev, owner, found, messages, epoch)
        return History(found, messages, epoch)

    async def _still_valid(self, response_id: str, owner: str, epoch: int | None) -> bool:
        """A cached context is valid while no response was deleted since it was read (any process
        may have deleted an ancestor); one made without an epoch is a chain of one response."""
        if self.trust_cache:
            return True
        if epoch is None:
            return await self.store.response_exists(response_id, owner)
        return await self.store.deletion_epoch() == epoch

    async def _run(self, req: CreateResponse, model: str, record: Record, history: History,
                   background: bool = False, local: LocalState | None = None) -> Run:
        backend = self.router.resolve(model)
        # The model reads copies in which file and image parts are resolved for this backend.
        ctx_new = await self.files.for_context(record.input_items, record.owner, backend, strict=not background)
        if history.messages is None:
            history = History(await self.files.for_context(history.items, record.owner, backend))
        prepared = self._prepared(req, model, history, ctx_new)
        gen = prepared.gen
        include: set[str] = set(req.include or [])
        ctx = ToolContext(record.owner, frozenset(include), req.tool_choice, history.items, record.input_items,
                          self.secrets.pop(record.response["id"], {}))
        hosted = await self.hosted.prepare(prepared.hosted_tools, gen, ctx, req.max_tool_calls)
        turns = self.router.turns(backend, self.hosted.answered(ctx.history, ctx.new_items))  # the repeat guard
        deltas = hosted.run(turns) if hosted is not None else turns.generate(gen)
        deltas = metered(deltas, self.metrics, model, backend.name)
        started = time.perf_counter()
        # Foreground: prime, so a request the backend refuses is still an HTTP error; a stream waits
        # for the backend only HEADERS_WAIT seconds, then its headers and first events go out anyway.
        first = None if background else await prime(deltas, HEADERS_WAIT if req.stream else None)
        mode = RunMode.of(store=req.store is not False, stream=bool(req.stream), background=background)
        store: Persistence
        if mode is RunMode.EPHEMERAL and local is not None:
            # An unstored response is remembered only by the WebSocket that made it.
            store = Connection(self.store, self.hub, record,
                               on_stored=lambda r: self._remember(r, record, history, local, ctx_new))
        else:
            store = persistence(mode, self.store, self.hub, record, worker=self.worker_id,
                                on_stored=lambda r: self._remember(r, record, history, new_items=ctx_new))
        await store.begin()
        # Events are copied only for a watched run (streamed, background): a drained one is only read at its end.
        builder = EventBuilder(record.response, want_logprobs="message.output_text.logprobs" in include or
                               bool(req.top_logprobs), copies=bool(req.stream) or background, include=include,
                               reasoning=self._reasoning(req, record.owner), tools=prepared.tools)
        return Run(record, deltas, first, builder, store, on_end=lambda r: self._ended(r, record.owner, backend.name,
                                                                                      started), clock=self.clock)

    def _ended(self, response: dict[str, Any], owner: str, backend: str, started: float) -> None:
        finished(response, self.metrics, backend, started)
        if self.tenancy is not None:
            self.tenancy.finished(response, owner, backend, time.perf_counter() - started)

    def _generation(self, req: CreateResponse, model: str, history: History,
                    new_items: list[dict[str, Any]]) -> Generation:
        return build_generation(req, model, history, new_items, self.hosted.types, self._item_context)

    def _prepared(self, req: CreateResponse, model: str, history: History,
                  new_items: list[dict[str, Any]]) -> Prepared:
        return prepare(req, model, history, new_items, self.hosted.types, self._item_context)

    def _reasoning(self, req: CreateResponse, owner: str) -> ReasoningStream:
        options = req.reasoning or {}
        sealer = self.sealer if "reasoning.encrypted_content" in (req.include or []) else None
        return ReasoningStream(summary=bool(options.get("summary") or options.get("generate_summary")),
                               seal=(lambda payload: sealer.seal(payload, owner)) if sealer is not None else None)

    def _remember(self, response: dict[str, Any], record: Record, history: History,
                  local: LocalState | None = None, new_items: list[dict[str, Any]] | None = None) -> None:
        """Cache the context a continuation of this response will need (in `local`, a WebSocket's
        state, for an unstored one: only when it produced its output); `new_items`: the input as the
        model read it (files resolved), when it differs from what is stored."""
        if local is not None and response["status"] not in ("completed", "incomplete"):
            return
        read = record.input_items if new_items is None else new_items
        prefix, added = history.messages, read + response["output"]
        if prefix is None:
            prefix, added = [], history.items + added
        items = history.items + read + response["output"]
        messages = items_to_messages(added, prefix=prefix, hosted=self._item_context)
        if local is not None:
            local.put(response["id"], items, messages)
        elif not (response.get("previous_response_id") and history.epoch is None and not self.trust_cache):
            # (a chain's history always carries its epoch: never cache what could not be confirmed)
            self.contexts.put(response["id"], record.owner, items, messages, history.epoch)

    async def run_job(self, job: dict[str, Any]) -> Run | None:
        """The Run of a claimed background job; None when it is gone (deleted meanwhile)."""
        rid, owner = job["response_id"], job["owner"]
        response = await self.store.get_response(rid, owner)
        if response is None:
            await self.store.finish_job(rid)
            return None
        request = dict(job["request"] or {})
        sealed = request.pop(SEALED_SECRETS, None)
        req, _ = apply_prompt(parse_create(request), self.prompts)  # its items are stored already
        new_items = await self.store.list_input_items(rid, owner, after=None, limit=1_000_000, order="asc")
        record = Record(response, owner, new_items[0] if new_items else [], conversation_id(req))
        try:
            history = await self._history(req, owner)
        except APIError as exc:
            # the previous response was deleted while this one waited
            return self._run_failing(record, BackendError(exc.message))
        if sealed is not None:
            opened = self._sealer.open(sealed, owner, SECRETS_PURPOSE)
            if opened is None or opened.get("response") != rid:
                return self._run_failing(record, BackendError(
                    "The MCP credentials of this queued run could not be opened by this server: every replica "
                    "must share --secret-key. Retry the request."))
            self.secrets[rid] = opened.get("secrets") or {}
        return await self._run(req, response["model"], record, history, background=True)

    def _run_failing(self, record: Record, exc: BackendError) -> Run:
        async def nothing() -> Any:
            return
            yield  # pragma: no cover

        store = persistence(RunMode.BACKGROUND, self.store, self.hub, record)
        return Run(record, nothing(), exc, EventBuilder(record.response), store, clock=self.clock)

    async def count_input_tokens(self, body: Any, owner: str) -> dict[str, Any]:
        """`POST /responses/input_tokens`: exact with a backend that counts (the embedded one); for an
        upstream, the prompt tokens it reports for a one-token generation of the same request."""
        req = parse_input_tokens(body)
        model = await self._model(owner, self._check(req))
        req, new_items = await self._inputs(req, owner)
        backend = self.router.resolve(model)
        new_items = await self.files.for_context(new_items, owner, backend, strict=True)
        gen = self._generation(req, model, await self._history(req, owner), new_items)
        if isinstance(backend, TokenCounter):
            return {"object": "response.input_tokens", "input_tokens": await backend.count_tokens(gen)}
        gen.max_output_tokens = 1
        tokens = 0
        try:
            async for delta in backend.generate(gen):
                if isinstance(delta, Finish) and delta.usage is not None:
                    tokens = delta.usage.input_tokens
        except BackendError as exc:
            raise backend_to_api(exc) from None
        return {"object": "response.input_tokens", "input_tokens": tokens}

    async def compact(self, body: Any, owner: str) -> dict[str, Any]:
        req = parse_compact(body)
        model = await self._model(owner, self._check(req))
        req, new_items = await self._inputs(req, owner)
        history = await self._history(req, owner)
        if not new_items and not history.items:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        backend = self.router.resolve(model)
        gen = self._generation(req, model, history, await self.files.for_context(new_items, owner, backend))
        summary, usage = await compaction.summarize(backend, gen)
        return compaction.compacted(history.items + new_items, summary, usage,
                                    lambda payload: self._sealer.seal(payload, owner, compaction.PURPOSE))

    def _item_context(self, item: dict[str, Any]) -> list[dict[str, Any]] | None:
        """A stored or new item -> its messages: compaction items opened with the server's key (they
        were verified for their owner when they came in), hosted tools' items by their tool."""
        if item.get("type") == "compaction":
            return compaction_messages(compaction.open_summary(self._sealer, item.get("encrypted_content"), None))
        return self.hosted.messages(item)
