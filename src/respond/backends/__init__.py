"""Model backends, registered by name.

Built-ins register the same way a plugin does: a factory under a name.  Third-party packages
add theirs through the `respond.backends` entry-point group (a callable taking keyword settings
and returning a `ModelBackend`).  An unknown name is an error that lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from respond.core.ports import ModelBackend

Factory = Callable[..., ModelBackend]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    _REGISTRY[name] = factory


def _builtin() -> None:
    from respond.backends.openai_compat import OpenAICompatBackend
    from respond.backends.scripted import ScriptedBackend

    register("openai_compat", OpenAICompatBackend)
    register("scripted", ScriptedBackend)
    register("llamacpp", _llamacpp)


def _llamacpp(**settings: Any) -> ModelBackend:
    # Imported on use: the package loads llama_cpp only when a model is first loaded, but it is
    # still the heaviest module here and an upstream-only server never needs it.
    from respond.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(**settings)


def _plugins() -> None:
    for ep in entry_points(group="respond.backends"):
        register(ep.name, ep.load())


def known() -> list[str]:
    if not _REGISTRY:
        _builtin()
        _plugins()
    return sorted(_REGISTRY)


def create(name: str, **settings: Any) -> ModelBackend:
    names = known()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown backend '{name}'. Known backends: {', '.join(names)}.")
    return _REGISTRY[name](**settings)
