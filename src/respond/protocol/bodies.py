"""The request bodies of the endpoints other than `POST /responses`: one checked shape each.

Every body is a JSON object whose keys an endpoint lists (anything else is an
`unknown_parameter` 400 naming it), with its required key; the endpoints that take a subset of
the create parameters then validate it with the create model, so that a bad value gets the same
message everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from respond.protocol.errors import invalid
from respond.protocol.jsonvalue import JSONObject
from respond.protocol.requests import CreateResponse, parse_create
from respond.protocol.vocabulary import Vocabulary

INPUT_TOKENS = frozenset({"conversation", "input", "instructions", "model", "parallel_tool_calls", "personality",
                          "previous_response_id", "reasoning", "text", "tool_choice", "tools", "truncation"})
COMPACT = frozenset({"model", "input", "instructions", "previous_response_id", "prompt_cache_key",
                     "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "service_tier", "image"})
COMPACT_TIERS = ("auto", "default", "fast", "flex", "priority")
COMPACT_CACHE_OPTIONS = ("mode", "ttl")  # the compact params' prompt_cache_options (create's also take prewarm, ...)
CONVERSATION_CREATE = frozenset({"items", "metadata"})
CONVERSATION_UPDATE = frozenset({"metadata"})
CONVERSATION_ITEMS = frozenset({"items"})


def object_body(body: Any, allowed: Collection[str], required: str | None = None) -> JSONObject:
    """The request body: a JSON object with only `allowed` keys, `required` among them."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", None, "invalid_json")
    for key in body:
        if key not in allowed:
            raise invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if required is not None and required not in body:
        raise invalid(f"Missing required parameter: '{required}'.", required, "missing_required_parameter")
    return body


def parse_input_tokens(body: Any, vocabulary: Vocabulary) -> CreateResponse:
    """`POST /responses/input_tokens` (`personality` is accepted and has no effect on a count)."""
    body = object_body(body, INPUT_TOKENS)
    return parse_create({k: v for k, v in body.items() if k != "personality"}, vocabulary)


def parse_compact(body: Any, vocabulary: Vocabulary) -> CreateResponse:
    """`POST /responses/compact`: `model` is required; every option is validated as on a create (and
    to the compact params' narrower values), then applied (input, instructions, previous_response_id,
    image) or passed on to the model (prompt_cache_key, safety_identifier, service_tier, the prompt
    caching options: a backend that cannot take one answers a 400 naming it, backends/options.py)."""
    body = object_body(body, COMPACT)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    options = body.get("prompt_cache_options")
    if isinstance(options, dict):
        for key in options:
            if key not in COMPACT_CACHE_OPTIONS:
                raise invalid(f"Unknown parameter: 'prompt_cache_options.{key}'.", f"prompt_cache_options.{key}",
                              "unknown_parameter")
        if options.get("ttl") not in (None, "30m"):
            raise invalid(f"Invalid value: '{options['ttl']}'. Supported values are: '30m'.",
                          "prompt_cache_options.ttl", "invalid_value")
    tier = body.get("service_tier")
    if isinstance(tier, str) and tier not in COMPACT_TIERS:
        listed = ", ".join(f"'{t}'" for t in COMPACT_TIERS)
        raise invalid(f"Invalid value: '{tier}'. Supported values are: {listed}.", "service_tier", "invalid_value")
    return parse_create(body, vocabulary)
