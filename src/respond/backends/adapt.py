"""What Respond does for an upstream short of a capability (its `Profile`), around the deltas of
one turn; used by both upstream kinds (chat completions and /v1/responses).

At the turn's `Finish`:

1. A required tool call (`tool_choice: required`, or a named function) that did not come back
   fails the turn (502 `upstream_tool_choice_unsupported`) with a message naming the upstream and
   its profile: the client is never told a requirement held when it did not.
2. Structured output the upstream cannot enforce (profile `structured_output` short of
   `json_schema`) is validated here: output that is not JSON, or not valid against the schema,
   fails the turn (502 `upstream_structured_output`) naming the limitation; output that is valid
   passes, and the log says Respond validated it.
3. Usage: missing usage, or 0 tokens for a turn that produced output, is counted by Respond: the
   upstream's tokenizer when the profile names one, else `profiles.estimate` (never 0 for output
   that exists).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson

from respond.backends.profiles import Profile, build_profile, estimate
from respond.backends.upstream_http import UpstreamLimits, UpstreamTransport
from respond.core.errors import BackendError
from respond.core.types import (
    Delta,
    Finish,
    Generation,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)

log = logging.getLogger("respond.upstream")

Counter = Callable[[str, str], Awaitable[int | None]]
"""(model, text) -> the upstream tokenizer's count, or None when it cannot say."""


def _message_text(gen: Generation) -> str:
    pieces: list[str] = []
    for m in gen.messages:
        content = m.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            pieces.append(f"{fn.get('name', '')} {fn.get('arguments', '')}")
    pieces += [orjson.dumps({"name": t.name, "parameters": t.parameters}).decode() for t in gen.tools]
    return "\n".join(pieces)


class Adapter:
    def __init__(self, base_url: str, profile: Profile, counter: Counter | None = None) -> None:
        self.base_url = base_url
        self.profile = profile
        self.counter = counter

    def _who(self) -> str:
        return f"the upstream at {self.base_url} (profile {self.profile.name!r})"

    def tally(self, gen: Generation) -> Tally:
        """What one turn's deltas must be checked and counted against: the backend's own generator
        reports each delta to it (`see`, or the lists directly) and ends with `end(finish)`, in place
        of a generator wrapped around it (each layer of generators costs a step per delta)."""
        return Tally(self, gen)

    async def run(self, gen: Generation, deltas: AsyncIterator[Delta]) -> AsyncIterator[Delta]:
        """`deltas` with the checks applied at its `Finish` (for a backend that does not keep a `Tally`)."""
        tally = self.tally(gen)
        async for delta in deltas:
            if isinstance(delta, Finish):
                delta = await tally.end(delta)
            else:
                tally.see(delta)
            yield delta

    def _check_tools(self, gen: Generation, calls: dict[int, str]) -> None:
        if not gen.tools or not (gen.tool_choice == "required" or gen.forced_tool):
            return
        wanted = f"a call of {gen.forced_tool}" if gen.forced_tool else "a tool call"
        if gen.forced_tool is None and calls or gen.forced_tool in calls.values():
            return
        why = (" Its profile says it does not enforce tool_choice (llama-cpp-python's server ignores it with "
               "its default chat format); use an upstream or chat format that does, or do not require a call."
               if not self.profile.tool_choice_support else " It did not honour tool_choice.")
        raise BackendError(f"tool_choice required {wanted}, but {self._who()} answered without one.{why}",
                           status=502, code="upstream_tool_choice_unsupported", param="tool_choice")

    def _check_format(self, gen: Generation, text: str) -> None:
        fmt = gen.response_format
        mode = self.profile.structured_output
        if fmt is None or mode == "json_schema" or (fmt["type"] == "json_object" and mode != "none"):
            return
        limit = f"{self._who()} cannot enforce {fmt['type']} (it supports {mode}), so Respond validated the output"
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BackendError(f"{limit}: it is not JSON.", status=502, code="upstream_structured_output",
                               param="text.format") from None
        if fmt["type"] == "json_schema":
            import jsonschema  # on the first output checked against a schema, not at the server's start

            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(fmt["schema"]).iter_errors(value))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                raise BackendError(f"{limit}: it does not match the schema at {where}: {error.message}",
                                   status=502, code="upstream_structured_output", param="text.format")
        log.info("validated the output of %s against %s: valid", self._who(), fmt.get("name") or fmt["type"])

    async def _usage(self, gen: Generation, usage: Usage | None, produced: str) -> Usage | None:
        if usage is not None and (usage.output_tokens or not produced):
            return usage
        base = usage or Usage()
        n_in = base.input_tokens or await self._count(gen.model, _message_text(gen))
        n_out = await self._count(gen.model, produced)
        return Usage(input_tokens=n_in, output_tokens=max(n_out, 1 if produced else 0),
                     cached_tokens=base.cached_tokens, reasoning_tokens=base.reasoning_tokens)

    async def _count(self, model: str, text: str) -> int:
        if self.counter is not None and text:
            try:
                counted = await self.counter(model, text)
            except BackendError as exc:
                log.warning("the tokenizer of %s failed (%s); estimating", self._who(), exc.message)
                counted = None
            if counted is not None:
                return counted
        return estimate(text)


