"""The escaping of `SafeText`/`SafeString` columns (store/safetext.py: why, and the mapping), as plain
functions: the hot path on SQLite converts its parameters with them without loading SQLAlchemy
(store/statement.py's `bind`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_NUL, _ESC = "\ufdd0", "\ufdd1"
_SUR_BASE = 0xF0000
_IN = re.compile("[\x00\ufdd0\ufdd1\ud800-\udfff]")
_OUT = re.compile("\ufdd1[\ufdd0\ufdd1\U000f0000-\U000f07ff]|\ufdd0")


def _enc(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\x00":
        return _NUL
    if c in (_NUL, _ESC):
        return _ESC + c
    return _ESC + chr(_SUR_BASE + ord(c) - 0xD800)


def _dec(m: re.Match[str]) -> str:
    s = m.group()
    if s == _NUL:
        return "\x00"
    c = s[1]
    return c if c in (_NUL, _ESC) else chr(0xD800 + ord(c) - _SUR_BASE)


def escape(value: str) -> str:
    return _IN.sub(_enc, value) if _IN.search(value) else value


def unescape(value: str) -> str:
    return _OUT.sub(_dec, value) if ("\ufdd0" in value or "\ufdd1" in value) else value


def cut(length: int) -> Callable[[Any], Any]:
    """A `SafeString(length)` column's conversion of a parameter: escaped, then cut to the column."""
    def convert(value: Any) -> Any:
        return escape(value)[:length] if isinstance(value, str) else value
    return convert
