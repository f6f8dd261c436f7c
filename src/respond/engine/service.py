"""`ResponsesService`: the uses of a response, composed from their stages (the one object the HTTP
layer, the WebSocket and the workers hold).

| use                                   | module               |
|---------------------------------------|----------------------|
| create (foreground, background, WebSocket, generate:false) -> `Started` | engine/create.py |
| run a claimed background job          | engine/background/jobs.py       |
| count input tokens, compact           | engine/read/derived.py    |
| retrieve, delete, list input items    | engine/read/reads.py      |

The stages of a create (engine/intake/validate.py, references.py, context.py, launch.py, recording.py) are
built here once, from the ports, and shared by the uses; none of them calls back into this class.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from respond.core.metrics import Metrics, NullMetrics
from respond.core.ports import ClaimedJob, Moderator, Store
from respond.engine.assemble.context import ContextBuilder
from respond.engine.background.jobs import Jobs
from respond.engine.create import Creator
from respond.engine.execution.launch import Launcher
from respond.engine.execution.router import (
    ModelRouter as ModelRouter,  # where bootstrap and tests import it from
)
from respond.engine.execution.run import Run
from respond.engine.intake.request_options import RequestOptions
from respond.engine.read.derived import Derived
from respond.engine.read.reads import Reads
from respond.engine.record.hub import Hub
from respond.engine.record.recording import Recording
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.context_cache import ContextCache
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.local_state import LocalState
from respond.engine.resolve.prompts import PromptStore
from respond.engine.resolve.references import References
from respond.engine.started import Started
from respond.engine.tenants.tenancy import Tenancy
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.bodies import CompactResponse, CountInputTokens
from respond.protocol.ids import token_id
from respond.protocol.shapes import CompactedDict, Deleted, InputTokensCount, ListPage, ResponseDict
from respond.protocol.vocabulary import Item


class ResponsesService:
    def __init__(self, store: Store, router: ModelRouter, *, hosted: HostedTools | None = None,
                 worker_id: str | None = None, trust_cache: bool = False,
                 on_queued: Callable[[], None] | None = None, sealer: Sealer | None = None,
                 prompts: PromptStore | None = None, metrics: Metrics | None = None,
                 files: InputFiles | None = None, tenancy: Tenancy | None = None,
                 clock: Callable[[], float] = time.time, moderator: Moderator | None = None) -> None:
        self.store = store
        self.router = router
        self.tenancy = tenancy  # stored keys: allowed models, limits, usage (None: static keys only)
        self.hosted = hosted or HostedTools()  # server-run tools; bootstrap gives them (respond.tools)
        self.vocabulary = self.hosted.vocabulary  # item types, include values: the core's and the tools'
        self.hub = Hub()
        self.contexts = ContextCache()
        self.worker_id = worker_id or token_id("worker", 25)
        self.sealer = sealer  # reasoning.encrypted_content (None: an include of it seals nothing)
        own = sealer or Sealer(secrets.token_bytes(32))  # compaction items, hosted-tool secrets of queued runs
        prompts = prompts or PromptStore(None)  # `prompt` templates (--prompts)
        files = files or InputFiles(None)  # files named by input parts (a FileSource resolves them)
        self.context = ContextBuilder(self.hosted, own)
        options = RequestOptions(store, moderator)  # images, moderation, prompt cache diagnostics (issue 19)
        self.references = References(store, router, self.contexts, self.context, prompts=prompts, files=files,
                                     sealer=own, trust_cache=trust_cache)
        recording = Recording(store, self.contexts, self.context, trust_cache=trust_cache, clock=clock)
        launcher = Launcher(store, router, self.hosted, self.hub, files=files, context=self.context,
                            recording=recording, metrics=metrics or NullMetrics(), tenancy=tenancy, sealer=sealer,
                            worker_id=self.worker_id, clock=clock, options=options)
        self._creator = Creator(store, router, self.hosted, references=self.references, context=self.context,
                                recording=recording, launcher=launcher, files=files, tenancy=tenancy, sealer=own,
                                clock=clock, on_queued=on_queued, options=options)
        self._jobs = Jobs(store, self.references, launcher, prompts=prompts, sealer=own)
        self._derived = Derived(router, references=self.references, context=self.context, files=files,
                                tenancy=tenancy, sealer=own)
        self._reads = Reads(store, sealer, self.contexts, self.vocabulary)

    async def create(self, body: Any, owner: str, local: LocalState | None = None, generate: bool = True
                     ) -> Started:
        """Validate and start a response: `Running` (drain or stream its run), `Queued` (background)
        or `Warmed` (generate: false).  `local`: a WebSocket's connection state."""
        return await self._creator.create(body, owner, local, generate)

    async def retrieve(self, response_id: str, owner: str, include: list[str] | None = None) -> ResponseDict:
        return await self._reads.retrieve(response_id, owner, include)

    async def delete(self, response_id: str, owner: str) -> Deleted:
        return await self._reads.delete(response_id, owner)

    async def input_items(self, response_id: str, owner: str, *, after: str | None, limit: int, order: str,
                          include: list[str] | None = None) -> ListPage[Item]:
        return await self._reads.input_items(response_id, owner, after=after, limit=limit, order=order,
                                             include=include)

    async def run_job(self, job: ClaimedJob) -> Run | None:
        """The Run of a claimed background job; None when it is gone (deleted meanwhile)."""
        return await self._jobs.run(job)

    async def count_input_tokens(self, body: CountInputTokens, owner: str) -> InputTokensCount:
        return await self._derived.count_input_tokens(body, owner)

    async def compact(self, body: CompactResponse, owner: str) -> CompactedDict:
        return await self._derived.compact(body, owner)
