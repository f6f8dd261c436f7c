"""The request options a backend may or may not take (issue 19): never accepted and ignored.

A `Generation` carries the prompt-caching options (`prompt_cache_options` mode/ttl/prewarm, the
deprecated `prompt_cache_retention`, content parts' `prompt_cache_breakpoint`) and `access_programs`
as the client sent them.  Each backend names what it applies or passes on (`refuse_others`); any
other one set in the request is a 400 naming it, raised before the first delta, so the client is
told instead of getting an answer that silently did without it.
"""

from __future__ import annotations

from collections.abc import Collection

from respond.core.errors import BackendError
from respond.core.types import Generation, Message

BREAKPOINT = "prompt_cache_breakpoint"


def has_breakpoint(messages: list[Message]) -> bool:
    """Whether a content part of `messages` sets a cache breakpoint (a loop, not `any` over a generator:
    this reads the whole context on every turn)."""
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for p in content:
                if isinstance(p, dict) and p.get(BREAKPOINT) is not None:
                    return True
    return False


def options_used(gen: Generation) -> list[str]:
    """The options `gen` sets, by their request names (`prompt_cache_options.ttl`, ...)."""
    used = [f"prompt_cache_options.{key}" for key, value in (gen.prompt_cache or {}).items()
            if value is not None and not (key == "prewarm" and value is False)]
    if gen.prompt_cache_retention is not None:
        used.append("prompt_cache_retention")
    if gen.access_programs is not None:
        used.append("access_programs")
    if gen.reasoning_mode is not None:
        used.append("reasoning.mode")
    if has_breakpoint(gen.messages):
        used.append(BREAKPOINT)
    return used


def refuse_others(gen: Generation, takes: Collection[str], who: str) -> None:
    """A 400 naming the first option `gen` sets that is not in `takes` (what `who` applies or passes on)."""
    for name in options_used(gen):
        if name in takes:
            continue
        param = "input" if name == BREAKPOINT else name  # a part of some input item
        raise BackendError(f"'{name}' is not supported by {who}: it would have no effect there. Remove it, or "
                           "use a model served by an upstream that takes it.", status=400,
                           code="unsupported_parameter", param=param)


# The prompt-caching options OpenAI's chat completions take (with the profile setting `prompt_cache`).
CHAT_CACHE_OPTIONS = ("prompt_cache_options.mode", "prompt_cache_options.ttl", "prompt_cache_retention", BREAKPOINT)


def check_chat_cache(gen: Generation, prompt_cache: bool, who: str) -> None:
    """A chat-completions upstream: the caching options as OpenAI's chat completions take them (ttl `30m`
    only, no prewarm) when its profile says it takes them (`prompt_cache`); anything else a 400 naming it."""
    refuse_others(gen, CHAT_CACHE_OPTIONS if prompt_cache else (), who)
    ttl = (gen.prompt_cache or {}).get("ttl")
    if ttl not in (None, "30m"):
        raise BackendError(f"'prompt_cache_options.ttl' {ttl!r} is not supported by {who}: chat completions take "
                           "'30m' only.", status=400, code="unsupported_value", param="prompt_cache_options.ttl")
