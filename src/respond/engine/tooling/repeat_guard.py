"""The repeat guard: a call already answered in the context is not made again.

Small models (the embedded 0.5B above all) answer a tool's output by calling the same tool with
the same arguments again, turn after turn: a client's function loop never ends, and a hosted
tool's round runs the same search again.  `RepeatGuard` wraps a backend for one response.
Each turn it holds the model's tool calls until the turn ends and compares each one's name and
arguments (JSON-normalised: key order and spacing do not matter) with the calls the context
already answered: an assistant `tool_calls` entry whose id has a `tool` message.  That covers
client-run calls answered in this request's input or earlier in its chain, and hosted calls run
in earlier rounds of this response; a hosted tool's items of earlier turns (which reach the model
as notes) add the calls they answered (`AnswersCalls`, e.g. a search tool's queries).

- Some calls of the turn are new: the repeats are dropped, the new ones go on (renumbered).
- On the embedded backend, right after a tool's output, a call to that same function (whatever its
  arguments) counts as a repeat too: the 0.5B model otherwise feeds the result back in
  (`calculator("391")` after `calculator("17 * 23")` answered 391) or searches again with other
  words; the turn after a tool's output may call a *different* tool or answer.
- On the embedded backend a turn whose *first* call is a repeat is a repeat as a whole: the 0.5B
  model answers a tool's output by writing its call again and then going on down a list, calls that
  follow the replay rather than the output (after the weather: `convert_units(-3, "C", "F")`, or
  invented `temperature` and `wind` tools; after a calculator's error, an `error` tool), run by a
  client as if asked for.  A new call written *first* still goes on.
- All of them repeat an answered call: the model is asked again, once, with calls ruled out
  (`tool_choice: none`: an upstream is sent that, the embedded backend decodes text under a grammar
  that admits no call), with the request's `max_output_tokens` (the suppressed call is not output,
  so `usage.output_tokens`, which sums both turns, may exceed it).  The item list never shows the
  suppressed call.
- A turn that must call (`tool_choice` required or naming a function) is left alone: the client
  asked for a call.

Calls are held for the whole turn (to compare complete arguments), so with the guard on an
upstream's argument deltas arrive at the end of its turn.  `--repeat-guard` decides where it
applies: `embedded` (the default: the llama.cpp backend only), `on` (every backend), `off`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from respond.core.arguments import NotJSON, loads_arguments
from respond.core.ports import ModelBackend
from respond.core.types import Delta, Finish, Generation, Message, ModelInfo, ToolCallDelta, Usage

log = logging.getLogger(__name__)

MODES = ("on", "off", "embedded")
EMBEDDED = ("llamacpp",)  # backends `embedded` mode guards

Signature = tuple[str, str]


def signature(name: str | None, arguments: Any) -> Signature:
    """A call's name and its arguments as canonical JSON (text that is not JSON: stripped)."""
    value = arguments
    if isinstance(arguments, str):
        try:
            value = loads_arguments(arguments)
        except NotJSON:
            return name or "", arguments.strip()
    return name or "", json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def answered(messages: Iterable[Message]) -> set[Signature]:
    """The calls in `messages` that have their output (a `tool` message with their id)."""
    messages = list(messages)
    outputs = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    done: set[Signature] = set()
    for m in messages:
        for call in m.get("tool_calls") or () if m.get("role") == "assistant" else ():
            function = call.get("function") or {}
            if call.get("id") in outputs:
                done.add(signature(function.get("name"), function.get("arguments")))
    return done


def just_answered(messages: list[Message]) -> set[str]:
    """The functions whose outputs end `messages` (the calls of the assistant message before them)."""
    ids: set[str] = set()
    for m in reversed(messages):
        if m.get("role") == "tool":
            ids.add(str(m.get("tool_call_id")))
        elif m.get("role") == "assistant" and m.get("tool_calls") and ids:
            return {str((c.get("function") or {}).get("name")) for c in m["tool_calls"] if c.get("id") in ids}
        elif not (m.get("role") == "user" and isinstance(m.get("content"), list) and ids):
            return set()  # (images a tool output showed follow its tool message as user content)
    return set()


def _add(a: Usage, b: Usage | None) -> Usage:
    if b is None:
        return a
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens,
                 a.cached_tokens + b.cached_tokens, a.reasoning_tokens + b.reasoning_tokens)


class RepeatGuard:
    """A backend whose turns never repeat an answered call (see the module docstring)."""

    def __init__(self, backend: ModelBackend, earlier: frozenset[Signature] = frozenset(),
                 same_tool: bool = False) -> None:
        self.backend = backend
        self.earlier = earlier  # calls answered outside the chat messages (hosted items of earlier turns)
        self.same_tool = same_tool  # a call of the function whose output just came counts as a repeat
        self.name = backend.name
        self.suppressed = 0  # calls dropped so far (tests and logs)

    def serves(self, model: str) -> bool:
        return self.backend.serves(model)

    async def models(self) -> list[ModelInfo]:
        return await self.backend.models()

    async def close(self) -> None:
        await self.backend.close()

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        if gen.tool_choice not in ("auto", "none") or gen.forced_tool or not gen.tools:
            async for delta in self.backend.generate(gen):
                yield delta
            return
        done = answered(gen.messages) | self.earlier
        just = just_answered(gen.messages) if self.same_tool else set()
        usage = Usage()
        while True:
            calls: dict[int, list[ToolCallDelta]] = {}
            finish = Finish()
            async for delta in self.backend.generate(gen):
                if isinstance(delta, ToolCallDelta):
                    calls.setdefault(delta.index, []).append(delta)
                    continue
                if isinstance(delta, Finish):
                    finish = delta
                    break
                yield delta
            usage = _add(usage, finish.usage)
            turn = [calls[i] for i in sorted(calls)]
            fresh = [p for p in turn if _signature(p) not in done and _signature(p)[0] not in just]
            if self.same_tool and fresh and fresh[0] is not turn[0]:
                fresh = []  # the turn opens by replaying an answered call: what it lists after that goes too
            repeats = len(calls) - len(fresh)
            self.suppressed += repeats
            if repeats:
                log.info("repeat guard: %d call(s) already answered in the context suppressed (%s)", repeats,
                         ", ".join(sorted({_signature(p)[0] for p in calls.values()})))
            if fresh or not calls or gen.tool_choice == "none":
                for index, parts in enumerate(fresh):
                    for part in parts:
                        yield dataclasses.replace(part, index=index)
                reason = finish.reason
                if calls and not fresh and reason == "tool_calls":
                    reason = "stop"
                yield Finish(reason=reason, usage=usage)
                return
            # Asked again, calls ruled out: the answer is text, with the whole max_output_tokens (the
            # suppressed call is not output; usage still counts its tokens).
            gen = dataclasses.replace(gen, tool_choice="none", forced_tool=None, calls_ruled_out=True)


def _signature(parts: list[ToolCallDelta]) -> Signature:
    name = next((p.name for p in parts if p.name), None)
    return signature(name, "".join(p.arguments for p in parts))


def applies(backend: ModelBackend, mode: str) -> bool:
    """Whether `mode` (--repeat-guard) guards `backend`."""
    return mode == "on" or (mode == "embedded" and backend.name in EMBEDDED)


def guarded(backend: ModelBackend, mode: str, earlier: frozenset[Signature] = frozenset()) -> ModelBackend:
    """`backend`, wrapped in a `RepeatGuard` when `mode` (--repeat-guard) applies to it."""
    if applies(backend, mode):
        return RepeatGuard(backend, earlier, same_tool=backend.name in EMBEDDED)
    return backend
