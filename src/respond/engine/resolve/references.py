"""Stage "resolve references" of a create: what the request names but does not carry.

- its stored prompt template (`prompt`: instructions and input items, engine/resolve/prompts.py);
- its `item_reference` inputs (stored items of the same owner);
- the reasoning and compaction items its client carried back sealed (opened, or a 400);
- the history it continues: a conversation's items, or a previous response's chain, read from the
  WebSocket's own state, the context cache (engine/resolve/context_cache.py) or the store, with the files
  and images of those items resolved for the backend that will read them.

Nothing here calls the model, and nothing calls back into the stages after it.
"""

from __future__ import annotations

import logging
from typing import Any

from respond.core.ports import Store
from respond.engine.assemble.context import ContextBuilder
from respond.engine.execution.generation import History
from respond.engine.execution.router import ModelRouter
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.context_cache import ContextCache
from respond.engine.resolve.conversations import conversation_id
from respond.engine.resolve.input_files import InputFiles
from respond.engine.resolve.inputs import apply_prompt, open_reasoning
from respond.engine.resolve.local_state import LocalState
from respond.engine.resolve.prompts import PromptStore
from respond.protocol.errors import APIError, not_found
from respond.protocol.requests import CreateResponse

log = logging.getLogger("respond.service")
Item = dict[str, Any]


class References:
    def __init__(self, store: Store, router: ModelRouter, contexts: ContextCache, context: ContextBuilder, *,
                 prompts: PromptStore, files: InputFiles, sealer: Sealer, trust_cache: bool) -> None:
        self.store = store
        self.router = router
        self.contexts = contexts
        self.context = context
        self.vocabulary = context.hosted.vocabulary  # item types, include values: the core's and the tools'
        self.prompts = prompts
        self.files = files
        self._sealer = sealer  # opens reasoning and compaction items carried back by the client
        self.trust_cache = trust_cache  # no other process can delete what this one cached (SQLite)

    async def inputs(self, req: CreateResponse, owner: str) -> tuple[CreateResponse, list[Item]]:
        """The request with its prompt template applied, and its new input items (the template's
        first, references resolved, sealed reasoning opened)."""
        if req.client_metadata:
            log.info("client_metadata (not sent upstream): %s", req.client_metadata)
        req, prompt_items = apply_prompt(req, self.prompts, self.vocabulary)
        items = await self._referenced(self.vocabulary.normalize_input(req.input), owner)
        return req, prompt_items + open_reasoning(items, self._sealer, owner)

    async def _referenced(self, items: list[Item], owner: str) -> list[Item]:
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

    async def history(self, req: CreateResponse, owner: str, local: LocalState | None = None) -> History:
        """The items the request continues (its conversation's, or its previous response's chain)."""
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
        messages = self.context.messages(found)
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
