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
        out: dict[str, object] = {  # the record's extras are whatever the caller logged (orjson: default=str)
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


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, the time as logging writes it (`2026-12-06 05:00:00,123`), its date and clock part
    formatted once a second instead of once a line (strftime was a fifth of an access line's cost)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


def configure(level: str, fmt: str = "text") -> None:
    """Root logging for `respond serve` (and the other commands): a stderr handler with the filter.
    No format shows a record's file and line, so logging does not look them up (a walk of the stack
    on every record: `logging._srcfile = None`, the optimisation the logging docs name), nor its
    process and thread."""
    logging._srcfile = None
    # Nor the process, its name or the thread: three lookups per record (os.getpid a system call) for
    # fields no format shows (JsonFormatter leaves LogRecord's standard attributes out).
    logging.logProcesses = logging.logMultiprocessing = logging.logThreads = False
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
