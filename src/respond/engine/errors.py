"""Backend errors as API errors."""

from __future__ import annotations

from respond.core.errors import BackendError
from respond.protocol.errors import APIError


def backend_to_api(exc: BackendError) -> APIError:
    """A backend's 4xx reaches the client as that 4xx; anything else is a 502 from the server."""
    status = exc.status if exc.status is not None and 400 <= exc.status < 500 else 502
    return APIError(status, exc.message, param=exc.param, code=exc.code,
                    type="invalid_request_error" if status < 500 else "server_error")
