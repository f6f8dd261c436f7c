"""Request limits, checked on every JSON body before anything is stored or forwarded.

One iterative walk (no recursion, so no `RecursionError` whatever the nesting) over the parsed
body enforces what the Open Responses schema caps, and what the stores need to behave the same on
SQLite and PostgreSQL:

- nesting depth <= `MAX_DEPTH` (a body nested deeper than ~250 levels parses but cannot be stored:
  orjson refuses to serialise it);
- string lengths: text 10 MiB, `image_url` 20 MiB, `file_data` 32 MiB (the spec's `maxLength`s);
- ids: every `id` / `*_id` value (and each of `*_ids`) outside free-form subtrees (JSON schemas,
  metadata, attributes) is a string of at most 64 characters without NUL bytes.  PostgreSQL rejects
  NUL in text and 65+ characters in the id columns, SQLite accepts both: checked here, both
  databases answer the same 400;
- `tool_choice.tools` (allowed_tools) at most 128 entries.

Path ids and query strings are checked by the HTTP layer (`ids_in_path_ok`, `query_problem`).
The size of the body itself is capped while it is read (`--max-body-mb`, api/guard.py).
"""

from __future__ import annotations

from typing import Any

from respond.protocol.errors import invalid

MAX_DEPTH = 100
MAX_ID = 64
MAX_TEXT = 10 * 1024 * 1024
MAX_STRING = {"image_url": 20 * 1024 * 1024, "file_data": 32 * 1024 * 1024}
MAX_ALLOWED_TOOLS = 128
# Subtrees whose keys are the client's own (schemas, metadata): an `id` there is no id of ours.
FREE_FORM = frozenset({"parameters", "schema", "input_schema", "metadata", "attributes", "properties",
                       "defs", "$defs", "definitions", "client_metadata", "variables"})


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id") or key == "previous_response_id"


def check_id(value: Any, param: str) -> None:
    """An id the client sent: a string, at most 64 characters, no NUL byte."""
    if not isinstance(value, str):
        raise invalid(f"Invalid type for '{param}': expected a string id.", param, "invalid_type")
    if len(value) > MAX_ID:
        raise invalid(f"Invalid '{param}': string too long. Expected an id of at most {MAX_ID} characters, "
                      f"but got one of {len(value)}.", param, "string_above_max_length")
    if "\x00" in value:
        raise invalid(f"Invalid '{param}': ids cannot contain NUL bytes.", param, "invalid_value")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_json(body: Any, size: int | None = None) -> None:
    """Depth, string lengths and ids of a parsed JSON body (see the module docstring).  `size`: the
    raw body's length, when known: a body no longer than the smallest string cap holds no string to
    check (the common case: only ids and depth are looked at)."""
    strings = size is None or size > MAX_TEXT
    stack: list[tuple[Any, str, int, bool]] = [(body, "", 0, False)]
    while stack:
        value, path, depth, free = stack.pop()
        if depth > MAX_DEPTH:
            raise invalid(f"Invalid '{path}': nested too deeply. JSON bodies can be nested at most "
                          f"{MAX_DEPTH} levels.", path or None, "nested_too_deeply")
        if isinstance(value, dict):
            for key, child in value.items():
                if not free and child is not None and (key in ID_KEYS or key.endswith(("_id", "_ids"))):
                    _check_keyed(key, child, _join(path, key))
                if isinstance(child, dict | list):
                    stack.append((child, _join(path, key), depth + 1, free or key in FREE_FORM))
                elif strings and isinstance(child, str):
                    _check_string(key, child, _join(path, key))
        elif isinstance(value, list):
            for i, child in enumerate(value):
                if isinstance(child, dict | list):
                    stack.append((child, _join(path, i), depth + 1, free))
                elif strings and isinstance(child, str):
                    _check_string("", child, _join(path, i))


ID_KEYS = frozenset({"id", "conversation", "tools"})  # keys _check_keyed looks at, besides *_id / *_ids


def _check_keyed(key: str, child: Any, path: str) -> None:
    if _is_id_key(key) or (key == "conversation" and isinstance(child, str)):
        check_id(child, path)
    elif key.endswith("_ids") and isinstance(child, list):
        for i, each in enumerate(child):
            check_id(each, f"{path}[{i}]")
    elif key == "tools" and path.endswith("tool_choice.tools") and isinstance(child, list) \
            and len(child) > MAX_ALLOWED_TOOLS:
        raise invalid(f"Invalid '{path}': array too long. Expected at most {MAX_ALLOWED_TOOLS} tools, but got "
                      f"{len(child)}.", path, "array_above_max_length")


def _check_string(key: str | int, value: str, path: str) -> None:
    if len(value) <= MAX_TEXT:
        return
    cap = MAX_STRING.get(key, MAX_TEXT) if isinstance(key, str) else MAX_TEXT
    if len(value) > cap:
        raise invalid(f"Invalid '{path}': string too long. Expected a string with maximum length {cap}, but got "
                      f"a string with length {len(value)} instead.", path, "string_above_max_length")


def ids_in_path_ok(path: str) -> bool:
    """No path segment (an id, for our routes) is longer than an id or holds a NUL byte."""
    return "\x00" not in path and all(len(seg) <= MAX_ID for seg in path.split("/"))


def query_problem(params: list[tuple[str, str]]) -> str | None:
    """The name of a query parameter no store could take (a NUL byte, an over-long cursor), or None."""
    for name, value in params:
        if "\x00" in value or "\x00" in name:
            return name
        if name in ("after", "before") and len(value) > MAX_ID:
            return name
    return None
