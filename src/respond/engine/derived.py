"""Uses that read a request like a create but make no response: `POST /responses/input_tokens`
and `POST /responses/compact`.  They run the same first stages (validate, resolve references,
build the context, engine/create.py) and then ask the backend for a count or a summary."""

from __future__ import annotations

from typing import Any

from respond.core.errors import BackendError
from respond.core.ports import TokenCounter
from respond.core.types import Finish
from respond.engine import compaction
from respond.engine.context import ContextBuilder
from respond.engine.errors import backend_to_api
from respond.engine.input_files import InputFiles
from respond.engine.references import References
from respond.engine.router import ModelRouter
from respond.engine.sealing import Sealer
from respond.engine.tenancy import Tenancy
from respond.engine.validate import model_for
from respond.protocol.bodies import parse_compact, parse_input_tokens
from respond.protocol.errors import invalid


class Derived:
    def __init__(self, router: ModelRouter, *, references: References, context: ContextBuilder,
                 files: InputFiles, tenancy: Tenancy | None, sealer: Sealer) -> None:
        self.router = router
        self.references = references
        self.context = context
        self.files = files
        self.tenancy = tenancy
        self._sealer = sealer  # seals the compaction item

    async def count_input_tokens(self, body: Any, owner: str) -> dict[str, Any]:
        """Exact with a backend that counts (the embedded one); for an upstream, the prompt tokens it
        reports for a one-token generation of the same request."""
        req = parse_input_tokens(body)
        model = await model_for(req, owner, self.router, self.tenancy)
        req, new_items = await self.references.inputs(req, owner)
        backend = self.router.resolve(model)
        new_items = await self.files.for_context(new_items, owner, backend, strict=True)
        gen = self.context.prepare(req, model, await self.references.history(req, owner), new_items).gen
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
        model = await model_for(req, owner, self.router, self.tenancy)
        req, new_items = await self.references.inputs(req, owner)
        history = await self.references.history(req, owner)
        if not new_items and not history.items:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        backend = self.router.resolve(model)
        new_items = await self.files.for_context(new_items, owner, backend)
        gen = self.context.prepare(req, model, history, new_items).gen
        summary, usage = await compaction.summarize(backend, gen)
        return compaction.compacted(history.items + new_items, summary, usage,
                                    lambda payload: self._sealer.seal(payload, owner, compaction.PURPOSE))
