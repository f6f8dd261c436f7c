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
_MERGED: dict[tuple[tuple[str, int], ...], tuple[str, tuple[int | None, ...]] | None] = {}


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


def groupable(stmt: Any) -> bool:
    """Whether the rows of this statement from several writes (store/pg_group.py) may go in one statement:
    rows that meet do what they would one after the other (`_shape`'s INSERTs, a DELETE, an UPDATE that sets
    the same parameters in every row: `_where_rows`), or make it fail (an upsert's: `ON CONFLICT DO UPDATE
    command cannot affect row a second time`), and the group then runs one write at a time."""
    kind, _target, _named, _plain, rows = _shape(stmt)
    upsert = kind == "insert" and stmt.select is None and \
        type(getattr(stmt, "_post_values_clause", None)).__name__ == "OnConflictDoUpdate"
    return rows or upsert or kind in ("delete", "update")


def joinable(stmts: Sequence[Any], steps: Sequence[Step], grouped: bool = False) -> bool:
    """Whether these statements, run in order, may run as one statement (see the module docstring);
    `grouped`: rows of several writes (see `groupable`)."""
    shapes = [_shape(s) for s in stmts]
    for j, (kind, _target, named, plain, rows) in enumerate(shapes):
        several = len(steps[j][1]) > 1 and not (rows or grouped and groupable(stmts[j]))
        if not kind or several:  # (rows of an upsert could meet each other)
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


_SET = re.compile(r"UPDATE \w+ SET \w+=\$\d+::\w+(?:, \w+=\$\d+::\w+)*")


def _where_rows(sql: str, rows: int, width: int) -> tuple[str, int] | None:
    """`rows` rows of a DELETE, or of an UPDATE that only sets parameters (the same in every row: `merged`
    checks), as one statement: each row's condition, joined by OR (a row matched twice is deleted, or set
    to the same values, once: as one after the other).  Its SQL and how many of the first parameters are
    the SET's (the first row's only are sent)."""
    head, sep, cond = sql.partition(" WHERE ")
    if not sep or " WHERE " in cond or " RETURNING " in cond or "(" in cond:
        return None
    kept = len(_PARAM.findall(head))
    if not (head.startswith("DELETE FROM ") and not kept or _SET.fullmatch(head)):
        return None
    numbers = [int(n) for n in _PARAM.findall(head + " " + cond)]
    if numbers != list(range(1, width + 1)):
        return None

    def numbered(n: int) -> str:  # row n's condition: its parameters after those of the rows before
        base = width + (n - 1) * (width - kept) - kept
        return _PARAM.sub(lambda m: f"${base + int(m.group(1))}", cond)

    conds = [cond, *(numbered(n) for n in range(1, rows))]
    return f"{head} WHERE " + " OR ".join(f"({c})" for c in conds), kept


def _build(steps: Sequence[Step]) -> tuple[str, tuple[int | None, ...]] | None:
    """The joined SQL, and per step how many of its first parameters only its first row sends (None: all
    of every row)."""
    parts: list[str] = []
    kept: list[int | None] = []
    offset = 0
    for sql, args in steps:
        if "'" in sql or "$$" in sql:
            return None  # a literal could hold what looks like a parameter
        width = len(args[0])
        count, keep = width * len(args), None
        if len(args) > 1:
            where = _values(sql, width)
            if where is not None:
                start, end = where
                rows = ", ".join(_shifted(sql[start:end], width * n) for n in range(len(args)))
                sql = sql[:start] + rows + sql[end:]
            else:
                by_rows = _where_rows(sql, len(args), width)
                if by_rows is None:
                    return None
                sql, keep = by_rows
                count = width + (len(args) - 1) * (width - keep)
        parts.append(_shifted(sql, offset))
        kept.append(keep)
        offset += count
    head = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts[:-1]))
    return (f"WITH {head} {parts[-1]}" if head else parts[-1]), tuple(kept)


def merged(stmts: Sequence[Any], steps: Sequence[Step], grouped: bool = False) -> tuple[str, tuple[Any, ...]] | None:
    """One statement and its arguments for a quick write's steps (2 or more), or None: run them as a
    transaction.  The SQL is kept per statement and row count (at most a few hundred variants).
    `grouped`: the steps hold the rows of several writes (store/pg_group.py)."""
    if len(steps) < 2 or not joinable(stmts, steps, grouped):
        return None
    key = tuple((sql, len(args)) for sql, args in steps)
    if key not in _MERGED:
        if len(_MERGED) >= 512:
            _MERGED.clear()
        _MERGED[key] = _build(steps)
    built = _MERGED[key]
    if built is None:
        return None
    sql, kept = built
    values: list[Any] = []
    for (_sql, args), keep in zip(steps, kept, strict=True):
        if keep is None:
            values.extend(value for row in args for value in row)
        elif any(row[:keep] != args[0][:keep] for row in args):
            return None  # an UPDATE that sets other values in another row
        else:
            values.extend(args[0])
            values.extend(value for row in args[1:] for value in row[keep:])
    return sql, tuple(values)
