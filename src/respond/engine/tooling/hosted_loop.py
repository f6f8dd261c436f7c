"""The hosted-tool loop: the server runs the tools it hosts inside one response.

`HostedLoop.run()` stands between the backend and the `Run`.  First each binding may act before
the model (`start`: a remote server's tool listing, a call approved in this request's input); those
steps are held until the model's first delta, so that a request the backend refuses is still an
HTTP error (the service primes the stream before answering).  Then, each
round, the model is offered the client's functions plus every binding's functions; the loop
forwards the model's deltas but holds back calls that a binding claims.  When the turn ends, the
held calls run in order (each binding yields its item steps and the `tool` message for the call)
and, unless the turn also called client functions or a binding halted (an approval request), the
model is asked again with the results, until it answers without a hosted call (`MAX_ROUNDS`
counts the rounds that ran a call; the turn after the last of them may not call tools; a call
repeating one already answered never reaches the loop: see engine/tooling/repeat_guard.py).  `max_tool_calls` caps the hosted calls
run in the response: once reached, hosted functions are no longer offered and further calls are
answered "not run".  The answer gets each binding's annotations; usage is summed over turns.

What the loop yields that is not a model delta is an `Operation` (engine/stream/operations.py): a
binding's `Added`/`Progress`/`Done` steps become `AddItem`/`ItemEvent`/`DoneItem`, and the
annotations of the answer an `AnnotateText`; the `Run` hands them to its builder, the one place
that numbers and sends events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from respond.core.hosted import Added, Binding, Context, Done, Halt, HostedCall, Progress, Step, ToolContext
from respond.core.ports import ModelBackend
from respond.core.types import (
    Delta,
    Finish,
    Generation,
    ReasoningContext,
    ReasoningDelta,
    ReasoningFields,
    ToolCallDelta,
    Usage,
)
from respond.engine.stream.operations import AddItem, AnnotateText, DoneItem, ItemEvent, Operation
from respond.protocol.ids import new_id
from respond.protocol.shapes import Annotation, UpstreamState

MAX_ROUNDS = 8
CAPPED = "This call was not run: the response reached its max_tool_calls limit."


def _add(a: Usage, b: Usage | None) -> Usage:
    if b is None:
        return a
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens,
                 a.cached_tokens + b.cached_tokens, a.reasoning_tokens + b.reasoning_tokens)


class HostedLoop:
    def __init__(self, bindings: list[Binding], gen: Generation, ctx: ToolContext,
                 max_tool_calls: int | None = None) -> None:
        self.bindings = bindings
        self.gen = gen
        self.ctx = ctx
        self.max_calls = max_tool_calls
        self.calls = 0
        self.halted = False
        self.client_specs = list(gen.tools)
        self.choice = gen.tool_choice
        self.index: dict[str, int] = {}  # item id -> output index
        self.closed = False

    def _owner(self, name: str | None) -> Binding | None:
        return next((b for b in self.bindings if name and b.claims(name)), None)

    def _offer(self, first: bool, last: bool) -> None:
        """This turn's tools and tool choice."""
        capped = self.max_calls is not None and self.calls >= self.max_calls
        hosted = [] if capped or self.choice == "none" else [s for b in self.bindings for s in b.specs]
        self.gen.tools = self.client_specs + hosted
        choice, forced = ("auto" if self.choice == "required" else self.choice), None
        if first:
            choice, forced = self.choice, self.gen.forced_tool
            for b in self.bindings:
                name = b.forced(self.ctx.tool_choice)
                if name is not None and hosted:
                    choice, forced = "required", name or None
        if not self.gen.tools or last:
            choice, forced = "none", None
        self.gen.tool_choice, self.gen.forced_tool = choice, forced

    async def run(self, backend: ModelBackend) -> AsyncIterator[Delta | Operation]:
        usage = Usage()
        try:
            held_steps = [step for b in self.bindings async for step in self._steps(b.start())]
            ran = 0  # rounds that ran a hosted call
            for turn in range(2 * MAX_ROUNDS):  # a turn whose calls all went unrun is not a round
                if self.halted:
                    for step in held_steps:
                        yield step
                    yield Finish(reason="stop", usage=usage)
                    return
                self._offer(first=turn == 0, last=ran == MAX_ROUNDS - 1 or turn == 2 * MAX_ROUNDS - 1)
                held: dict[int, HostedCall] = {}
                client_calls: set[int] = set()
                thought: list[ReasoningDelta] = []  # this round's reasoning: it goes back with the calls
                finish = Finish()
                stream = backend.generate(self.gen)
                try:
                    async for delta in stream:
                        for step in held_steps:  # the backend accepted the request
                            yield step
                        held_steps = []
                        if isinstance(delta, ToolCallDelta) and delta.index not in client_calls and (
                                delta.index in held or self._owner(delta.name) is not None):
                            call = held.get(delta.index) or HostedCall(delta.call_id or new_id("call"),
                                                                       delta.name or "", "")
                            held[delta.index] = replace(call, arguments=call.arguments + delta.arguments)
                            continue
                        if isinstance(delta, ToolCallDelta):
                            client_calls.add(delta.index)
                        if isinstance(delta, ReasoningDelta):
                            thought.append(delta)
                        if isinstance(delta, Finish):
                            finish = delta
                            break
                        yield delta
                finally:
                    await stream.aclose()  # type: ignore[attr-defined]
                usage = _add(usage, finish.usage)
                if not held or finish.reason == "length":
                    if not client_calls:
                        yield AnnotateText(self._annotations)
                    yield Finish(reason="tool_calls" if client_calls else finish.reason, usage=usage)
                    return
                calls = list(held.values())
                before = self.calls
                async for step in self._run_calls(calls, thought):
                    yield step
                ran += self.calls > before
                if client_calls:
                    yield Finish(reason="tool_calls", usage=usage)
                    return
            yield Finish(reason="stop", usage=usage)  # pragma: no cover - the last round offers no tools
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close every binding, once: at the end of `run`, or for a loop that was only built to
        validate the request (a background one, checked before it is queued)."""
        if self.closed:
            return
        self.closed = True
        for b in self.bindings:
            await b.close()

    async def _run_calls(self, calls: list[HostedCall], thought: list[ReasoningDelta]) -> AsyncIterator[Operation]:
        self.gen.messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls], **_reasoning(thought)})
        for call in calls:
            binding = self._owner(call.name)
            if binding is None or (self.max_calls is not None and self.calls >= self.max_calls):
                self.gen.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": CAPPED})
                continue
            self.calls += 1
            async for step in self._steps(binding.run(call)):
                yield step

    async def _steps(self, steps: AsyncIterator[Step]) -> AsyncIterator[Operation]:
        async for step in steps:
            if isinstance(step, Context):
                self.gen.messages.extend(step.messages)
            elif isinstance(step, Halt):
                self.halted = True
            else:
                yield self._operation(step)

    @staticmethod
    def _operation(step: Added | Progress | Done) -> Operation:
        if isinstance(step, Added):
            return AddItem(step.item)  # a tool's item: its own shape
        if isinstance(step, Progress):
            return ItemEvent(step.item["id"], step.type, step.fields)
        return DoneItem(step.item["id"])

    def _annotations(self, text: str) -> list[Annotation]:
        return [a for binding in self.bindings for a in binding.annotations(text)]


def _reasoning(thought: list[ReasoningDelta]) -> ReasoningFields:
    """A round's reasoning on the assistant message of its calls (as `items_to_messages` puts an
    earlier turn's), so the next round sees it: its text, and the upstream's state to send back."""
    text = "".join(d.text for d in thought if d.summary is None)
    summary: dict[int, str] = {}
    for d in thought:
        if d.summary is not None:
            summary[d.summary] = summary.get(d.summary, "") + d.text
    state = next((UpstreamState(id=d.item_id, encrypted_content=d.encrypted) for d in reversed(thought)
                  if d.encrypted is not None), None)
    if not (text or summary or state):
        return {}
    item: ReasoningContext = {"summary": [{"type": "summary_text", "text": summary[i]} for i in sorted(summary)],
                              "content": [{"type": "reasoning_text", "text": text}] if text else []}
    if state is not None:
        item["_upstream"] = state  # (protocol.items.UPSTREAM_STATE)
    fields: ReasoningFields = {"reasoning_item": item}
    if text:
        fields["reasoning_content"] = text
    return fields
