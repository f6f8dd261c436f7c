"""The create options the engine applies around a run (issue 19), in one place for the service:

- `image.context_compression`: the generation's images compressed before the model reads them
  (engine/resolve/images.py), the Response's `image` naming the effective policy;
- `moderation`: input and output scored by the moderation upstream (engine/intake/moderation.py);
- `prompt_cache_options.comparison_response_id`: `prompt_cache_diagnostics` (engine/intake/prompt_cache.py).

The other prompt-caching options and `access_programs` ride on the `Generation` to the backend,
which applies them, passes them on or answers a 400 naming them (backends/options.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from respond.core.ports import Moderator, ResponseStore
from respond.core.types import Delta, Generation
from respond.engine.intake import moderation, prompt_cache
from respond.engine.record.persistence import Record
from respond.engine.resolve import images
from respond.engine.stream.operations import Operation
from respond.protocol.requests import CreateResponse

Steps = AsyncIterator[Delta | Operation]
Wrap = Callable[[Steps], Steps]


class RequestOptions:
    def __init__(self, store: ResponseStore, moderator: Moderator | None = None) -> None:
        self.store = store
        self.moderator = moderator  # --moderation-upstream (None: `moderation` is a 400)

    def check(self, req: CreateResponse) -> None:
        """What must be refused before anything is stored or queued."""
        moderation.check(req, self.moderator)

    async def prepare(self, req: CreateResponse, gen: Generation, record: Record) -> Wrap:
        """Apply what changes the generation (images); return what wraps its steps (moderation, diagnostics)."""
        response, owner = record.response, record.owner
        if req.image is not None:
            gen.messages, compressed = await images.compress_messages(gen.messages, images.policy(req.image))
            if compressed:
                response["image"] = {"context_compression": "enabled"}
        comparing = (req.prompt_cache_options or {}).get("comparison_response_id")
        comparison = await self.store.get_response(comparing, owner) if comparing else None
        moderated = moderation.Moderation(self.moderator, req, response) \
            if req.moderation is not None and self.moderator is not None else None

        def wrap(steps: Steps) -> Steps:
            if moderated is not None:
                steps = moderated.wrap(moderation.input_parts(gen.messages), steps)  # all the model reads
            if comparing:
                steps = prompt_cache.with_diagnostics(steps, response, comparison)
            return steps

        return wrap
