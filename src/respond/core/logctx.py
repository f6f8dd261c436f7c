"""Request ids in every log line: a context variable, a logging filter, and a JSON formatter.

The HTTP middleware sets `request_id` for each request (the client's `x-request-id` when it is a
sane token, else a new one); background runs and WebSocket sessions set their own.  asyncio copies
the context into every task a request starts, so the engine, the backends and the tools log under
the id of the request they work for without being handed it.  `RequestIdFilter` stamps the id on
each record (`%(request_id)s`); `JsonFormatter` writes one JSON object per line for log shippers.
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id: ContextVar[str] = ContextVar("respond_request_id", default="-")

_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# LogRecord attributes that are not "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


def sane_request_id(value: str | None) -> str | None:
    """The client's id when it is a short token (no spaces or control characters), else None."""
    return value if value is not None and _SANE.match(value) else None


class RequestIdFilter(logging.Filter):
    """Stamps `record.request_id` from the context (kept when a caller passed one in `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, request_id, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str, fmt: str = "text") -> None:
    """Root logging for `respond serve` (and the other commands): a stderr handler with the filter."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
