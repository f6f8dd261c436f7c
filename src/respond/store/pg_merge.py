"""One statement for a quick write of several statements on PostgreSQL: data-modifying `WITH` queries.

As a transaction, a quick write of n statements costs n + 2 round trips (BEGIN, each statement, COMMIT),
and on the event loop each one is a send, a wake-up and a reply parsed: most of what the writes cost
(py-spy, BENCHMARKS.md).  Joined as `WITH w0 AS (first), w1 AS (second) last` (the rows of an INSERT as
one multi-row VALUES) they are one statement: one round trip, and still all of it or none.

PostgreSQL runs the parts of such a statement on one snapshot, so a part does not see what an earlier
part wrote.  Statements are joined only where that changes nothing: no statement reads or writes a table
that an earlier one wrote, but for the one case the hot writes have (a response's end): a DELETE, then a
plain INSERT into the same table (the DELETE, run first, would not have seen the INSERT's rows either).
Several rows of anything but an INSERT that is plain or does nothing on a conflict (an upsert's rows
could meet each other), a statement with a literal in its SQL, or more parameters than one statement
takes, and the write runs as a transaction of statements, as before.  The store has no foreign keys or
triggers (store/schema.py) whose order could differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.sql.util import find_tables

Step = tuple[str, list[tuple[Any, ...]]]  # a statement's SQL and its rows' arguments
_MAX_PARAMS = 32767  # PostgreSQL's limit for one statement
_PARAM = re.compile(r"\$(\d+)")
_SHAPES: dict[int, tuple[Any, str, str, frozenset[str], bool, bool]] = {}
_MERGED: dict[tuple[tuple[str, int], ...], str | None] = {}


def _shape(stmt: Any) -> tuple[str, str, frozenset[str], bool, bool]:
    """What a statement built once does: its kind, the table it writes, every table it names, whether
    it is a plain INSERT ... VALUES (no ON CONFLICT, no SELECT), and whether several rows of it may go in
    one statement (a plain INSERT, or one that does nothing on a conflict: a row that meets an earlier
    row of the same statement is skipped, as it is when they run one after the other)."""
    got = _SHAPES.get(id(stmt))
    if got is None:
        kind = "insert" if stmt.is_insert else "update" if stmt.is_update else "delete" if stmt.is_delete else ""
        target = str(getattr(getattr(stmt, "table", None), "name", ""))
        named = frozenset(str(getattr(t, "name", "")) for t in find_tables(stmt, check_columns=True, include_crud=True))
        clause = getattr(stmt, "_post_values_clause", None) if kind == "insert" else None
        values = kind == "insert" and stmt.select is None
        plain = values and clause is None
        rows = plain or (values and type(clause).__name__ == "OnConflictDoNothing")
        got = _SHAPES[id(stmt)] = (stmt, kind, target, named | {target}, plain, rows)  # (holds `stmt`: its id stays its own)
    return got[1], got[2], got[3], got[4], got[5]


def multi_row(stmt: Any) -> bool:
    """Whether several rows of this statement may go in one statement (see `_shape`)."""
    return _shape(stmt)[4]


def joinable(stmts: Sequence[Any], steps: Sequence[Step]) -> bool:
    """Whether these statements, run in order, may run as one statement (see the module docstring)."""
    shapes = [_shape(s) for s in stmts]
    for j, (kind, _target, named, plain, rows) in enumerate(shapes):
        if not kind or (len(steps[j][1]) > 1 and not rows):  # (rows of an upsert could meet each other)
            return False
        for earlier_kind, earlier_target, _named, _plain, _rows in shapes[:j]:
            if earlier_target in named and not (earlier_kind == "delete" and plain and named == {earlier_target}):
                return False
    return sum(len(args) * len(args[0]) for _sql, args in steps) <= _MAX_PARAMS


def _values(sql: str, width: int) -> tuple[int, int] | None:
    """Where the one VALUES tuple of an INSERT is in its SQL, if it holds exactly its parameters $1..$width."""
    start = sql.find(" VALUES (")
    if start < 0 or sql.find(" VALUES (", start + 1) >= 0:
        return None
    start += len(" VALUES ")
    depth = 0
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            inner = [int(n) for n in _PARAM.findall(sql[start:end + 1])]
            outside = _PARAM.findall(sql[:start] + sql[end + 1:])
            return (start, end + 1) if inner == list(range(1, width + 1)) and not outside else None
    return None


def _shifted(sql: str, offset: int) -> str:
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql) if offset else sql


def _build(steps: Sequence[Step]) -> str | None:
    parts: list[str] = []
    offset = 0
    for sql, args in steps:
        if "'" in sql or "$$" in sql:
            return None  # a literal could hold what looks like a parameter
        width = len(args[0])
        if len(args) > 1:
            where = _values(sql, width)
            if where is None:
                return None
            start, end = where
            rows = ", ".join(_shifted(sql[start:end], width * n) for n in range(len(args)))
            sql = sql[:start] + rows + sql[end:]
        parts.append(_shifted(sql, offset))
        offset += width * len(args)
    head = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts[:-1]))
    return f"WITH {head} {parts[-1]}"


def merged(stmts: Sequence[Any], steps: Sequence[Step]) -> tuple[str, tuple[Any, ...]] | None:
    """One statement and its arguments for a quick write's steps (2 or more), or None: run them as a
    transaction.  The SQL is kept per statement and row count (at most a few hundred variants)."""
    if len(steps) < 2 or not joinable(stmts, steps):
        return None
    key = tuple((sql, len(args)) for sql, args in steps)
    if key not in _MERGED:
        if len(_MERGED) >= 512:
            _MERGED.clear()
        _MERGED[key] = _build(steps)
    sql = _MERGED[key]
    if sql is None:
        return None
    return sql, tuple(value for _sql, args in steps for row in args for value in row)
