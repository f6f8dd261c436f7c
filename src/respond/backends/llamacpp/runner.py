"""The blocking side of the embedded backend: one model, its contexts, prompt and decode loop.

Everything here runs in a worker thread, one call at a time (the backend serialises them).
`plan` turns a `Generation` into tokens and decoding settings, raising `BackendError` for
requests that cannot be served; `run` decodes token by token, handing each piece to `emit`
and checking `stop` between tokens (and between prompt batches), so a cancelled request
frees the model within one token.
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from respond.core.errors import BackendError, ContextLengthExceeded
from respond.core.truncation import drop_oldest as _drop_oldest  # one policy for every backend
from respond.core.types import Generation, Message, ToolSpec, Usage
from respond.protocol.shapes import JSONObject, Logprob

from .cache import SlotPool, sharing_weights
from .freeform import freeform_grammar
from .grammar import NO_CALL_GRAMMAR, build_grammar
from .sampling import Sampler, Sampling, check_grammar, logprob_entry
from .template import ChatTemplate

log = logging.getLogger(__name__)

# Sampling defaults when a request leaves them unset: Qwen2.5's generation_config values,
# plus llama.cpp's min_p guard against the long tail of a small model.
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.8
DEFAULT_TOP_K = 20
DEFAULT_MIN_P = 0.05
# The prompt is decoded in chunks this size, checking for cancellation in between: about a second
# of work on two cores, and CPU prompt throughput barely changes between 128 and 512.
PROMPT_CHUNK = 128
# The last message of a turn whose calls are ruled out (the repeat guard asking again): with it and
# the no-call grammar the 0.5B model answers from the tool output; with either alone it does not.
ANSWER_HINT = "Answer the user's question with the tool results above, in plain words."


@dataclass(slots=True)
class Plan:
    """A request made concrete: the prompt tokens and how to decode."""

    tokens: list[int]
    max_new: int
    tool_mode: str  # "none" | "auto" | "constrained"
    tools: list[ToolSpec]
    parallel: bool
    grammar: str | None = None
    top_logprobs: int = 0
    logprobs: bool = False  # per-token logprobs of the output (top_logprobs alternatives each)
    think_open: bool = False  # the prompt ends inside `<think>` (the template opened the reasoning)
    sampling: Sampling = field(default_factory=lambda: Sampling())
    # A forced custom tool: the whole output is its freeform input (under its grammar, if any).
    freeform: str | None = None
    # prompt_cache_options.prewarm: decode the prompt into a slot's KV cache, sample nothing.
    prefill_only: bool = False


@dataclass(frozen=True, slots=True)
class Piece:
    """A decoded piece of text (possibly empty while a UTF-8 sequence is incomplete)."""

    text: str
    logprob: Logprob | None = None


class ModelRunner:
    """One GGUF model: lazily loaded contexts, its chat template, prompt planning, decoding."""

    def __init__(
        self,
        name: str,
        path: Path | Callable[[], Path],
        *,
        n_ctx: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        n_slots: int = 3,
        max_output: int = 0,
    ) -> None:
        self.name = name
        self._max_output = max_output  # output tokens when a request sets no max_output_tokens (0: no cap)
        self._path = path
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._n_batch = n_batch
        self._pool = SlotPool(self._new_context, n_slots)
        self._template: ChatTemplate | None = None
        self._lock = threading.Lock()  # guards the contexts even if a caller misbehaves
        # Planning reads only the vocabulary and the template, so it runs beside a decode.
        self._plan_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------

    def _new_context(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(
                "llama-cpp-python is not installed; run scripts/install-llama-cpp.sh", status=503
            ) from exc
        path = self._path() if callable(self._path) else self._path
        if not Path(path).is_file():
            raise BackendError(f"model file for {self.name} not found: {path}", status=503)
        owner = self._pool.slots[0].llm if self._pool.slots else None
        log.info(
            "opening a %s context (n_ctx=%s, threads=%d, weights %s)",
            self.name,
            self._n_ctx or "the model's trained context",
            self._n_threads,
            "shared" if owner else f"loaded from {path}",
        )
        with sharing_weights(owner):
            llm = Llama(
                model_path=str(path),
                n_ctx=self._n_ctx,
                n_batch=self._n_batch,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                logits_all=False,
                verbose=False,
            )
        if self._template is None:
            self._template = _template_of(llm)
        return llm

    def load(self) -> None:
        with self._lock:
            self._pool.any()

    @property
    def llm(self) -> Any:
        return self._pool.any().llm

    @property
    def template(self) -> ChatTemplate:
        self._pool.any()
        assert self._template is not None
        return self._template

    def close(self) -> None:
        with self._lock:
            self._pool.close()

    # -- planning --------------------------------------------------------------------------

    def tokenize_prompt(self, messages: list[Message], tools: list[ToolSpec], thinking: bool | None = None
                        ) -> list[int]:
        text = self.template.render(messages, tools, thinking)
        bos = self.llm.token_bos()
        tokens: list[int] = self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) > 1 and tokens[0] == bos and tokens[1] == bos:
            tokens = tokens[1:]  # the template wrote its own BOS
        return tokens

    def count_tokens(self, gen: Generation) -> int:
        """The prompt tokens `generate` would decode: `reasoning.effort` picks the template's thinking
        switch, `truncation: auto` drops the oldest turns as `plan` does (a context that does not
        fit with truncation disabled is counted whole)."""
        with self._lock:
            return len(self._fit(gen, list(gen.messages), _offered_tools(gen), strict=False))

    def plan(self, gen: Generation) -> Plan:
        """Tokenize and check a request; safe while another request decodes (the first use
        loads the model under the decoding lock)."""
        if not self._pool.slots:
            with self._lock:
                self._pool.any()
        with self._plan_lock:
            return self._plan(gen)

    def _plan(self, gen: Generation) -> Plan:
        tools = _offered_tools(gen)
        forced = gen.forced_tool or (gen.tool_choice if gen.tool_choice not in _MODES else None)
        n_ctx = int(self.llm.n_ctx())
        messages = list(gen.messages)
        if gen.calls_ruled_out and tools:
            messages.append({"role": "system", "content": ANSWER_HINT})
        tokens = self._fit(gen, messages, tools)
        plan = Plan(
            tokens=tokens,
            max_new=min(gen.max_output_tokens or self._max_output or n_ctx, n_ctx - len(tokens)),
            tool_mode="auto" if tools and not gen.calls_ruled_out else "none",
            tools=tools,
            parallel=gen.parallel_tool_calls,
            top_logprobs=gen.top_logprobs or 0,
            logprobs=gen.logprobs or bool(gen.top_logprobs),
            think_open=self.llm.detokenize(tokens[-4:], special=True).rstrip().endswith(b"<think>"),
            sampling=_sampling(gen),
            prefill_only=gen.prewarm,
        )
        schema = _response_schema(gen.response_format)
        if tools and (forced or gen.tool_choice == "required"):
            chosen = [t for t in tools if t.name == forced] if forced else tools
            if not chosen:
                raise BackendError(
                    f"tool_choice names an undeclared tool: {forced}", status=400, param="tool_choice"
                )
            plan.tool_mode, plan.tools = "constrained", chosen
            plan.parallel = gen.parallel_tool_calls and not forced
            if forced and chosen[0].grammar is not None:
                plan.freeform, plan.parallel = forced, False
                plan.grammar = freeform_grammar(chosen[0].grammar)
            else:
                plan.grammar = build_grammar(tools=chosen, parallel=plan.parallel)
        elif schema is not None:
            # A JSON answer, or (tool_choice auto) a call instead of it.
            plan.grammar = build_grammar(schema=schema, tools=[] if gen.calls_ruled_out else tools,
                                         parallel=gen.parallel_tool_calls)
        elif gen.calls_ruled_out and tools:
            plan.grammar = NO_CALL_GRAMMAR  # the tools are shown, but the answer is text
        if plan.grammar is not None:
            check_grammar(self.llm, plan.grammar)
        return plan

    def _fit(self, gen: Generation, messages: list[Message], tools: list[ToolSpec], strict: bool = True
             ) -> list[int]:
        """The prompt's tokens, its oldest turns dropped while it outgrows the context window (with
        `truncation: auto`); one that still does not fit is an error when `strict`."""
        n_ctx = int(self.llm.n_ctx())
        reserve = gen.max_output_tokens or 1
        tokens = self.tokenize_prompt(messages, tools, _thinking(gen))
        while len(tokens) + reserve > n_ctx:
            shorter = _drop_oldest(messages) if gen.truncation == "auto" else None
            if shorter is None:
                if not strict:
                    return tokens
                raise ContextLengthExceeded(
                    f"This model's maximum context length is {n_ctx} tokens. However, your input has "
                    f"{len(tokens)} tokens and max_output_tokens is {gen.max_output_tokens or 0}. "
                    "Shorten the input, lower max_output_tokens, or set truncation to 'auto'."
                )
            messages = shorter
            tokens = self.tokenize_prompt(messages, tools, _thinking(gen))
        return tokens

    # -- decoding --------------------------------------------------------------------------

    def run(self, plan: Plan, emit: Callable[[Piece], None], stop: threading.Event) -> tuple[str, Usage]:
        """Decode `plan`; return the finish reason ("stop", "length", "cancelled") and usage."""
        with self._lock:
            return self._run(plan, emit, stop)

    def _run(self, plan: Plan, emit: Callable[[Piece], None], stop: threading.Event) -> tuple[str, Usage]:
        from llama_cpp import llama_vocab_is_eog

        slot, cached = self._pool.acquire(plan.tokens)
        llm = slot.llm
        usage = Usage(input_tokens=len(plan.tokens), cached_tokens=cached)
        # Decode the uncached part of the prompt in batches, checking for cancellation.
        # (`eval` first drops whatever the cache holds beyond `n_tokens`.)
        if cached < len(plan.tokens) or cached < llm.n_tokens:
            cached = min(cached, len(plan.tokens) - 1)
            usage = Usage(input_tokens=len(plan.tokens), cached_tokens=cached)
            llm.n_tokens = cached
            rest = plan.tokens[cached:]
            step = min(self._n_batch, PROMPT_CHUNK)
            for i in range(0, len(rest), step):
                if stop.is_set():
                    return "cancelled", usage
                llm.eval(rest[i : i + step])
        if plan.prefill_only:  # the prompt is in the cache: a later request extending it reuses it
            return "stop", usage
        sampler = Sampler(llm, plan.sampling, plan.grammar)
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced, reason = 0, "length"
        try:
            while produced < plan.max_new:
                if stop.is_set():
                    reason = "cancelled"
                    break
                token = sampler.sample()
                if llama_vocab_is_eog(vocab, token):
                    reason = "stop"
                    break
                produced += 1
                data = llm.detokenize([token])
                logprob = logprob_entry(llm, token, data, plan.top_logprobs) if plan.logprobs else None
                emit(Piece(decoder.decode(data), logprob))
                if produced < plan.max_new:
                    llm.eval([token])
        finally:
            sampler.close()
        tail = decoder.decode(b"", final=True)
        if tail:
            emit(Piece(tail))
        return reason, Usage(input_tokens=len(plan.tokens), output_tokens=produced, cached_tokens=cached)


_MODES = ("auto", "none", "required")


def _offered_tools(gen: Generation) -> list[ToolSpec]:
    """The tools the prompt shows: none for tool_choice none, unless calls are only ruled out."""
    return [] if gen.tool_choice == "none" and not gen.calls_ruled_out else list(gen.tools)


def _thinking(gen: Generation) -> bool | None:
    """`reasoning.effort` as a thinking template's switch: off for `none`, on for any other effort."""
    return None if gen.reasoning_effort is None else gen.reasoning_effort != "none"


