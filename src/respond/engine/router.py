"""Which backend serves a model: the first, in configured order, that says it does; and how its
turns are asked (`turns`: behind the repeat guard where `--repeat-guard` applies)."""

from __future__ import annotations

from respond.core.errors import BackendError
from respond.core.ports import ModelBackend
from respond.core.types import ModelInfo
from respond.engine.errors import backend_to_api
from respond.engine.repeat_guard import Signature, guarded
from respond.protocol.errors import APIError


class ModelRouter:
    """Picks the backend for a model name: the first backend that serves it, in order."""

    def __init__(self, backends: list[ModelBackend], default_model: str | None = None,
                 repeat_guard: str = "embedded") -> None:
        self.backends = backends
        self.default_model = default_model
        self.repeat_guard = repeat_guard  # on | off | embedded

    def turns(self, backend: ModelBackend, answered: frozenset[Signature] = frozenset()) -> ModelBackend:
        """What a response's model turns are asked of: `backend`, guarded where the mode says
        (`answered`: hosted calls of earlier turns, not in the chat messages)."""
        return guarded(backend, self.repeat_guard, answered)

    def resolve(self, model: str) -> ModelBackend:
        for backend in self.backends:
            if backend.serves(model):
                return backend
        raise APIError(400, f"The requested model '{model}' does not exist. Use GET /v1/models to see the "
                            f"models served here.", param="model", code="model_not_found")

    async def models(self) -> list[ModelInfo]:
        """Every backend's models; a backend that cannot list them (its upstream is down) is an error,
        never a silently shorter list."""
        seen: dict[str, ModelInfo] = {}
        for backend in self.backends:
            try:
                for info in await backend.models():
                    seen.setdefault(info.id, info)
            except BackendError as exc:
                raise backend_to_api(exc) from None
        return list(seen.values())