class Tally:
    """One turn's output so far, for the adapter's checks at its end: `text` (output text), `other`
    (reasoning, refusals, call names and arguments: output too) and `calls` (index -> name)."""

    __slots__ = ("adapter", "gen", "text", "other", "calls")

    def __init__(self, adapter: Adapter, gen: Generation) -> None:
        self.adapter = adapter
        self.gen = gen
        self.text: list[str] = []
        self.other: list[str] = []
        self.calls: dict[int, str] = {}

    def see(self, delta: Delta) -> None:
        if isinstance(delta, TextDelta):
            self.text.append(delta.text)
        elif isinstance(delta, (ReasoningDelta, RefusalDelta)):
            self.other.append(delta.text)
        elif isinstance(delta, ToolCallDelta):
            self.call(delta)

    def call(self, delta: ToolCallDelta) -> None:
        if delta.name:
            self.calls[delta.index] = delta.name
        self.other.append((delta.name or "") + delta.arguments)

    async def end(self, finish: Finish) -> Finish:
        """The turn's `Finish`, once its tool calls and format are checked, with its usage counted if missing."""
        adapter, gen, text = self.adapter, self.gen, "".join(self.text)
        adapter._check_tools(gen, self.calls)
        adapter._check_format(gen, text)
        return Finish(finish.reason, await adapter._usage(gen, finish.usage, text + "".join(self.other)))


async def tokenizer_count(http: Any, path: str, model: str, text: str) -> int | None:
    """The count from a tokenizer endpoint answering {"count"} or {"tokens"} (`http`: an UpstreamTransport)."""
    ex = await http.send("POST", path, orjson.dumps({"input": text, "model": model}))
    try:
        raw = await ex.read()
        if ex.resp.status >= 400:
            return None
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    finally:
        ex.close()
    if isinstance(data, dict) and isinstance(data.get("count"), int):
        return int(data["count"])
    if isinstance(data, dict) and isinstance(data.get("tokens"), list):
        return len(data["tokens"])
    return None


async def _answers(http: Any, method: str, path: str, body: bytes | None, key: str) -> bool:
    """True when `path` answers 2xx with a JSON object holding `key`."""
    try:
        ex = await http.send(method, path, body)
    except BackendError:
        return False
    try:
        raw = await ex.read()
        value = orjson.loads(raw) if ex.resp.status < 300 else None
    except (BackendError, orjson.JSONDecodeError):
        value = None
    finally:
        ex.close()
    return isinstance(value, dict) and key in value


async def probe(root: Any) -> str:
    """The preset of the server behind `root` (an UpstreamTransport on the server's root URL)."""
    if await _answers(root, "POST", "/extras/tokenize/count", orjson.dumps({"input": "a"}), "count"):
        return "llama-cpp-server"
    if await _answers(root, "GET", "/api/version", None, "version"):
        return "ollama"
    if await _answers(root, "GET", "/version", None, "version"):
        return "vllm"
    return "default"


class Profiled:
    """A backend's profile, the tokenizer it names and the adapter using them; `profile=auto` is
    probed by `probe()` (the backend's warm-up, at start)."""

    def __init__(self, base_url: str, headers: dict[str, str], limits: UpstreamLimits, profile: str | None,
                 overrides: Mapping[str, object]) -> None:  # profile settings as given: build_profile checks them
        self._name, self._overrides = profile, overrides
        self.profile = build_profile(profile, **overrides)
        self._root = UpstreamTransport(base_url.removesuffix("/v1"), headers, limits)
        self.adapter = Adapter(base_url, self.profile, self._count)

    async def _count(self, model: str, text: str) -> int | None:
        path = self.profile.tokenize_path
        return await tokenizer_count(self._root, path, model, text) if path else None

    async def probe(self) -> None:
        if self._name != "auto":
            return
        found = await probe(self._root)
        self.profile = self.adapter.profile = build_profile(found, **self._overrides)
        log.info("the upstream at %s looks like %s: profile %s", self.adapter.base_url, found, self.profile)

    async def close(self) -> None:
        await self._root.close()
