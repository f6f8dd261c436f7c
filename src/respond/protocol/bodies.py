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
from respond.protocol.requests import CreateResponse, parse_create
from respond.protocol.vocabulary import Vocabulary

INPUT_TOKENS = frozenset({"conversation", "input", "instructions", "model", "parallel_tool_calls", "personality",
                          "previous_response_id", "reasoning", "text", "tool_choice", "tools", "truncation"})
COMPACT = frozenset({"model", "input", "instructions", "previous_response_id", "prompt_cache_key",
                     "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "service_tier", "image"})
COMPACT_TIERS = ("auto", "default", "fast", "flex", "priority")
# Compact options this server cannot act on: a 400 naming them (null is accepted as absent).
COMPACT_UNSUPPORTED = {
    "prompt_cache_options": "this server does not pass prompt cache options to the model",
    "prompt_cache_retention": "this server does not pass a prompt cache retention to the model",
}
CONVERSATION_CREATE = frozenset({"items", "metadata"})
CONVERSATION_UPDATE = frozenset({"metadata"})
CONVERSATION_ITEMS = frozenset({"items"})


def object_body(body: Any, allowed: Collection[str], required: str | None = None) -> dict[str, Any]:
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
    """`POST /responses/compact`: `model` is required; every option is validated as on a create, then
    applied (input, instructions, previous_response_id, image), passed on to the model
    (prompt_cache_key, safety_identifier, service_tier) or refused (`COMPACT_UNSUPPORTED`)."""
    body = object_body(body, COMPACT)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    for key, why in COMPACT_UNSUPPORTED.items():
        if body.get(key) is not None:
            raise invalid(f"'{key}' is not supported on /responses/compact: {why}. Remove the parameter.",
                          key, "unsupported_parameter")
    tier = body.get("service_tier")
    if isinstance(tier, str) and tier not in COMPACT_TIERS:
        listed = ", ".join(f"'{t}'" for t in COMPACT_TIERS)
        raise invalid(f"Invalid value: '{tier}'. Supported values are: {listed}.", "service_tier", "invalid_value")
    return parse_create(body, vocabulary)
