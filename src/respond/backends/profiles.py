"""Upstream profiles: what an upstream supports, so Respond can adapt instead of trusting it.

Real upstreams differ (issue 18): llama-cpp-python's server sends no usage in streams, accepts
structured output only as `json_object` with a `schema`, and ignores `tool_choice` with its default
chat format.  A profile says so; backends read it:

- `stream_usage`: usage comes in streams.  Whatever the profile says, a stream that ends without
  usage (or with 0 output tokens after producing output) is counted by Respond: with the
  upstream's tokenizer when the profile names one (`tokenize_path`, a POST taking
  `{"input", "model"}` and answering `{"count"}` or `{"tokens"}`), else estimated (see `estimate`).
- `structured_output`: `json_schema` (the upstream enforces a schema), `json_object_schema`
  (`{"type": "json_object", "schema": ...}`, llama-cpp-python), `json_object` (JSON only) or
  `none`.  Short of `json_schema`, Respond asks in the upstream's own form and validates the output
  against the schema itself: output that does not match fails the response, naming the upstream's
  limitation.
- `prompt_cache`: the upstream takes OpenAI's prompt-caching options on chat completions (the
  `openai` preset); elsewhere a request setting them is a 400 naming the option (issue 19).
- `tool_choice_support`: the upstream honours `tool_choice` `required` / a named function.  Either
  way a required call that did not come back fails the response with an error naming the profile
  (never a completed response that says a requirement held).

`profile=auto` probes the upstream at start (`adapt.probe`): the endpoints only one server has
(llama-cpp-python's `/extras/tokenize/count`, Ollama's `/api/version`, vLLM's `/version`) name
its preset; an upstream that answers none of them, or cannot be reached, gets `default`.

Presets (`profile=NAME`) with individual overrides as options (`--backend
openai_compat:base_url=...,profile=llama-cpp-server,structured_output=json_schema`, or the keys of
an upstream's `[upstreams.options]` table).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

STRUCTURED = ("json_schema", "json_object_schema", "json_object", "none")


@dataclass(frozen=True)
class Profile:
    name: str = "default"
    stream_usage: bool = True
    structured_output: str = "json_schema"
    tool_choice_support: bool = True
    tokenize_path: str | None = None  # from the server's root, e.g. "/extras/tokenize/count"
    # The upstream takes OpenAI's prompt-caching options on chat completions (`prompt_cache_options`
    # mode and ttl `30m`, `prompt_cache_retention`, parts' `prompt_cache_breakpoint`); without it
    # they are a 400 naming them (backends/options.py).
    prompt_cache: bool = False


PRESETS: dict[str, Profile] = {
    "default": Profile(),
    "openai": Profile("openai", prompt_cache=True),
    "vllm": Profile("vllm"),
    "ollama": Profile("ollama"),
    "llama-cpp-server": Profile("llama-cpp-server", stream_usage=False, structured_output="json_object_schema",
                                tool_choice_support=False, tokenize_path="/extras/tokenize/count"),
}

OVERRIDES = tuple(f.name for f in fields(Profile) if f.name != "name")


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"Upstream option {key} takes true or false, got {value!r}.")


def build_profile(name: str | None = None, **overrides: Any) -> Profile:
    """A preset (default: `default`) with the given fields replaced; unknown names are errors."""
    preset = PRESETS.get("default" if name in (None, "auto") else name)
    if preset is None:
        known = ", ".join(sorted([*PRESETS, "auto"]))
        raise ValueError(f"Unknown upstream profile {name!r}. Known profiles: {known}.")
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("stream_usage", "tool_choice_support", "prompt_cache"):
            changes[key] = as_bool(key, value)
        elif key == "structured_output":
            if value not in STRUCTURED:
                raise ValueError(f"structured_output must be one of {', '.join(STRUCTURED)}, got {value!r}.")
            changes[key] = value
        elif key == "tokenize_path":
            changes[key] = str(value) or None
        else:
            raise ValueError(f"Unknown upstream profile setting {key!r}. Known: {', '.join(OVERRIDES)}.")
    return replace(preset, **changes)


def estimate(text: str) -> int:
    """Respond's documented token estimate when no tokenizer answers: one token per 4 characters of
    UTF-8 text, rounded up, and at least 1 for any non-empty text (never 0 for output that exists)."""
    if not text:
        return 0
    return max(1, -(-len(text.encode()) // 4))
