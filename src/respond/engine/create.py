"""The create use: `POST /responses` and a WebSocket's `response.create`, as a pipeline of stages.

    parse and validate    protocol.requests.parse_create, engine/intake/validate.py
    resolve references    engine/resolve/references.py   (prompt, item references, sealed items, history, files)
    build the context     engine/assemble/context.py      (messages, client tools, tool choice, format)
    plan tools and run    engine/execution/launch.py       (hosted tools bound, model primed, a `Run`)
    record                engine/record/recording.py    (what a continuation needs; generate:false)

Each stage is called from here, in order, and none calls back.  Everything is validated and the
model stream opened *before* any byte goes to the client, so a bad request or an upstream 4xx is
still an HTTP error; what fails later ends the response `failed`, stored so.  What was started is
one of `Running`, `Queued`, `Warmed` (engine/started.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from respond.core.hosted import ToolContext
from respond.core.ports import Store
from respond.engine.assemble.call_ids import check_outputs_answer_calls
from respond.engine.assemble.context import ContextBuilder
from respond.engine.background import queue
from respond.engine.background.jobs import SEALED_SECRETS, seal_secrets
from respond.engine.execution.generation import History
from respond.engine.execution.launch import Launcher
from respond.engine.execution.router import ModelRouter
from respond.engine.intake.request_options import RequestOptions
from respond.engine.intake.validate import model_for
from respond.engine.record.persistence import LEASE_MS, Record, row
from respond.engine.record.recorder import rows
from respond.engine.record.recording import Recording
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.conversations import conversation_id
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.local_state import LocalState
from respond.engine.resolve.references import References
from respond.engine.started import Queued, Running, Started, Warmed
from respond.engine.tenants.tenancy import Tenancy, reserve
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.requests import CreateResponse, parse_create
from respond.protocol.response import new_response


class Creator:
    def __init__(self, store: Store, router: ModelRouter, hosted: HostedTools, *, references: References,
                 context: ContextBuilder, recording: Recording, launcher: Launcher, files: InputFiles,
                 tenancy: Tenancy | None, sealer: Sealer, clock: Callable[[], float],
                 on_queued: Callable[[], None] | None, options: RequestOptions | None = None) -> None:
        self.store = store
        self.router = router
        self.hosted = hosted
        self.references = references
        self.context = context
        self.recording = recording
        self.launcher = launcher
        self.files = files
        self.tenancy = tenancy  # stored keys: allowed models, limits, usage (None: static keys only)
        self._sealer = sealer  # seals a queued run's hosted-tool secrets (engine/background/jobs.py opens them)
        self.clock = clock  # created_at (tests move it)
        self._on_queued = on_queued  # a background job was queued here (wakes an idle worker)
        self.options = options or RequestOptions(store)  # issue 19's options (engine/intake/request_options.py)

    async def create(self, body: Any, owner: str, local: LocalState | None = None, generate: bool = True
                     ) -> Started:
        """Validate and start a response.  `local`: a WebSocket's connection state; `generate=False`
        (WebSocket only) prepares the response's context without calling the model."""
        req = parse_create(body, self.hosted.vocabulary)
        self.options.check(req)
        model = await model_for(req, owner, self.router, self.tenancy)  # an alias: the model it names
        req, new_items = await self.references.inputs(req, owner)
        history = await self.references.history(req, owner, local)
        if not new_items and not history.items:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        check_outputs_answer_calls(history.items, new_items)
        response = new_response(req, response_id=new_id("resp"), created_at=int(self.clock()), model=model,
                                status="queued" if req.background and generate else "in_progress",
                                conversation_id=conversation_id(req))
        response["tools"] = self.hosted.echo(response["tools"])
        record = Record(response, owner, new_items, conversation_id(req))
        if not generate:
            self.context.prepare(req, model, history, new_items)  # validates tools, formats, ...
            await self.recording.warm(req, record, history, local)
            return Warmed(req, response)
        if self.tenancy is None or not self.tenancy.is_key_owner(owner):  # no stored key: no limits to count
            return await self._start(body, req, model, record, history, local)
        # the key's limits count this response (its id names the lease) until it is settled
        await self.tenancy.admit(owner, model, reserve(req.max_output_tokens, new_items), response["id"])
        try:
            return await self._start(body, req, model, record, history, local)
        except BaseException:
            await self.tenancy.abandon(owner, response["id"])
            raise

    async def _start(self, body: Any, req: CreateResponse, model: str, record: Record, history: History,
                     local: LocalState | None) -> Running | Queued:
        if req.background:
            await self._queue(body, req, model, record, history)
            return Queued(req, record.response)
        run = await self.launcher.launch(req, model, record, history, local=local)
        return Running(run, req, record.response)

    async def _queue(self, body: Any, req: CreateResponse, model: str, record: Record, history: History) -> None:
        """Store the response `queued` for a worker, once everything the foreground checks before the
        model is asked has been checked: a bad request is a 400 now, not a failed run later."""
        response, owner, new_items = record.response, record.owner, record.input_items
        secrets = self.hosted.secrets(req.tools)
        if secrets:  # stored with the job only sealed (whoever claims it opens them), never in clear
            body = {**body, "tools": self.hosted.echo(body["tools"]),
                    SEALED_SECRETS: seal_secrets(self._sealer, secrets, response["id"], owner)}
        await self.files.for_context(new_items, owner, self.router.resolve(model), strict=True)
        gen = self.context.prepare(req, model, history, new_items).gen
        await self.options.prepare(req, gen, record)  # images a 400 now (the run compresses them again)
        await self.hosted.check(req.tools, gen, ToolContext(
            owner, frozenset(req.include or []), req.tool_choice, history.items, new_items, secrets),
            req.max_tool_calls)
        await self.store.enqueue_response(row(response), owner, new_items, request=body, lease_ms=LEASE_MS,
                                          order=queue.job_order(req.background_options, self.clock()),
                                          events=rows(queue.queued_events(response)))
        if self._on_queued is not None:
            self._on_queued()
