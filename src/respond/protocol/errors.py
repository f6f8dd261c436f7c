"""The OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import TypedDict


class ErrorBody(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(TypedDict):
    error: ErrorBody


class APIError(Exception):
    """An error answered to the client with an HTTP status and the OpenAI envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, sent as `Retry-After` (503s, 429s)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def envelope(self) -> ErrorEnvelope:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def not_found(kind: str, ident: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(404, f"{kind} with id '{ident}' not found.", param=param, code=code)


def server_error(message: str = "The server had an error while processing your request.") -> APIError:
    return APIError(500, message, type="server_error", code="server_error")


def unavailable(message: str, code: str, retry_after: int = 1) -> APIError:
    """A 503: the server cannot answer right now (database unreachable, upstream busy); retry."""
    return APIError(503, message, type="server_error", code=code, retry_after=retry_after)
