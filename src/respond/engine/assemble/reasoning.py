"""The `reasoning` output item: the model's thinking as Responses items and stream events.

Upstreams stream reasoning as chat `reasoning_content` (vLLM, DeepSeek, llama.cpp's server) or
`reasoning` (Ollama, OpenRouter); the embedded model writes it between `<think>` tags.  Either
way it reaches the engine as `ReasoningDelta`s, and one `ReasoningStream` turns them into one
`reasoning` item per run of reasoning:

- `content`: one `reasoning_text` part, streamed as `response.reasoning_text.delta/done` (the
  SDK's names; Open Responses calls them `response.reasoning.delta/done`);
- `summary`: chat upstreams send no summary and Respond does not invent one.  When the request
  asks for one (`reasoning.summary`), the summary is the reasoning text itself, verbatim, in
  one `summary_text` part streamed with `response.reasoning_summary_*` events: clients that
  show only summaries (Codex CLI) then show the thinking; without `reasoning.summary` the
  summary stays `[]`;
- `encrypted_content` (with `include: ["reasoning.encrypted_content"]`): the item's text sealed
  by `engine.sealing.Sealer`, so a `store: false` client can hand it back next turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NotRequired, TypedDict

from respond.core.types import ReasoningDelta
from respond.engine.stream.operations import AddItem, AddPart, AppendText, ClosePart, DoneItem, Operation
from respond.protocol.ids import new_id
from respond.protocol.items import UPSTREAM_STATE
from respond.protocol.shapes import ReasoningItem, ReasoningTextPart, SummaryTextPart, UpstreamState


class SealedReasoning(TypedDict):
    """What Respond's `encrypted_content` of a reasoning item holds: its text, and the upstream's state."""

    content: list[ReasoningTextPart]
    summary: list[SummaryTextPart]
    upstream: NotRequired[UpstreamState]


class ReasoningStream:
    """The open reasoning item of one run, if any: `delta` and `close` say what happens to it as
    operations (engine/stream/operations.py), which the builder hands to the emitter.

    A /v1/responses upstream sends its own summary (`ReasoningDelta.summary`, the part index): then
    the summary is the upstream's, never the mirrored text; its finished item's state
    (`encrypted`, `item_id`) is kept under `UPSTREAM_STATE` and sealed into Respond's own
    `encrypted_content` with the text, so it reaches the upstream again on a later turn.
    """

    def __init__(self, summary: bool = False, seal: Callable[[SealedReasoning], str] | None = None) -> None:
        self.summary = summary
        self.seal = seal  # set when the client asked for encrypted_content
        self._item: ReasoningItem | None = None
        self._content = False  # the item has its reasoning_text part
        self._summaries = 0  # how many summary parts it has
        self._own_summary = False  # the backend sends the summary itself (not mirrored from the text)

    @property
    def open(self) -> bool:
        return self._item is not None

    def delta(self, delta: ReasoningDelta) -> list[Operation]:
        ops: list[Operation] = []
        if self._item is None:
            self._item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "content": [],
                          "status": "in_progress"}
            ops.append(AddItem(self._item))
        item, iid = self._item, self._item["id"]
        if delta.encrypted is not None:
            item[UPSTREAM_STATE] = {"id": delta.item_id, "encrypted_content": delta.encrypted}
        if not delta.text:
            return ops
        if delta.summary is not None:
            self._own_summary = True
            return ops + self._summary(delta.summary, delta.text)
        if not self._content:
            self._content = True
            ops.append(AddPart(iid, {"type": "reasoning_text", "text": ""}))
        mirror = self.summary and not self._own_summary
        if mirror and not self._summaries:
            self._summaries = 1
            ops.append(AddPart(iid, {"type": "summary_text", "text": ""}, summary=True))
        ops.append(AppendText(iid, delta.text, 0))
        if mirror:
            ops += self._summary(0, delta.text)
        return ops

    def _summary(self, index: int, text: str) -> list[Operation]:
        assert self._item is not None
        iid, ops = self._item["id"], list[Operation]()
        while self._summaries <= index:
            self._summaries += 1
            ops.append(AddPart(iid, {"type": "summary_text", "text": ""}, summary=True))
        ops.append(AppendText(iid, text, index, summary=True))
        return ops

    def close(self, status: str = "completed") -> list[Operation]:
        """The item's closing operations; its text is complete (every delta was applied before)."""
        item = self._item
        if item is None:
            return []
        iid = item["id"]
        ops: list[Operation] = [ClosePart(iid, 0)] if self._content else []
        ops += [ClosePart(iid, j, summary=True) for j in range(self._summaries)]
        fields = {"encrypted_content": self.seal(sealed_payload(item))} if self.seal is not None else {}
        ops.append(DoneItem(iid, status, fields))
        self._item, self._content, self._summaries, self._own_summary = None, False, 0, False
        return ops


def sealed_payload(item: ReasoningItem) -> SealedReasoning:
    """What Respond's `encrypted_content` of a reasoning item holds: its text, and the upstream's state."""
    payload: SealedReasoning = {"content": item.get("content") or [], "summary": item.get("summary") or []}
    state = item.get(UPSTREAM_STATE)
    if state:
        payload["upstream"] = state
    return payload
