"""backends/options.py and each backend's use of it: what a backend takes of issue 19's options, and the
400 naming any other (no model, no upstream: the checks run before a backend does any work)."""

from __future__ import annotations

from typing import Any

import pytest

from respond.backends.llamacpp.backend import check_options
from respond.backends.options import check_chat_cache, options_used, refuse_others
from respond.core.errors import BackendError
from respond.core.types import Generation


def gen(**kw: Any) -> Generation:
    return Generation(model="m", messages=kw.pop("messages", [{"role": "user", "content": "hi"}]), **kw)


def part(breakpoint: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "x", "prompt_cache_breakpoint": breakpoint}]}]


def test_options_used_names_what_the_request_set() -> None:
    assert options_used(gen()) == []
    assert options_used(gen(prompt_cache={"prewarm": False})) == []  # false is the default, not a request
    used = options_used(gen(prompt_cache={"mode": "explicit", "ttl": "30m", "prewarm": True},
                            prompt_cache_retention="24h", access_programs={"cyber": "standard"},
                            messages=part({"mode": "explicit"})))
    assert used == ["prompt_cache_options.mode", "prompt_cache_options.ttl", "prompt_cache_options.prewarm",
                    "prompt_cache_retention", "access_programs", "prompt_cache_breakpoint"]


def test_refuse_others_names_the_first_untaken() -> None:
    refuse_others(gen(access_programs={"cyber": "standard"}), ("access_programs",), "x")
    with pytest.raises(BackendError) as err:
        refuse_others(gen(messages=part({"mode": "explicit"})), (), "the test backend")
    assert err.value.status == 400 and err.value.param == "input"
    assert "prompt_cache_breakpoint" in err.value.message and "the test backend" in err.value.message


def test_embedded_takes_prewarm_and_breakpoints_without_a_lifetime() -> None:
    check_options(gen(prompt_cache={"prewarm": True}, prewarm=True, messages=part({"mode": "explicit"})))
    for bad, param in ((gen(messages=part({"mode": "explicit", "ttl": "30m"})), "input"),
                       (gen(prompt_cache={"ttl": "12h"}), "prompt_cache_options.ttl"),
                       (gen(prompt_cache_retention="in_memory"), "prompt_cache_retention")):
        with pytest.raises(BackendError) as err:
            check_options(bad)
        assert err.value.status == 400 and err.value.param == param


def test_chat_cache_takes_openai_chat_options_only_with_the_profile() -> None:
    ok = gen(prompt_cache={"mode": "explicit", "ttl": "30m"}, prompt_cache_retention="24h",
             messages=part({"mode": "explicit"}))
    check_chat_cache(ok, True, "up")
    with pytest.raises(BackendError) as err:
        check_chat_cache(ok, False, "up")
    assert err.value.param == "prompt_cache_options.mode"
    for bad, param in ((gen(prompt_cache={"ttl": "12h"}), "prompt_cache_options.ttl"),
                       (gen(prompt_cache={"prewarm": True}), "prompt_cache_options.prewarm")):
        with pytest.raises(BackendError) as err:
            check_chat_cache(bad, True, "up")
        assert err.value.param == param