def _sampling(gen: Generation) -> Sampling:
    """The model's recommended sampling when the request sets neither temperature nor top_p;
    otherwise the request's values with OpenAI's defaults (1.0) for the other one."""
    defaults = gen.temperature is None and gen.top_p is None
    return {
        "temp": DEFAULT_TEMPERATURE if defaults else (1.0 if gen.temperature is None else gen.temperature),
        "top_p": DEFAULT_TOP_P if defaults else (1.0 if gen.top_p is None else gen.top_p),
        "top_k": DEFAULT_TOP_K if defaults else 0,
        "min_p": DEFAULT_MIN_P,
        "presence_penalty": gen.presence_penalty or 0.0,
        "frequency_penalty": gen.frequency_penalty or 0.0,
    }


def _response_schema(response_format: JSONObject | None) -> JSONObject | None:
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = response_format.get("schema")
        nested = response_format.get("json_schema")
        if schema is None and isinstance(nested, dict):
            schema = nested.get("schema")  # chat-completions nesting
        return schema if isinstance(schema, dict) else {}
    return None


def _template_of(llm: Any) -> ChatTemplate:
    def text(token: int) -> str:
        return str(llm._model.token_get_text(token)) if token >= 0 else ""

    return ChatTemplate(
        llm.metadata.get("tokenizer.chat_template"), text(llm.token_bos()), text(llm.token_eos())
    )
