"""Errors that adapters raise through the ports; the engine maps them to API errors."""

from __future__ import annotations


class BackendError(Exception):
    """A model backend could not serve a generation.

    `status` is the HTTP status the upstream answered with (None for a transport failure);
    a 4xx means the request itself was wrong and reaches the client as that 4xx.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until a retry may succeed (503s: all replicas down)
        self.message = message
        self.status = status
        self.code = code
        self.param = param

    @property
    def is_client_error(self) -> bool:
        return self.status is not None and 400 <= self.status < 500


class ContextLengthExceeded(BackendError):
    """The input does not fit the model's context window (and truncation is disabled)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400, code="context_length_exceeded", param="input")


class UnknownModel(BackendError):
    def __init__(self, model: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none"
        super().__init__(
            f"The model '{model}' does not exist or you do not have access to it. "
            f"Models served here: {listing}.",
            status=404,
            code="model_not_found",
            param="model",
        )
