"""Is this error the database being unreachable (as opposed to a statement being wrong)?

The HTTP layer answers such errors with a 503 and `Retry-After` (api/guard.py), and the run
bookkeeping retries what it must not lose (engine/background/workers.py) until the database answers again.
Recognised: a connection SQLAlchemy invalidated, connection-level OS errors (refused, reset,
timed out), asyncpg's connection errors and the server shutting down or starting up (SQLSTATE
class 08, 57P01-57P03).  A constraint violation or a syntax error is not unavailability.

`data_error` is the other side: the database answered, and refused a value (SQLSTATE class 22
"data exception", e.g. a NUL in text or a value too long, and class 23 "integrity constraint
violation"; sqlite3's DataError/IntegrityError; a string the driver cannot encode).  Retrying that
can never succeed: it fails its request at once (a 400 at the HTTP layer, api/guard.py), and it is
never journaled as if the database were away (store/journal.py).

SQLAlchemy's exceptions are looked up among the loaded modules, not imported: an error can be one of them
only once SQLAlchemy is loaded, and a server on SQLite may never load it (store/statement.py).
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

_ASYNCPG = {"ConnectionDoesNotExistError", "ConnectionFailureError", "PostgresConnectionError",
            "CannotConnectNowError", "AdminShutdownError", "CrashShutdownError", "ClientCannotConnectError",
            "ConnectionRejectionError", "TooManyConnectionsError", "InterfaceError", "InternalClientError"}
_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 16:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _raised_in_driver(exc: BaseException) -> bool:
    """A plain OSError raised while SQLAlchemy or asyncpg connected (they re-raise it unwrapped)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("sqlalchemy", "asyncpg")):
            return True
        tb = tb.tb_next
    return False


class _Never(Exception):
    """Stands for SQLAlchemy's exception classes while SQLAlchemy is not loaded: nothing is one of them."""


def _sa(name: str) -> Any:
    module = sys.modules.get("sqlalchemy.exc")
    return _Never if module is None else getattr(module, name)


def unavailable(exc: BaseException) -> bool:
    chain = _chain(exc)
    sa_error, dbapi_error = _sa("SQLAlchemyError"), _sa("DBAPIError")
    from_db = any(isinstance(e, sa_error) or type(e).__module__.startswith("asyncpg")
                  or _raised_in_driver(e) for e in chain)
    if not from_db:
        return False
    for e in chain:
        if isinstance(e, dbapi_error) and e.connection_invalidated:
            return True
        if isinstance(e, ConnectionError | TimeoutError) or (isinstance(e, OSError) and e.errno is not None):
            return True
        if type(e).__module__.startswith("asyncpg") and (
                type(e).__name__ in _ASYNCPG or str(getattr(e, "sqlstate", "") or "").startswith(_SQLSTATES)):
            return True
    return False


_DATA_SQLSTATES = ("22", "23")


def data_error(exc: BaseException) -> bool:
    """The database refused a value of this request (see the module docstring); never an outage."""
    chain = _chain(exc)
    if any(unavailable(e) for e in chain[:1]):
        return False
    refused = (_sa("DataError"), _sa("IntegrityError"), sqlite3.DataError, sqlite3.IntegrityError)
    for e in chain:
        if isinstance(e, refused):
            return True  # SQLAlchemy's wrapping, or the driver's own (rows written through the raw cursor)
        state = str(getattr(e, "sqlstate", "") or getattr(e, "pgcode", "") or "")
        if type(e).__module__.startswith("asyncpg") and state.startswith(_DATA_SQLSTATES):
            return True
        if isinstance(e, UnicodeError) and any(isinstance(x, _sa("SQLAlchemyError")) for x in chain):
            return True
    return False
