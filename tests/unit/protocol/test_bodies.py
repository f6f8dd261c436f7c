"""One body model per endpoint: unknown keys, required keys, and the create model's messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from respond.protocol.bodies import (
    AddConversationItems,
    CompactResponse,
    CountInputTokens,
    CreateConversation,
    UpdateConversation,
    parse,
)
from respond.protocol.errors import APIError, ErrorBody


def _error(model: type[BaseModel], body: Any) -> ErrorBody:
    with pytest.raises(APIError) as exc:
        parse(model, body)
    assert exc.value.status == 400
    return exc.value.envelope()["error"]


def test_parse_wants_an_object_with_the_required_keys() -> None:
    assert parse(UpdateConversation, {"metadata": {}}).metadata == {}
    assert parse(UpdateConversation, {"metadata": None}).metadata is None  # null clears it
    assert _error(UpdateConversation, [])["message"] == "The request body must be a JSON object."
    err = _error(UpdateConversation, {})
    assert (err["message"], err["param"], err["code"]) == (
        "Missing required parameter: 'metadata'.", "metadata", "missing_required_parameter")
    err = _error(AddConversationItems, {"items": [], "colour": 1})
    assert (err["message"], err["param"], err["code"]) == ("Unknown parameter: 'colour'.", "colour",
                                                           "unknown_parameter")


def test_conversation_bodies_bound_items_and_check_metadata() -> None:
    err = _error(CreateConversation, {"items": [{"role": "user", "content": "x"}] * 21})
    assert (err["param"], err["code"]) == ("items", "array_above_max_length")
    assert err["message"] == ("Invalid 'items': array too long. Expected an array with maximum length 20, but got "
                              "an array with length 21 instead.")
    assert _error(CreateConversation, {"items": "x"})["message"] == \
        "Invalid type for 'items': expected an array, but got a string instead."
    assert _error(CreateConversation, {"items": ["x"]})["param"] == "items[0]"
    err = _error(CreateConversation, {"metadata": {"k": 1}})
    assert (err["param"], err["code"]) == ("metadata.k", "invalid_type")
    assert _error(UpdateConversation, {"metadata": {f"k{i}": "v" for i in range(17)}})["param"] == "metadata"
    assert _error(CreateConversation, {"safety_identifier": "u"})["code"] == "unknown_parameter"


def test_input_tokens_takes_a_subset_of_create() -> None:
    body = parse(CountInputTokens, {"model": "m", "input": "hi", "personality": "x"})
    req = body.create()
    assert (req.input, req.model, req.truncation, req.parallel_tool_calls) == ("hi", "m", "disabled", True)
    assert req.model_fields_set == {"model", "input"}  # personality has no effect on a count
    err = _error(CountInputTokens, {"model": "m", "stream": True})
    assert err["param"] == "stream" and err["code"] == "unknown_parameter"
    err = _error(CountInputTokens, {"model": "m", "truncation": "sometimes"})
    assert err["param"] == "truncation" and "Supported values" in str(err["message"])
    # nested objects are checked by the create's strict models: the same message as on a create
    err = _error(CountInputTokens, {"model": "m", "reasoning": {"effort": "huge"}})
    assert err["param"] == "reasoning.effort" and err["code"] == "invalid_value"
    assert _error(CountInputTokens, {"text": {"colour": 1}})["param"] == "text.colour"


def test_compact_requires_a_model_and_takes_the_narrower_values() -> None:
    req = parse(CompactResponse, {"model": "m", "input": "hi", "image": {"context_compression": "auto"}}).create()
    assert (req.model, req.image) == ("m", {"context_compression": "auto"})
    assert _error(CompactResponse, {"model": "m", "image": "x"})["param"] == "image"
    assert _error(CompactResponse, {"model": "m", "prompt_cache_retention": "1y"})["param"] == "prompt_cache_retention"
    err = _error(CompactResponse, {"model": "m", "prompt_cache_options": {"prewarm": True}})
    assert (err["param"], err["code"]) == ("prompt_cache_options.prewarm", "unknown_parameter")
    err = _error(CompactResponse, {"model": "m", "prompt_cache_options": {"ttl": "12h"}})
    assert (err["param"], err["message"]) == ("prompt_cache_options.ttl",
                                              "Invalid value: '12h'. Supported values are: '30m'.")
    err = _error(CompactResponse, {"model": "m", "service_tier": "scale"})
    assert err["param"] == "service_tier" and "'priority'" in err["message"]
    assert parse(CompactResponse, {"model": "m", "safety_identifier": "u1"}).create().safety_identifier == "u1"
    err = _error(CompactResponse, {"input": "hi"})
    assert err["code"] == "missing_required_parameter" and err["param"] == "model"
    err = _error(CompactResponse, {"model": ""})
    assert (err["param"], err["code"]) == ("model", "empty_string")
    assert _error(CompactResponse, {"model": "m", "tools": []})["code"] == "unknown_parameter"
