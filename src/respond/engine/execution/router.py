"""Which backend serves a model: aliases first, then the first backend, in configured order, that serves it;
and how its turns are asked (`turns`: behind the repeat guard where `--repeat-guard` applies).

Configured upstreams (`[[upstreams]]`) come first as `ReplicaSet`s, each knowing its models
(configured, or listed from the upstream and cached); then the `--backend` / `--upstream` /
embedded backends.  An alias (`[aliases]`) names a model; the response is made by, and reports,
that model.  An unknown model is a 404 `model_not_found` naming a few of the models served; before
saying so, `route` refreshes the stale model lists of upstreams that list theirs (a model just
loaded on an upstream is found without a restart).
"""

from __future__ import annotations

from collections.abc import Callable

from respond.core.errors import BackendError
from respond.core.ports import ModelBackend
from respond.core.types import ModelInfo
from respond.engine.errors import backend_to_api
from respond.engine.execution.replicas import ReplicaHealth, ReplicaSet
from respond.engine.tooling.repeat_guard import Signature, applies, guarded
from respond.protocol.errors import APIError

REFRESH_ON_MISS = 5.0  # seconds: an unknown model refreshes model lists older than this
NAMED = 8  # known models named in a 404


class ModelRouter:
    """Picks the backend for a model name: the first backend that serves it, in order."""

    def __init__(self, backends: list[ModelBackend], default_model: str | None = None,
                 repeat_guard: str = "embedded", aliases: dict[str, str] | None = None) -> None:
        self.backends = backends
        self.aliases = dict(aliases or {})
        self.default_model = default_model
        self.repeat_guard = repeat_guard  # on | off | embedded

    def turns(self, backend: ModelBackend, answered: Callable[[], frozenset[Signature]] = frozenset) -> ModelBackend:
        """What a response's model turns are asked of: `backend`, guarded where the mode says
        (`answered`: the hosted calls of earlier turns, not in the chat messages; read only for a guarded
        backend, as it goes through the whole history)."""
        if not applies(backend, self.repeat_guard):
            return backend
        return guarded(backend, self.repeat_guard, answered())

    def canonical(self, model: str) -> str:
        """The model an alias names (aliases may name aliases; the configuration rejects loops)."""
        seen = 0
        while model in self.aliases and seen < len(self.aliases):
            model, seen = self.aliases[model], seen + 1
        return model

    def _find(self, model: str) -> ModelBackend | None:
        model = self.canonical(model)
        return next((b for b in self.backends if b.serves(model)), None)

    def resolve(self, model: str) -> ModelBackend:
        backend = self._find(model)
        if backend is None:
            raise self.unknown(model)
        return backend

    async def route(self, model: str, visible: Callable[[str], bool] | None = None) -> str:
        """The model a request names, as served (its alias resolved); a 404 when nothing serves it,
        naming a few models that do (those `visible` to the caller: a stored key's allowed ones)."""
        if self._find(model) is None:
            for backend in self.upstreams():
                await backend.refresh_if_older(REFRESH_ON_MISS)
            if self._find(model) is None:
                raise self.unknown(model, visible)
        return self.canonical(model)

    def unknown(self, model: str, visible: Callable[[str], bool] | None = None) -> APIError:
        """The answer for a model not served here (and for one a stored key may not use)."""
        known = list(dict.fromkeys([*self.aliases, *(m for b in self.upstreams() for m in b.known())]))
        known = [m for m in known if visible is None or visible(m)]
        named = ", ".join(f"'{m}'" for m in known[:NAMED]) + (", ..." if len(known) > NAMED else "")
        some = f" Models served here include {named}." if known else ""
        return APIError(404, f"The model '{model}' does not exist or is not served here.{some} GET /v1/models "
                             f"lists them all.", param="model", code="model_not_found")

    def upstreams(self) -> list[ReplicaSet]:
        return [b for b in self.backends if isinstance(b, ReplicaSet)]

    def health(self) -> list[ReplicaHealth]:
        """Every replica of every configured upstream, for the dashboard."""
        return [r for b in self.upstreams() for r in b.state()]

    async def models(self) -> list[ModelInfo]:
        """Every backend's models, then the aliases whose model is served; a backend that cannot list
        them (its upstream is down) is an error, never a silently shorter list.  A configured
        upstream lists what it serves from its cache (its health is on the dashboard and /metrics)."""
        seen: dict[str, ModelInfo] = {}
        for backend in self.backends:
            try:
                for info in await backend.models():
                    seen.setdefault(info.id, info)
            except BackendError as exc:
                raise backend_to_api(exc) from None
        for alias in self.aliases:
            target = self.canonical(alias)
            served = self._find(target)
            if served is not None and alias not in seen:
                owner = seen[target].owned_by if target in seen else served.name
                seen[alias] = ModelInfo(id=alias, owned_by=owner, alias_for=target)
        return list(seen.values())
