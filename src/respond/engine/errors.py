"""Backend errors as API errors."""

from __future__ import annotations

import math

from respond.core.errors import BackendError
from respond.protocol.errors import APIError
from respond.protocol.shapes import ErrorDict


def backend_to_api(exc: BackendError) -> APIError:
    """A backend's 4xx reaches the client as that 4xx (an upstream 401/403 arrives here already as a
    502: the gateway's credentials, not the client's); 503 (busy) and 504 (timeout) stay; anything
    else is a 502 from the server."""
    status = exc.status if exc.status is not None and (400 <= exc.status < 500 or exc.status in (503, 504)) else 502
    if status == 429:
        return APIError(429, exc.message, param=exc.param, code=exc.code or "rate_limit_exceeded",
                        type="rate_limit_error", retry_after=1)
    wait = math.ceil(exc.retry_after) if exc.retry_after else 1
    return APIError(status, exc.message, param=exc.param, code=exc.code,
                    type="invalid_request_error" if status < 500 else "server_error",
                    retry_after=wait if status == 503 else None)


# The codes a stored Response's `error.code` may take (the SDK's `ResponseError.code` is a Literal).
RESPONSE_ERROR_CODES = frozenset({
    "server_error", "rate_limit_exceeded", "invalid_prompt", "data_residency_mismatch", "bio_policy",
    "misalignment_policy_violation", "vector_store_timeout", "invalid_image", "invalid_image_format",
    "invalid_base64_image", "invalid_image_url", "image_too_large", "image_too_small", "image_parse_error",
    "image_content_policy_violation", "invalid_image_mode", "image_file_too_large",
    "unsupported_image_media_type", "empty_image_file", "failed_to_download_image", "image_file_not_found"})


def response_error(exc: BackendError) -> ErrorDict:
    """A backend failure as a Response's `error`: a code the SDK accepts (an upstream that failed is
    `server_error`, its 429 `rate_limit_exceeded`, another 4xx of it `invalid_prompt`), the backend's
    own code kept in the message when it is not one of them."""
    code = exc.code
    if code in RESPONSE_ERROR_CODES:
        return {"code": code, "message": exc.message}
    mapped = ("rate_limit_exceeded" if exc.status == 429 else
              "invalid_prompt" if exc.is_client_error else "server_error")
    return {"code": mapped, "message": f"{exc.message} ({code})" if code else exc.message}
