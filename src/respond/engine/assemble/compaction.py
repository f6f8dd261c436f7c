"""Compaction: shrink a long context into the user's own messages plus one `compaction` item that
carries a model-written summary of everything else.

Two ways in.  `POST /responses/compact` returns the compacted window (`compacted`).  Server-side
compaction (`context_management: [{type: "compaction", compact_threshold}]` on a create) counts the
context before the model is asked (`count_tokens`: exact on a backend that counts, the embedded model;
on an upstream, the prompt tokens it reports for a one-token generation (16 on a /v1/responses one),
asked only when the text could pass the threshold at all) and, past the threshold, summarises it first (`Compactor`): the
compaction item is the response's first output item (`response.output_item.added`, one
`response.compaction.compacting` per piece of summary sampled, `response.output_item.done`), and the
model answers from the compacted window.  Either way the window is the same: the user's messages,
then the summary (engine/execution/generation.py `compacted_window` cuts a stored chain or an input the same
way on later turns).

The item's `encrypted_content` is the summary sealed with the server's key for the owner that asked
(engine/record/sealing.py, purpose `compaction`): opaque and authenticated.  When such an item comes back
as input it is opened (a tampered blob, or one sealed by another server or for another key, is a
400 naming `input[i].encrypted_content`: engine/resolve/inputs.py), and it becomes a system message with
the summary at its place in the context: so a client can never write a system message of its own
through a forged compaction item.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypedDict, cast

import orjson

from respond.core.errors import BackendError
from respond.core.ports import TokenCounter
from respond.core.types import Finish, Generation, TextDelta, Usage
from respond.engine.errors import backend_to_api
from respond.engine.execution.generation import compaction_messages
from respond.engine.record.sealing import Sealer
from respond.engine.stream.operations import AddItem, DoneItem, ItemEvent, Operation
from respond.protocol.errors import invalid
from respond.protocol.ids import new_id
from respond.protocol.params import ContextManagementParam
from respond.protocol.response import usage_object
from respond.protocol.shapes import CompactedDict, CompactionItem, MessageItem, UsageDict
from respond.protocol.shapes.response import ImageConfig

PROMPT = ("Summarize the conversation above for your own later use: keep every fact, name, number, decision, "
          "tool result and open task needed to continue it; drop pleasantries. Write only the summary.")
PURPOSE = "compaction"
CREATED_BY = "respond"


class SealedSummary(TypedDict):
    """What a compaction item's `encrypted_content` seals."""

    summary: str


Seal = Callable[[SealedSummary], str]  # seals a summary for the response's owner


def open_summary(sealer: Sealer, content: Any, owner: str | None) -> str | None:
    payload = sealer.open(content, owner, PURPOSE)
    summary = payload.get("summary") if payload is not None else None
    return summary if isinstance(summary, str) else None


def _summary_gen(gen: Generation) -> Generation:
    """A copy of `gen` asking for the summary: no tools, plain text."""
    return dataclasses.replace(gen, messages=[*gen.messages, {"role": "user", "content": PROMPT}], tools=[],
                               tool_choice="none", forced_tool=None, response_format=None)


async def _sampled(backend: Any, gen: Generation) -> AsyncIterator[TextDelta | Usage]:
    """The summary's text pieces, then its usage."""
    usage = Usage()
    async for delta in backend.generate(_summary_gen(gen)):
        if isinstance(delta, TextDelta) and delta.text:
            yield delta
        elif isinstance(delta, Finish) and delta.usage is not None:
            usage = delta.usage
    yield usage


async def summarize(backend: Any, gen: Generation) -> tuple[str, UsageDict]:
    """The summary of `gen`'s context and the usage of writing it (a backend error as the API error)."""
    text, usage = "", Usage()
    try:
        async for piece in _sampled(backend, gen):
            if isinstance(piece, TextDelta):
                text += piece.text
            else:
                usage = piece
    except BackendError as exc:
        raise backend_to_api(exc) from None
    return text.strip(), _usage(usage)


def _usage(u: Usage) -> UsageDict:
    return usage_object(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens)


class CompactEcho(TypedDict):
    """What a compacted response echoes of its request."""

    image: ImageConfig | None
    safety_identifier: str | None
    service_tier: str


def compacted(items: list[dict[str, Any]], summary: str, usage: UsageDict, seal: Seal,
              echo: CompactEcho) -> CompactedDict:
    """The `CompactedResponse` of `POST /responses/compact`: the user's messages (as stored, input
    message items: id, status, `input_text` parts), then the sealed compaction item."""
    kept = cast("list[MessageItem]", [it for it in items if it.get("type") == "message" and it.get("role") == "user"])
    item: CompactionItem = {"id": new_id("cmp"), "type": "compaction",
                            "encrypted_content": seal({"summary": summary}), "created_by": CREATED_BY}
    return {"id": new_id("resp"), "object": "response.compaction", "created_at": int(time.time()),
            "output": [*kept, item], "usage": usage, "image": echo["image"],
            "safety_identifier": echo["safety_identifier"], "service_tier": echo["service_tier"]}


