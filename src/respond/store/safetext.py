"""Strings the databases cannot hold, stored losslessly: the same bytes back on SQLite and PostgreSQL.

PostgreSQL refuses a NUL character in any text value (`invalid byte sequence for encoding "UTF8":
0x00`) and no UTF-8 database holds a lone surrogate, while the API accepts both in text (JSON's
`\\u0000`).  JSON bodies are safe as written (orjson escapes NUL as `\\u0000`; a lone surrogate
never gets past the JSON parser), but the plain columns beside them (a response's `model` and
`preview`, metadata keys and values, file names, chunk texts, container names) hold the raw string.

`SafeText` (a column type over String/Text) escapes on the way in and unescapes on the way out,
with two Unicode noncharacters (which no text exchanged between systems is meant to contain):

    NUL -> U+FDD0        U+FDD0 -> U+FDD1 U+FDD0      U+FDD1 -> U+FDD1 U+FDD1
    lone surrogate U+D800+n -> U+FDD1 U+F0000+n  (a private-use code point, valid UTF-8)

A string with none of these four is stored unchanged (the common case costs one regex scan), a
NUL keeps its length (a 64-character key of NULs still fits its column), and the mapping is a
bijection, so equality filters (`metadata[key]=value`) compare escaped to escaped.  `SafeString`
columns hold lookup copies cut to their length (the response body keeps the whole value): they
are cut after escaping, so the database never sees a value too long.

The escaping itself is store/safe_escape.py's (no SQLAlchemy there: the hot path's statements convert
their parameters with it, store/statement.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from respond.store.safe_escape import escape, unescape


class _Safe(TypeDecorator[str]):
    """Escapes binds, unescapes results (see the module docstring)."""

    impl: Any = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return escape(value) if isinstance(value, str) else value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return unescape(value) if isinstance(value, str) else value


class SafeText(_Safe):
    """A Text column that stores any Python string."""

    impl = Text
    cache_ok = True


class SafeString(_Safe):
    """A String(length) column of values derived for lookups (a model name, a preview, metadata
    rows for filters), cut to `length` as stored: escaping never makes a value too long for it."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        length: int | None = getattr(self.impl, "length", None)
        return escape(value)[:length] if isinstance(value, str) else value
