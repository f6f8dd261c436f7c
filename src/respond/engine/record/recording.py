"""Stage "record" of a create: what is kept once a response ends, beside the store's own write
(engine/record/persistence.py writes the response; engine/execution/run.py decides when).

- `remember`: the context a continuation of the response will need, in the context cache (stored
  responses) or in the WebSocket's own state (unstored ones), so that the next turn converts only
  its new items.
- `warm`: a `generate: false` response: completed without output, stored (or kept by its socket).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from respond.core.ports import Store
from respond.engine.assemble.context import ContextBuilder
from respond.engine.execution.generation import History
from respond.engine.record.persistence import Record, row, rows
from respond.engine.resolve.context_cache import ContextCache
from respond.engine.resolve.local_state import LocalState
from respond.protocol.lifecycle import transition
from respond.protocol.requests import CreateResponse
from respond.protocol.response import usage_object
from respond.protocol.shapes import ResponseDict

Item = dict[str, Any]


class Recording:
    def __init__(self, store: Store, contexts: ContextCache, context: ContextBuilder, *, trust_cache: bool,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.contexts = contexts
        self.context = context
        self.trust_cache = trust_cache
        self.clock = clock

    def remember(self, response: ResponseDict, record: Record, history: History,
                 local: LocalState | None = None, new_items: list[Item] | None = None) -> None:
        """Cache the context a continuation of this response will need (in `local`, a WebSocket's
        state, for an unstored one: only when it produced its output); `new_items`: the input as the
        model read it (files resolved), when it differs from what is stored."""
        if local is not None and response["status"] not in ("completed", "incomplete"):
            return
        if local is None and not history.items:
            # A response that continues nothing is not cached: its continuation reads it back in one
            # indexed query (a chain of one), and caching every response held ~4 KB each, up to the
            # cache's 4096 entries, and cost its messages' conversion on every request (bench/memory.py).
            return
        read = record.input_items if new_items is None else new_items
        output = rows(response["output"])  # the items as the context reads them, stored or not
        prefix, added = history.messages, read + output
        if prefix is None:
            prefix, added = [], history.items + added
        items = history.items + read + output
        messages = self.context.messages(added, prefix=prefix)
        if local is not None:
            local.put(response["id"], items, messages)
        elif not (response.get("previous_response_id") and history.epoch is None and not self.trust_cache):
            # (a chain's history always carries its epoch: never cache what could not be confirmed)
            self.contexts.put(response["id"], record.owner, items, messages, history.epoch)

    async def warm(self, req: CreateResponse, record: Record, history: History, local: LocalState | None) -> None:
        """`generate: false`: the response is completed with no output and no usage, and remembered
        like any other (stored unless `store: false`, then only by its socket)."""
        transition(record.response, "completed", completed_at=int(self.clock()), usage=usage_object(0, 0))
        if req.store is not False:
            r = record
            await self.store.insert_response(row(r.response), r.owner, r.input_items, [],
                                             conversation_id=r.conversation_id)
            self.remember(r.response, record, history)
        elif local is not None:
            self.remember(record.response, record, history, local)
