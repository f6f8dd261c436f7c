"""The log lines of `respond serve` (core/logctx.py): the short path through `logging` writes what the
stock one wrote (a `StreamHandler` with `RequestIdFilter`, `Formatter(TEXT_FORMAT)`, `LogRecord`)."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from respond.core import logctx
from respond.core.logctx import (
    TEXT_FORMAT,
    LineHandler,
    QuickRecord,
    RequestIdFilter,
    TextFormatter,
    request_id,
)

ARGS = ("respond.http", logging.INFO, logctx.UNKNOWN_FILE, 0, "%s %s %d %.1fms", ("POST", "/v1/x", 200, 1.25),
        None, "(unknown function)", None)


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    """configure() changes logging's globals: put them back."""
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing,
             logging.getLogRecordFactory(), logging.getLogger().handlers[:], logging.getLogger().level)
    try:
        yield
    finally:
        (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing,
         factory, handlers, level) = saved
        logging.setLogRecordFactory(factory)
        logging.getLogger().handlers[:] = handlers
        logging.getLogger().setLevel(level)


def test_quick_record_has_the_stock_attributes(quiet_logging: None) -> None:
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    stock, quick = vars(logging.LogRecord(*ARGS)), vars(QuickRecord(*ARGS))
    timed = {"created", "msecs", "relativeCreated"}
    assert stock.keys() == quick.keys()
    assert {k: v for k, v in stock.items() if k not in timed} == {k: v for k, v in quick.items() if k not in timed}
    assert 0 <= quick["msecs"] < 1000 and quick["relativeCreated"] >= 0
    mapping = QuickRecord("n", logging.INFO, logctx.UNKNOWN_FILE, 0, "%(a)s", ({"a": 1},), None)
    assert mapping.getMessage() == "1"  # a lone mapping is the arguments, as LogRecord has it


def test_quick_record_defers_to_the_stock_one_when_a_lookup_is_on(quiet_logging: None) -> None:
    logging.logThreads = True
    assert QuickRecord(*ARGS).thread is not None
    logging.logThreads = False
    assert QuickRecord("n", logging.INFO, "/a/b/mod.py", 3, "m", (), None).module == "mod"


def _line(handler: logging.Handler, record: logging.LogRecord) -> str:
    out = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    handler.handle(record)
    return out.getvalue()


def test_line_handler_writes_what_the_stock_handler_wrote() -> None:
    stock = logging.StreamHandler()
    stock.addFilter(RequestIdFilter())
    stock.setFormatter(logging.Formatter(TEXT_FORMAT))
    mine = LineHandler()
    mine.setFormatter(TextFormatter())
    token = request_id.set("req_abc")
    try:
        record = logging.LogRecord(*ARGS)
        expected = _line(stock, record)
        del record.request_id  # type: ignore[attr-defined]
        assert _line(mine, record) == expected
        assert expected.endswith(" INFO respond.http [req_abc] POST /v1/x 200 1.2ms\n")
        try:
            raise ValueError("boom")
        except ValueError:
            failed = logging.LogRecord("x", logging.ERROR, logctx.UNKNOWN_FILE, 0, "failed %s", ("a",),
                                       sys.exc_info())
        text = _line(mine, failed)
        assert text.split("\n")[0].endswith(" ERROR x [req_abc] failed a") and "ValueError: boom" in text
    finally:
        request_id.reset(token)


def test_line_handler_keeps_a_callers_request_id_and_its_filters() -> None:
    mine = LineHandler()
    mine.setFormatter(TextFormatter())
    record = logging.LogRecord(*ARGS)
    record.request_id = "given"
    assert "[given]" in _line(mine, record)
    mine.addFilter(lambda r: r.levelno >= logging.WARNING)
    assert _line(mine, logging.LogRecord(*ARGS)) == ""


def test_configure_installs_the_short_path(quiet_logging: None) -> None:
    logging.setLogRecordFactory(logging.LogRecord)
    logctx.configure("info")
    assert logging.getLogRecordFactory() is QuickRecord
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, LineHandler) and isinstance(handler.formatter, TextFormatter)


def test_a_message_is_one_line_whatever_a_client_put_in_it() -> None:
    """A request's path is logged decoded (`%0A` is a line feed): it must not start a line of its own."""
    mine = LineHandler()
    mine.setFormatter(TextFormatter())
    forged = "/v1/\n2026-12-06 00:00:00,000 INFO respond.http [req_x] GET /admin 200 1.0ms\r\x1b[2K\u2028"
    record = logging.LogRecord("respond.http", logging.INFO, logctx.UNKNOWN_FILE, 0, "%s %s %d", ("GET", forged, 404),
                               None)
    text = _line(mine, record)
    assert text.count("\n") == 1 and "\r" not in text and "\x1b" not in text and "\u2028" not in text
    assert text.endswith(" GET /v1/\\n2026-12-06 00:00:00,000 INFO respond.http [req_x] GET /admin 200 1.0ms"
                         "\\r\\x1b[2K\\u2028 404\n")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, logctx.UNKNOWN_FILE, 0, "failed on %s", (forged,), sys.exc_info())
    first, *rest = _line(mine, failed).split("\n")
    assert first.endswith("1.0ms\\r\\x1b[2K\\u2028") and any("ValueError: boom" in line for line in rest)
    plain = logging.LogRecord(*ARGS)
    assert _line(mine, plain).endswith("POST /v1/x 200 1.2ms\n")  # a clean message is written as it is
