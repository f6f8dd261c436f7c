"""`ModelBackend` for an upstream that speaks /v1/responses (vLLM, SGLang, Ollama, LM Studio, OpenAI).

Respond keeps all the state (chains, conversations, storage, background runs, the hosted tools it
runs) and asks the upstream statelessly: `store: false`, no `previous_response_id`, the whole
input every turn (`responses_wire.request_body`).  Reasoning round-trips: the upstream's reasoning
item (its id and `encrypted_content`) is kept with Respond's own item and sent back on later turns.
Hosted tools Respond runs are offered to the upstream as functions, like every client-run tool.

The transport (timeouts, bounded pool, status mapping) is `upstream_http.py`'s; what the upstream
cannot do is handled by `adapt.Adapter` under its `profiles.Profile`.  Built by the registry as
`openai_responses` (`--backend openai_responses:base_url=...`, or an upstream of kind `responses`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from respond.backends.http1 import HTTPError
from respond.backends.profiles import as_bool
from respond.backends.responses_wire import StreamReader, request_body
from respond.backends.upstream_base import UpstreamBackend, error_message
from respond.backends.upstream_http import (
    Exchange,
    UpstreamLimits,
    bad_reply,
    sse_json,
    status_error,
)
from respond.core.types import Delta, Generation

log = logging.getLogger("respond.upstream")

NATIVE = frozenset({"custom"})  # the client-run tool types that can go upstream natively


class OpenAIResponsesBackend(UpstreamBackend):
    name = "openai_responses"
    vision = True  # image parts are passed on (an upstream without vision answers for itself)
    # True: input files go upstream as input_file parts (OpenAI); False (default, as most local
    # servers take no files): their extracted text goes in the prompt.
    file_parts = False
    # The smallest max_output_tokens the Responses API takes (a token count asks for one generation:
    # engine/assemble/compaction.py `count_tokens`).
    min_output_tokens = 16

    def __init__(self, base_url: str, api_key: str | None = None, models: list[str] | str | None = None,
                 limits: UpstreamLimits | None = None, profile: str | None = None,
                 encrypted_reasoning: bool | str = True, file_parts: bool | str | None = None,
                 native_tools: str | list[str] = "", **settings: Any) -> None:
        # False for an upstream that rejects include: ["reasoning.encrypted_content"] (reasoning
        # then cannot round-trip through it; its text still goes back as reasoning_text).
        self.encrypted_reasoning = as_bool("encrypted_reasoning", encrypted_reasoning)
        # Client-run tool types the upstream takes natively (`custom`): offered as themselves, their
        # calls read back; others (and every type by default) go as functions.
        kinds = native_tools.split(";") if isinstance(native_tools, str) else native_tools
        self.native_tools = frozenset(k.strip() for k in kinds if k.strip())
        if self.native_tools - NATIVE:
            raise ValueError(f"native_tools takes {', '.join(sorted(NATIVE))}; got {sorted(self.native_tools)}.")
        if file_parts is not None:
            self.file_parts = as_bool("file_parts", file_parts)
        # profile settings: stream_usage, structured_output, tool_choice_support, tokenize_path
        self._connect(base_url, api_key, models, limits, profile, settings)

    async def _open(self, gen: Generation) -> Exchange:
        body = request_body(gen, encrypted_reasoning=self.encrypted_reasoning,
                            structured=self.profile.structured_output, native_tools=self.native_tools)
        ex = await self.http.send("POST", "/responses", orjson.dumps(body))
        if ex.resp.status < 400:
            return ex
        try:
            raw = await ex.read()
        finally:
            ex.close()
        message, code, param = error_message(ex.resp.status, raw)
        if ex.resp.status == 400 and (code == "context_length_exceeded" or "context length" in message.lower()):
            code, param = "context_length_exceeded", "input"
        raise status_error(self.base_url, ex.resp.status, message, code, param)

    def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        return self._generate(gen)

    async def _generate(self, gen: Generation) -> AsyncIterator[Delta]:
        """The upstream's events as deltas, the profile's checks (`adapt.Tally`) kept inline: one generator."""
        tally = self.profiled.adapter.tally(gen)
        see = tally.see
        ex = await self._open(gen)
        try:
            ex.check_event_stream()
            reader = StreamReader(self.base_url)
            try:  # (the connection's errors mapped here: no generator layer between it and this one)
                async for batch in ex.lines():
                    for raw in batch:
                        if not raw.startswith(b"data:"):
                            continue
                        data = raw[5:].strip()
                        if not data or data == b"[DONE]":
                            continue
                        for delta in reader.feed(sse_json(self.base_url, data)):
                            see(delta)
                            yield delta
            except (HTTPError, OSError) as exc:  # (a timeout is an OSError)
                raise ex.failed(exc) from (None if isinstance(exc, TimeoutError) else exc)
            finish = reader.finish
            if finish is None:
                raise bad_reply(self.base_url, "the stream ended without response.completed")
        finally:
            # Fully read: the connection goes back to the pool; cut short: closed, which stops the upstream.
            ex.close()
        yield await tally.end(finish)
