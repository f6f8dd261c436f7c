"""The admin API's key body (`KeyBody`): every field checked where the body enters, a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from respond.core.tenants import LIMIT_NAMES, KeyLimits
from respond.engine.tenants.key_admin import KeyBody, LimitsBody
from respond.protocol.bodies import parse
from respond.protocol.errors import APIError


def _param(body: Any) -> tuple[str | None, str | None]:
    with pytest.raises(APIError) as exc:
        parse(KeyBody, body)
    error = exc.value.envelope()["error"]
    return error["param"], error["code"]


def test_limits_are_the_core_limits() -> None:
    assert set(LimitsBody.model_fields) == set(LIMIT_NAMES)
    body = parse(KeyBody, {"limits": {"rpm": 3, "tpm": None}})
    assert body.key_limits() == KeyLimits(rpm=3)
    assert parse(KeyBody, {}).key_limits() == KeyLimits()


def test_a_bad_field_is_named() -> None:
    assert _param({"limits": {"rps": 1}}) == ("limits.rps", "unknown_parameter")
    assert _param({"limits": {"rpm": -1}}) == ("limits.rpm", "integer_below_min_value")
    assert _param({"limits": {"rpm": True}}) == ("limits.rpm", "invalid_type")
    assert _param({"label": "x" * 201}) == ("label", "string_above_max_length")
    assert _param({"label": "a\0b"}) == ("label", "invalid_value")
    assert _param({"models": ["ok", ""]}) == ("models[1]", "empty_string")
    assert _param({"models": ["m"] * 101}) == ("models", "array_above_max_length")
    assert _param({"expires_in": 0}) == ("expires_in", "integer_below_min_value")
    assert _param({"expires_in": 60, "expires_at": 9}) == ("expires_in", "invalid_value")
    assert _param({"colour": 1}) == ("colour", "unknown_parameter")


def test_expiry_and_fields_sent() -> None:
    assert parse(KeyBody, {"expires_in": 60}).expiry(1000.5) == 1060
    assert parse(KeyBody, {"expires_at": 5000}).expiry(1000) == 5000
    assert parse(KeyBody, {"label": None}).model_fields_set == {"label"}  # an update changes what is sent
