"""Model backends, registered by name; the registry decides which backend a name builds.

Built-ins register the same way a plugin does: a factory under a name.  Third-party packages
add theirs through the `respond.backends` entry-point group (a callable taking keyword options
and returning a `ModelBackend`).  An unknown name is an error that lists the known ones.

A backend is chosen by a spec, `NAME` or `NAME:key=value,key=value` (`--backend scripted`,
`--backend scripted:model=demo,reply=hello`): `parse_spec` reads it, `create` builds it with
the composition root's options for that name under the spec's own.
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
    register("openai_compat", _openai_compat)
    register("openai_responses", _openai_responses)
    register("scripted", _scripted)
    register("llamacpp", _llamacpp)


# Each built-in's module is imported when a backend of its kind is built: a server loads only the
# adapters it runs (tests/test_memory_at_rest.py).
def _openai_compat(**settings: Any) -> ModelBackend:
    from respond.backends.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(**settings)


def _openai_responses(**settings: Any) -> ModelBackend:
    from respond.backends.openai_responses import OpenAIResponsesBackend

    return OpenAIResponsesBackend(**settings)


def _scripted(**settings: Any) -> ModelBackend:
    from respond.backends.scripted import ScriptedBackend

    return ScriptedBackend(**settings)


def _llamacpp(**settings: Any) -> ModelBackend:
    # the package loads llama_cpp only when a model is first loaded, but it is still the heaviest
    # module here and an upstream-only server never needs it
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


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`NAME[:key=value,...]` -> (name, options); the name is checked against the registry."""
    name, _, rest = spec.partition(":")
    options: dict[str, str] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--backend takes NAME or NAME:key=value,...; got '{spec}'.")
        options[key.strip().replace("-", "_")] = value
    _check(name.strip())
    return name.strip(), options


def _check(name: str) -> None:
    names = known()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown backend '{name}'. Known backends: {', '.join(names)}.")


def create(name: str, **settings: Any) -> ModelBackend:
    _check(name)
    return _REGISTRY[name](**settings)
