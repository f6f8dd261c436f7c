"""`LlamaCppBackend`: the embedded model backend (llama.cpp via llama-cpp-python).

The async side of the port.  A request is planned first (tokenized, its context length and
grammar checked) without waiting for the model, so a bad one fails at once and a good one is
answered with headers and `response.created` right away; then it queues for the CPU behind one
FIFO `asyncio.Lock` (two cores decode one sequence at a time best); the blocking work runs in a worker thread
(`ModelRunner`) that hands each decoded piece to the event loop through an `asyncio.Queue`.
Closing the delta iterator sets a stop flag the worker checks between tokens, and the lock is
only released once the worker has stopped.

Output shaping happens here: a thinking model's `<think>` text becomes reasoning deltas
(`think.ThinkSplitter`); with tools offered in `auto` mode, text is streamed until it may
be a tool call (see `toolparse.ToolCallSplitter`), then held and parsed at the end; in
constrained mode (tool_choice required or a named function) the grammar guarantees a call and
nothing is streamed as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from respond.backends.options import BREAKPOINT, refuse_others
from respond.core.errors import BackendError, UnknownModel
from respond.core.types import (
    Delta,
    Finish,
    Generation,
    ModelInfo,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from respond.protocol.shapes import Logprob

from .assets import DEFAULT_MODEL, packaged_models
from .repeats import RepeatWatch
from .runner import ModelRunner, Piece, Plan
from .think import Kind, ThinkSplitter
from .toolparse import ParsedCall, ToolCallSplitter, parse_tool_calls

log = logging.getLogger(__name__)

_DONE = object()


class LlamaCppBackend:
    """Serves local GGUF models by name.

    `models` maps a model name to its GGUF path, or to a zero-argument callable returning the
    path (so a packaged model is only assembled when first used).  With `include_default`,
    the packaged default model (and the 1.5B one when its packages are installed) is served
    too, assembled into `cache_dir/models` on first use.  `n_slots` contexts per model keep
    that many conversations' KV caches warm.  `max_output_tokens` caps the output of a request
    that sets none (0: up to the context window).
    """

    name = "llamacpp"
    vision = False  # text-only models: images are a 400, files reach it as their extracted text
    file_parts = False

    def __init__(
        self,
        models: Mapping[str, str | Path | Callable[[], Path]] | None = None,
        n_ctx: int = 0,
        n_threads: int | None = None,
        n_slots: int = 3,
        n_batch: int = 512,
        include_default: bool = False,
        cache_dir: Path | None = None,
        max_output_tokens: int = 0,
    ) -> None:
        sources: dict[str, Path | Callable[[], Path]] = {}
        if include_default:
            sources.update(packaged_models(cache_dir))
        for name, path in (models or {}).items():
            sources[name] = path if callable(path) else Path(path).expanduser()
        self.default_model: str | None = DEFAULT_MODEL if include_default else next(iter(models or {}), None)
        self._runners = {
            name: ModelRunner(name, path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, n_slots=n_slots,
                              max_output=max_output_tokens)
            for name, path in sources.items()
        }
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # -- the port --------------------------------------------------------------------------

    def serves(self, model: str) -> bool:
        return model in self._runners

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo(id=name, owned_by="respond") for name in self._runners]

    async def count_tokens(self, gen: Generation) -> int:
        runner = self._runner(gen.model)
        async with self._queue():
            return await asyncio.to_thread(runner.count_tokens, gen)

    async def warmup(self, model: str | None = None) -> None:
        """Assemble (first run only) and load a model before the first request needs it.

        Optional: without it the first request pays this (about a second; the one-time
        assembly of the packaged default adds a few more).  Raises `BackendError` if the model
        cannot be loaded, e.g. its weight packages are missing."""
        name = model or self.default_model or next(iter(self._runners), None)
        if name is None:
            return
        runner = self._runner(name)
        async with self._queue():
            await asyncio.to_thread(runner.load)

    async def close(self) -> None:
        async with self._queue():
            for runner in self._runners.values():
                await asyncio.to_thread(runner.close)

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        runner = self._runner(gen.model)
        check_options(gen)
        # Validate before queueing for the model (tokens counted, context length and grammar
        # checked; no decoding lock taken): a request that cannot be served is a 400 at once,
        # and one that can is announced by an empty delta, so the engine sends headers and
        # response.created / in_progress while it waits for its turn and prefills.
        plan = await asyncio.to_thread(runner.plan, gen)
        yield TextDelta("")
        async with self._queue():
            # aclosing: a consumer that stops early must stop the worker before the lock opens.
            async with contextlib.aclosing(self._decode(runner, plan)) as deltas:
                async for delta in deltas:
                    yield delta

    # -- internals -------------------------------------------------------------------------

    def _queue(self) -> asyncio.Lock:
        """The FIFO lock requests queue on (one per event loop: tests run several loops; the
        runner's thread lock still keeps the contexts safe across them)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _runner(self, model: str) -> ModelRunner:
        runner = self._runners.get(model)
        if runner is None:
            raise UnknownModel(model, sorted(self._runners))
        return runner

    async def _decode(self, runner: ModelRunner, plan: Plan) -> AsyncGenerator[Delta, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def emit(piece: Piece) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        def work() -> None:
            try:
                result: Any = runner.run(plan, emit, stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                result = exc
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, result))

        worker = loop.run_in_executor(None, work)
        shaper = _Shaper(plan)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Piece):
                    if shaper.repeated:
                        continue  # stopping: the worker ends within a token
                    for delta in shaper.feed(item):
                        yield delta
                    if shaper.repeated:
                        stop.set()
                    continue
                result = item[1]
                if isinstance(result, BaseException):
                    if isinstance(result, BackendError):
                        raise result
                    raise BackendError(f"llama.cpp failed: {result}") from result
                reason, usage = result
                for delta in shaper.finish(reason, usage):
                    yield delta
                return
        finally:
            stop.set()
            # Keep the model locked until the worker has really stopped (within one token).
            await asyncio.shield(worker)


