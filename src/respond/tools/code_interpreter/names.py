"""Container file names: the bytes the filesystem gave, stored as text that is safe to show.

A Linux file name is any bytes but `/` and NUL; the store and the API hold text.  `stored()`
turns the name the sandbox's filesystem gave (a `str` from `os`, undecodable bytes as lone
surrogates) into an escaped form, and `on_disk()` turns it back, exactly:

- UTF-8 text stays as it is;
- a byte that is not part of valid UTF-8 becomes `\\xHH`;
- a character unsafe to show (controls such as CR and LF, line separators, bidirectional
  overrides that disguise an extension) becomes `\\uHHHH`;
- a backslash becomes `\\\\`.

So the stored path is valid Unicode with no control character (any database takes it, no header
or log line can be split by it), two different names never share a stored form, and a name
uploaded through the API is stored by the same rule (`of_upload`).

A stored path is at most `MAX_PATH_BYTES` of UTF-8: a path is in a unique index, and PostgreSQL
refuses an index row over ~2.7 kB (a deep tree of long names the code makes would otherwise fail
every later call).  Longer files of the code's are left out (and said so); an uploaded name is cut
before its extension to fit that and the filesystem's 255 bytes a name (`fit`).
"""

from __future__ import annotations

import os
import re

# shown escaped: C0/C1 controls and DEL, line/paragraph separators, bidi embeddings/overrides/isolates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
MAX_PATH_BYTES = 1024
NAME_MAX = 255  # bytes of one file name on Linux filesystems
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")


def stored(name: str) -> str:
    """The stored form of a name as `os` gives it (filesystem encoding, surrogateescape)."""
    return escape(os.fsencode(name))


def escape(raw: bytes) -> str:
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif _UNSAFE.match(ch):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def unescape(text: str) -> bytes:
    """The bytes a stored form stands for (an unknown escape is kept as it is)."""
    out, pos = bytearray(), 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        token = m.group(1)
        if token == "\\":
            out += b"\\"
        elif token[0] == "x":
            out.append(int(token[1:], 16))
        else:
            out += chr(int(token[1:], 16)).encode("utf-8", "surrogatepass")
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def on_disk(text: str) -> str:
    """The name to give `os` for a stored form (NUL, which no file name holds, raises ValueError there)."""
    return os.fsdecode(unescape(text))


def of_upload(name: str) -> str:
    """The stored form of a name a client gave (text; a lone surrogate in it becomes `?`)."""
    return escape(name.encode("utf-8", "replace"))


def fits(path: str) -> bool:
    return len(path.encode()) <= MAX_PATH_BYTES


def fit(prefix: str, name: str) -> str:
    """prefix + the stored form of `name`, its stem cut until the whole fits `MAX_PATH_BYTES` and the
    name on disk `NAME_MAX`."""
    stem, ext = os.path.splitext(name)
    if len(ext) > 16:
        stem, ext = name, ""
    stem = stem[:MAX_PATH_BYTES]
    while stem and (len((stem + ext).encode("utf-8", "replace")) > NAME_MAX or not fits(prefix + of_upload(stem + ext))):
        stem = stem[:-1]
    return prefix + of_upload((stem or "upload") + ext)
