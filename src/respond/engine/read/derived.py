"""Uses that read a request like a create but make no response: `POST /responses/input_tokens`
and `POST /responses/compact`.  They run the same first stages (validate, resolve references,
build the context, engine/create.py) and then ask the backend for a count or a summary."""

from __future__ import annotations

from respond.engine.assemble import compaction
from respond.engine.assemble.context import ContextBuilder
from respond.engine.execution.router import ModelRouter
from respond.engine.intake.validate import model_for
from respond.engine.record.sealing import Sealer
from respond.engine.resolve import images
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.references import References
from respond.engine.tenants.tenancy import Tenancy
from respond.protocol.bodies import CompactResponse, CountInputTokens
from respond.protocol.errors import invalid
from respond.protocol.response import echo_image
from respond.protocol.shapes import CompactedDict, InputTokensCount


class Derived:
    def __init__(self, router: ModelRouter, *, references: References, context: ContextBuilder,
                 files: InputFiles, tenancy: Tenancy | None, sealer: Sealer) -> None:
        self.router = router
        self.references = references
        self.context = context
        self.files = files
        self.tenancy = tenancy
        self._sealer = sealer  # seals the compaction item

    async def count_input_tokens(self, body: CountInputTokens, owner: str) -> InputTokensCount:
        """Exact with a backend that counts (the embedded one); for an upstream, the prompt tokens it
        reports for a one-token generation of the same request (engine/assemble/compaction.py `count_tokens`).
        `reasoning` and `truncation` reach the count as they reach a create: the embedded template's
        thinking switch and its truncation, an upstream's `reasoning_effort` and its truncation retries."""
        req = body.create()
        model = await model_for(req, owner, self.router, self.tenancy)
        req, new_items = await self.references.inputs(req, owner)
        backend = self.router.resolve(model)
        new_items = await self.files.for_context(new_items, owner, backend, strict=True)
        gen = self.context.prepare(req, model, await self.references.history(req, owner), new_items).gen
        return {"object": "response.input_tokens", "input_tokens": await compaction.count_tokens(backend, gen)}

    async def compact(self, body: CompactResponse, owner: str) -> CompactedDict:
        req = body.create()
        model = await model_for(req, owner, self.router, self.tenancy)
        req, new_items = await self.references.inputs(req, owner)
        history = await self.references.history(req, owner)
        if not new_items and not history.items:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        backend = self.router.resolve(model)
        new_items = await self.files.for_context(new_items, owner, backend)
        gen = self.context.prepare(req, model, history, new_items).gen
        image = echo_image(req)
        if req.image is not None:  # image.context_compression, as on a create (engine/resolve/images.py)
            gen.messages, compressed = await images.compress_messages(gen.messages, images.policy(req.image))
            image = {"context_compression": "enabled"} if compressed else image
        summary, usage = await compaction.summarize(backend, gen)
        return compaction.compacted(history.items + new_items, summary, usage,
                                    lambda payload: self._sealer.seal(payload, owner, compaction.PURPOSE),
                                    {"image": image, "safety_identifier": req.safety_identifier,
                                     "service_tier": req.service_tier or "default"})