def check_options(gen: Generation) -> None:
    """The embedded model applies `prompt_cache_options.prewarm` (a real KV prefill) and takes breakpoints
    (every prefix of a slot's prompt is reusable, so each one is); a lifetime (`ttl`, `prompt_cache_retention`)
    it cannot promise, nor turn the implicit cache off (`mode`): those are a 400 naming them."""
    refuse_others(gen, ("prompt_cache_options.prewarm", BREAKPOINT), "the embedded model (its prompt cache is "
                  "its context slots, kept in memory until reused)")
    for m in gen.messages:
        content = m.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and (part.get(BREAKPOINT) or {}).get("ttl") is not None:
                raise BackendError("'prompt_cache_breakpoint.ttl' is not supported by the embedded model: its "
                                   "prompt cache keeps no lifetime. Remove the ttl.", status=400,
                                   code="unsupported_parameter", param="input")


class _Shaper:
    """Turns decoded pieces into deltas: plain text, held-back text, or tool calls."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._names = [t.name for t in plan.tools]
        self._splitter = ToolCallSplitter() if plan.tool_mode == "auto" else None
        self._held: list[str] = []  # constrained mode: the whole output
        self._logprobs: list[Logprob] = []
        self._think = ThinkSplitter(inside=plan.think_open)
        self._pending: list[Logprob] = []  # logprobs of text the think splitter still holds
        self._watch = RepeatWatch()
        self.repeated = 0  # the length of the block the output repeated (0: it did not)

    def feed(self, piece: Piece) -> list[Delta]:
        deltas = self._feed(piece)
        held = self._plan.tool_mode == "constrained" or (self._splitter is not None and self._splitter.holding)
        block = self._watch.feed(piece.text, held)
        if block:  # degenerate: stop here, keeping one copy of what is still held back
            self.repeated = block
            surplus = self._watch.surplus(block)
            if self._plan.tool_mode == "constrained":
                whole = "".join(self._held)
                self._held = [whole[: max(0, len(whole) - surplus)]]
            elif self._splitter is not None:
                self._splitter.drop_tail(surplus)
        return deltas

    def _feed(self, piece: Piece) -> list[Delta]:
        if self._plan.tool_mode == "constrained":
            if piece.logprob is not None:
                self._logprobs.append(piece.logprob)
            self._held.append(piece.text)
            return []
        if piece.logprob is not None:
            self._pending.append(piece.logprob)
        return self._split(self._think.feed(piece.text))

    def _split(self, segments: list[tuple[Kind, str]]) -> list[Delta]:
        deltas: list[Delta] = []
        for kind, text in segments:
            if kind == "reasoning":
                deltas.append(ReasoningDelta(text))
                self._pending = []  # logprobs are of answer tokens only
            else:
                self._logprobs.extend(self._pending)
                self._pending = []
                deltas.extend(self._text(self._splitter.feed(text) if self._splitter else text))
        if not self._think.in_answer:
            self._pending = []  # logprobs are of answer tokens only
        return deltas

    def finish(self, reason: str, usage: Usage) -> list[Delta]:
        deltas: list[Delta] = []
        if self._plan.tool_mode == "constrained":
            rest = "".join(self._held)
        else:
            deltas.extend(self._split(self._think.finish()))
            rest = self._splitter.finish() if self._splitter is not None else ""
        calls: list[ParsedCall] = []
        if self._plan.freeform is not None:  # the output is the custom tool's input
            calls, rest = [ParsedCall(self._plan.freeform, json.dumps({"input": rest}))], ""
        elif rest and self._names:
            calls, rest = parse_tool_calls(rest, self._names)
            calls = list(dict.fromkeys(calls))  # the same call written twice is one call
            if calls and not self._plan.parallel:
                calls = calls[:1]
        if rest:
            deltas.extend(self._text(rest, force=True))
        for index, call in enumerate(calls):
            deltas.append(ToolCallDelta(index=index, call_id=f"call_{uuid.uuid4().hex[:24]}", name=call.name))
            deltas.append(ToolCallDelta(index=index, arguments=call.arguments))
        if self.repeated:
            # Calls written again and again are made once; repeated text ends the output short.
            log.info("output repeated a %d-character block: stopped", self.repeated)
            reason = "stop" if calls else "length"
        if calls and reason == "stop":
            reason = "tool_calls"
        deltas.append(Finish(reason="stop" if reason == "cancelled" else reason, usage=usage))
        return deltas

    def _text(self, text: str, force: bool = False) -> list[Delta]:
        if not text and not (force and self._logprobs):
            return []
        logprobs, self._logprobs = (self._logprobs or None), []
        return [TextDelta(text=text, logprobs=logprobs if self._plan.logprobs else None)]