# -- counting ----------------------------------------------------------------------------------------
TEMPLATE_MARGIN, TOOLS_MARGIN = 64, 512  # a default system prompt; a template's preamble about tools


def _upper_bound(gen: Generation) -> int | None:
    """More tokens than the context can have (every token is at least one byte of its text; the JSON
    of a message outweighs its template's markers; margins for what a template adds), or None when a
    part is not text (an image may count for more tokens than its URL has bytes)."""
    if any(not isinstance(m.get("content"), str | None) for m in gen.messages):
        return None
    tools = [dataclasses.asdict(t) for t in gen.tools]
    margin = TEMPLATE_MARGIN + (TOOLS_MARGIN + len(orjson.dumps(tools)) if tools else 0)
    return len(orjson.dumps(gen.messages)) + margin


async def _count(backend: Any, gen: Generation) -> int:
    if isinstance(backend, TokenCounter):
        return await backend.count_tokens(gen)
    tokens = 0
    least = getattr(backend, "min_output_tokens", 1)  # the Responses API takes no fewer than 16
    async for delta in backend.generate(dataclasses.replace(gen, max_output_tokens=least)):
        if isinstance(delta, Finish) and delta.usage is not None:
            tokens = delta.usage.input_tokens
    return tokens


async def count_tokens(backend: Any, gen: Generation) -> int:
    """The input tokens of `gen`: exact from a backend that counts, else the prompt tokens the
    backend reports for a one-token generation of it (16 tokens on a /v1/responses upstream, the least
    that API takes; a backend error as the API error)."""
    try:
        return await _count(backend, gen)
    except BackendError as exc:
        raise backend_to_api(exc) from None


async def passes(backend: Any, gen: Generation, threshold: int) -> bool:
    if not isinstance(backend, TokenCounter):
        bound = _upper_bound(gen)
        if bound is not None and bound <= threshold:
            return False  # cannot pass it: the upstream is not asked to count
    return await _count(backend, gen) > threshold


# -- server-side compaction --------------------------------------------------------------------------
def threshold(context_management: list[ContextManagementParam] | None) -> int | None:
    """The `compact_threshold` of the request's compaction entry (one at most; required here)."""
    found: int | None = None
    for i, entry in enumerate(context_management or []):
        if found is not None:
            raise invalid("Only one 'compaction' entry is allowed in 'context_management'.",
                          f"context_management[{i}]", "invalid_value")
        value = entry.get("compact_threshold")
        if value is None:
            raise invalid("'compact_threshold' is required: this server compacts when the context's token count "
                          "passes it (it knows no default for every model).",
                          f"context_management[{i}].compact_threshold", "missing_required_parameter")
        found = int(value)
    return found


class Compactor:
    """Server-side compaction of one response's context, before its model turn(s).

    `run(inner)` yields the compaction's steps (when the context passes the threshold) and then
    the model's deltas from `inner()`, started only once `gen` holds the compacted window; the
    summary's usage is added to the response's."""

    def __init__(self, backend: Any, gen: Generation, limit: int, seal: Seal,
                 instructions: bool) -> None:
        self.backend, self.gen, self.limit, self.seal = backend, gen, limit, seal
        self.instructions = instructions  # gen.messages[0] is the request's instructions
        self.item: CompactionItem = {"id": new_id("cmp"), "type": "compaction", "encrypted_content": "",
                                     "created_by": CREATED_BY}
        self.usage = Usage()

    async def run(self, inner: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
        if await passes(self.backend, self.gen, self.limit):
            async for step in self._compact():
                yield step
        async for delta in inner():
            if isinstance(delta, Finish):
                delta = Finish(delta.reason, _add(delta.usage, self.usage))
            yield delta

    async def _compact(self) -> AsyncIterator[Operation]:
        text = ""
        async for piece in _sampled(self.backend, self.gen):
            if isinstance(piece, Usage):
                self.usage = piece
                continue
            if not text:  # the item appears once the backend has answered (a refusal is an HTTP error)
                yield AddItem(self.item)
            text += piece.text
            yield ItemEvent(self.item["id"], "response.compaction.compacting")
        if not text:
            yield AddItem(self.item)
        summary = text.strip()
        self.item["encrypted_content"] = self.seal({"summary": summary})
        yield DoneItem(self.item["id"])
        head = self.gen.messages[:1] if self.instructions else []
        users = [m for m in self.gen.messages[len(head):] if m.get("role") == "user"]
        self.gen.messages[:] = [*head, *users, *compaction_messages(summary)]


def _add(a: Usage | None, b: Usage) -> Usage:
    a = a or Usage()
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens,
                 a.cached_tokens + b.cached_tokens, a.reasoning_tokens + b.reasoning_tokens)
