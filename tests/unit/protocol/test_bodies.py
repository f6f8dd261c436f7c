"""One body check per endpoint: unknown keys, required keys, and the create model's messages."""

from __future__ import annotations

import pytest

from respond.protocol.bodies import CONVERSATION_UPDATE, object_body, parse_compact, parse_input_tokens
from respond.protocol.errors import APIError, ErrorBody
from respond.protocol.vocabulary import CORE


def _error(fn: object, body: object) -> ErrorBody:
    with pytest.raises(APIError) as exc:
        fn(body, CORE)  # type: ignore[operator]
    return exc.value.envelope()["error"]


def test_object_body() -> None:
    assert object_body({"metadata": {}}, CONVERSATION_UPDATE, required="metadata") == {"metadata": {}}
    with pytest.raises(APIError, match="must be a JSON object"):
        object_body([], CONVERSATION_UPDATE)
    with pytest.raises(APIError, match="Missing required parameter: 'metadata'"):
        object_body({}, CONVERSATION_UPDATE, required="metadata")


def test_input_tokens_takes_a_subset_of_create() -> None:
    assert parse_input_tokens({"model": "m", "input": "hi", "personality": "x"}, CORE).input == "hi"
    err = _error(parse_input_tokens, {"model": "m", "stream": True})
    assert err["param"] == "stream" and err["code"] == "unknown_parameter"
    err = _error(parse_input_tokens, {"model": "m", "truncation": "sometimes"})
    assert err["param"] == "truncation" and "Supported values" in str(err["message"])


def test_compact_requires_a_model() -> None:
    assert parse_compact({"model": "m", "input": "hi", "image": {"context_compression": "auto"}}, CORE).model == "m"
    assert _error(parse_compact, {"model": "m", "image": "x"})["param"] == "image"
    assert _error(parse_compact, {"model": "m", "prompt_cache_retention": "1y"})["param"] == "prompt_cache_retention"
    assert _error(parse_compact, {"model": "m", "prompt_cache_options": {"prewarm": True}})["param"] == \
        "prompt_cache_options.prewarm"
    assert _error(parse_compact, {"model": "m", "prompt_cache_options": {"ttl": "12h"}})["param"] == \
        "prompt_cache_options.ttl"
    assert parse_compact({"model": "m", "safety_identifier": "u1"}, CORE).safety_identifier == "u1"
    err = _error(parse_compact, {"input": "hi"})
    assert err["code"] == "missing_required_parameter" and err["param"] == "model"
    assert _error(parse_compact, {"model": "m", "tools": []})["code"] == "unknown_parameter"
