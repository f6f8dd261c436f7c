"""Request ids in every log line: a context variable, a logging filter, and a JSON formatter.

The HTTP middleware sets `request_id` for each request (the client's `x-request-id` when it is a
sane token, else a new one); background runs and WebSocket sessions set their own.  asyncio copies
the context into every task a request starts, so the engine, the backends and the tools log under
the id of the request they work for without being handed it.  `LineHandler` (the handler `configure`
installs) stamps the id on each record (`%(request_id)s`), as `RequestIdFilter` does for any other
handler; `JsonFormatter` writes one JSON object per line for log shippers.  Two log lines a request
(the access line and the engine's): their path through `logging` is kept short (`QuickRecord`,
`LineHandler`, `TextFormatter.format`: 61k -> 37k instructions a line).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
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


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, a line a record: `RequestIdFilter`'s stamp, the format, the write and the flush in one
    pass under one lock (`Handler.handle`, `emit` and `flush` took it twice and walked the filters
    for the stamp: a tenth of an access line's instructions).  Filters added later still apply."""

    def handle(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if self.filters and not self.filter(record):
            return False
        with self.lock:  # type: ignore[union-attr]
            try:
                stream = self.stream
                stream.write(self.format(record) + self.terminator)
                stream.flush()
            except RecursionError:  # as StreamHandler.emit: never swallowed
                raise
            except Exception:  # noqa: BLE001 - logging's own policy: reported by handleError, never raised
                self.handleError(record)
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


def one_line(text: str) -> str:
    """`text` with its control characters (CR, LF, ESC, ...) and Unicode line separators written as escapes
    (`\\n`, `\\x1b`, `\\u2028`): a message carries what clients sent (a request's path, decoded from its
    `%0A`s; a model name), and a raw line break in it would let a client forge a whole log line of its own."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, the time as logging writes it (`2026-12-06 05:00:00,123`), its date and clock part
    formatted once a second instead of once a line (strftime was a fifth of an access line's cost).
    A record without an exception or a stack is one f-string of the same text (`Formatter.format`'s
    style lookups and %-formatting of the whole line were a sixth of a line's instructions).  A message
    is always one line (`one_line`); only a traceback that follows it spans several."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = one_line(record.getMessage())
        record.asctime = self.formatTime(record)
        rid = record.request_id  # type: ignore[attr-defined]  # (stamped by the handler, as by the filter)
        return f"{record.asctime} {record.levelname} {record.name} [{rid}] {record.message}"

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        record.message = one_line(record.message)  # (a record with a traceback: the traceback follows as is)
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


UNKNOWN_FILE = "(unknown file)"  # the pathname of every record once `logging._srcfile` is None


class QuickRecord(logging.LogRecord):
    """A `LogRecord` of a call whose source file is not looked up (`configure`): the same attributes,
    set directly, without the basename and extension split of a path that is always `(unknown file)`
    nor the thread and process lookups `configure` turns off (a seventh of a line's instructions).
    `configure` installs it only where it makes exactly the attributes of the stock record."""

    def __init__(self, name: str, level: int, pathname: str, lineno: int, msg: object, args: Any,
                 exc_info: Any, func: str | None = None, sinfo: str | None = None, **kwargs: Any) -> None:
        if pathname != UNKNOWN_FILE or logging.logThreads or logging.logMultiprocessing or logging.logProcesses:
            super().__init__(name, level, pathname, lineno, msg, args, exc_info, func, sinfo, **kwargs)
            return
        ct = time.time()
        self.name = name
        self.msg = msg
        if args and len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            args = args[0]
        self.args = args
        self.levelname = logging.getLevelName(level)
        self.levelno = level
        self.pathname = self.filename = self.module = pathname
        self.exc_info = exc_info
        self.exc_text = None
        self.stack_info = sinfo
        self.lineno = lineno
        self.funcName = func  # type: ignore[assignment]  # (None when not looked up, as in LogRecord)
        self.created = ct
        self.msecs = int((ct - int(ct)) * 1000) + 0.0
        self.relativeCreated = (ct - logging._startTime) * 1000  # type: ignore[attr-defined]
        self.thread = self.threadName = self.processName = self.process = None


def _quick_records_match() -> bool:
    """Whether `QuickRecord` makes the attributes this Python's `LogRecord` makes (a later version
    may add one: then the stock record stays)."""
    args = ("n", logging.INFO, UNKNOWN_FILE, 0, "m %s", ("a",), None, "(unknown function)", None)
    stock, quick = vars(logging.LogRecord(*args)), vars(QuickRecord(*args))
    timed = {"created", "msecs", "relativeCreated"}
    return stock.keys() == quick.keys() and all(stock[k] == quick[k] for k in stock.keys() - timed)


def configure(level: str, fmt: str = "text") -> None:
    """Root logging for `respond serve` (and the other commands): a stderr handler with the filter.
    No format shows a record's file and line, so logging does not look them up (a walk of the stack
    on every record: `logging._srcfile = None`, the optimisation the logging docs name), nor its
    process and thread."""
    logging._srcfile = None
    # Nor the process, its name or the thread: three lookups per record (os.getpid a system call) for
    # fields no format shows (JsonFormatter leaves LogRecord's standard attributes out).
    logging.logProcesses = logging.logMultiprocessing = logging.logThreads = False
    if logging.getLogRecordFactory() is logging.LogRecord and _quick_records_match():
        logging.setLogRecordFactory(QuickRecord)
    handler = LineHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
