"""A statement of the stores' hot path, written as SQL that sqlite3 runs as it is (issue 20's memory target).

A server on SQLite does not load SQLAlchemy (13 MB resident: bench/memory.py --breakdown) for what every
request and every idle poll does: those statements are `Sql` constants, run by the driver with the rows'
own dicts as named parameters (`:name`).  On PostgreSQL the same constant stands for a SQLAlchemy
statement, built on first use by a function of `store/clauses.py` (the asyncpg path compiles, batches and
joins those: store/pg_direct.py, store/pg_merge.py), or for the SQL text itself when it names none.
`tests/unit/store/test_statements.py` compiles each of those builders for SQLite and checks that it is
the statement written here, so the two cannot drift apart.

`bind`: the parameters SQLAlchemy's column types convert on the way in (a `SafeString` column's
escaping, store/safetext.py), converted here the same way on SQLite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


class Sql:
    """One statement built once (a module constant): its SQL for sqlite3, and what it is on SQLAlchemy."""

    __slots__ = ("sqlite", "bind", "_build", "_clauses")

    def __init__(self, sqlite: str, build: str | None = None,
                 bind: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        self.sqlite = " ".join(sqlite.split())
        self.bind = dict(bind or {})
        self._build = build  # a function of store/clauses.py: (dialect name) -> SQLAlchemy statement
        self._clauses: dict[str, Any] = {}

    def clause(self, dialect: str) -> Any:
        """The SQLAlchemy statement for `dialect`, built once (SQLAlchemy is imported here, on first use)."""
        got = self._clauses.get(dialect)
        if got is None:
            if self._build is None:
                from sqlalchemy import text

                got = text(self.sqlite)
            else:
                got = getattr(importlib.import_module("respond.store.clauses"), self._build)(dialect)
            got = self._clauses.setdefault(dialect, got)
        return got

    def rows(self, rows: Sequence[Any]) -> Sequence[Any]:
        """The rows as sqlite3 takes them: `bind`'s parameters converted."""
        if not self.bind:
            return rows
        return [{**row, **{k: f(row[k]) for k, f in self.bind.items() if k in row}} for row in rows]

    def __repr__(self) -> str:
        return f"Sql({self.sqlite[:60]!r}...)"
