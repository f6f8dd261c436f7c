"""Which backend serves a model: the first, in configured order, that says it does."""

from __future__ import annotations

from respond.core.errors import BackendError
from respond.core.ports import ModelBackend
from respond.core.types import ModelInfo
from respond.protocol.errors import APIError


class ModelRouter:
    """Picks the backend for a model name: the first backend that serves it, in order."""

    def __init__(self, backends: list[ModelBackend], default_model: str | None = None) -> None:
        self.backends = backends
        self.default_model = default_model

    def resolve(self, model: str) -> ModelBackend:
        for backend in self.backends:
            if backend.serves(model):
                return backend
        raise APIError(400, f"The requested model '{model}' does not exist. Use GET /v1/models to see the "
                            f"models served here.", param="model", code="model_not_found")

    async def models(self) -> list[ModelInfo]:
        seen: dict[str, ModelInfo] = {}
        for backend in self.backends:
            try:
                for info in await backend.models():
                    seen.setdefault(info.id, info)
            except BackendError:
                continue
        return list(seen.values())
