"""The backend registry decides: specs, options from configuration, capabilities by protocol."""

from __future__ import annotations

import pytest

from respond import backends
from respond.backends.scripted import ScriptedBackend
from respond.bootstrap import build_backends
from respond.config import Settings
from respond.core.ports import HasDefaultModel, TokenCounter, WarmsUp


def test_spec_with_options() -> None:
    assert backends.parse_spec("scripted:model=demo,reply=hi there") == (
        "scripted", {"model": "demo", "reply": "hi there"})
    assert backends.parse_spec("openai_compat") == ("openai_compat", {})


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown backend 'nope'. Known backends: .*llamacpp.*openai_compat.*scripted"):
        backends.parse_spec("nope")
    with pytest.raises(ValueError, match="Unknown backend"):
        backends.create("nope")


def test_malformed_spec() -> None:
    with pytest.raises(ValueError, match="NAME:key=value"):
        backends.parse_spec("scripted:model")


def test_settings_choose_through_the_registry() -> None:
    chosen, default = build_backends(Settings(backends=["scripted:model=demo"], embedded="off"))
    assert [type(b) for b in chosen] == [ScriptedBackend] and default == "demo"
    chosen, default = build_backends(Settings(backends=["scripted"], default_model="other"))
    assert default == "other"


def test_default_choice_without_specs() -> None:
    chosen, default = build_backends(Settings(upstream="http://127.0.0.1:9/v1"))
    assert [b.name for b in chosen] == ["openai_compat"] and default is None


def test_capabilities_are_protocols() -> None:
    scripted = ScriptedBackend()
    assert isinstance(scripted, HasDefaultModel)
    assert isinstance(scripted, TokenCounter)  # it counts, as the embedded model does (its tokens are words)
    assert not isinstance(scripted, WarmsUp)
