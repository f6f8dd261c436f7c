"""Stage "build the context" of a create: items -> chat messages -> the `Prepared` generation.

`ContextBuilder` is the one place that knows how an item reads to the model on a later turn: a
compaction item is opened with the server's key, a hosted tool's item is what its tool says
(`HostedTools.messages`), anything else follows engine/execution/generation.py.  The references stage
(cached histories), the record stage (what a continuation will need) and the run stage (this
turn's `Generation`) all go through it, so the three never disagree.
"""

from __future__ import annotations

from typing import Any

from respond.core.types import Message
from respond.engine.assemble import compaction
from respond.engine.execution.generation import (
    History,
    Prepared,
    compaction_messages,
    items_to_messages,
    prepare,
)
from respond.engine.record.sealing import Sealer
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.requests import CreateResponse

Item = dict[str, Any]


class ContextBuilder:
    def __init__(self, hosted: HostedTools, sealer: Sealer) -> None:
        self.hosted = hosted
        self._sealer = sealer  # opens compaction items (verified for their owner when they came in)

    def item(self, item: Item) -> list[Message] | None:
        """A stored or new item -> its messages: compaction items opened with the server's key,
        hosted tools' items by their tool; None: the generic rules of items_to_messages apply."""
        if item.get("type") == "compaction":
            return compaction_messages(compaction.open_summary(self._sealer, item.get("encrypted_content"), None))
        return self.hosted.messages(item)

    def seal_compaction(self, owner: str) -> compaction.Seal:
        """How a compaction item made for `owner` is sealed (server-side compaction)."""
        return lambda payload: self._sealer.seal(payload, owner, compaction.PURPOSE)

    def messages(self, items: list[Item], prefix: list[Message] | None = None) -> list[Message]:
        return items_to_messages(items, prefix=prefix, hosted=self.item)

    def prepare(self, req: CreateResponse, model: str, history: History, new_items: list[Item]) -> Prepared:
        """The generation of this turn (messages, client tools, tool choice, format), with the tools
        left to the hosted ones; it validates tools[], tool_choice and text.format on the way."""
        return prepare(req, model, history, new_items, self.hosted.types, self.item)
