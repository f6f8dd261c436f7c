"""engine/intake/prompt_cache.py: the diagnosis of a response against the one it is compared with."""

from __future__ import annotations

from typing import Any

import pytest

from respond.core.types import Usage
from respond.engine.intake.prompt_cache import diagnose

BASE: dict[str, Any] = {"model": "m", "prompt_cache_key": "k", "tools": [], "service_tier": "default",
                        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "reasoning": {"effort": None},
                        "usage": {"input_tokens": 40}}


def test_found_hit_unavailable() -> None:
    assert diagnose(BASE, None, Usage(10, 1)) == {"type": "comparison_response_not_found"}
    assert diagnose(BASE, BASE, None) == {"type": "unavailable"}
    assert diagnose(BASE, BASE, Usage(50, 1, cached_tokens=30)) == {"type": "cache_hit"}


@pytest.mark.parametrize(("change", "reason"), [
    ({"model": "other"}, "model_changed"),
    ({"prompt_cache_key": "k2"}, "prompt_cache_key_changed"),
    ({"tools": [{"type": "function", "name": "f"}]}, "tools_changed"),
    ({"text": {"format": {"type": "json_object"}, "verbosity": "medium"}}, "text_format_changed"),
    ({"reasoning": {"effort": "high"}}, "reasoning_effort_changed"),
    ({"text": {"format": {"type": "text"}, "verbosity": "low"}}, "verbosity_changed"),
    ({"service_tier": "flex"}, "service_tier_changed"),
    ({}, "input_changed"),
])
def test_a_miss_names_the_first_change(change: dict[str, Any], reason: str) -> None:
    got = diagnose({**BASE, **change}, BASE, Usage(input_tokens=50, output_tokens=1))
    assert got == {"type": "cache_miss", "reason": reason, "cache_missed_tokens": 50,
                   "comparison_reusable_tokens": 40}
