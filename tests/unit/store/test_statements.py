"""The store's `Sql` constants (store/statement.py): what sqlite3 runs is what SQLAlchemy would run.

A constant that names a builder of store/clauses.py stands for that SQLAlchemy statement on PostgreSQL;
compiled for SQLite, the statement must be the constant's own SQL (whitespace aside), and the parameters
that SQLAlchemy's column types convert (a `SafeString`'s escaping and cut) must be the ones its `bind`
converts, the same way.  Otherwise the two spellings of one statement could drift apart unnoticed."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import Boolean

import respond.store
from respond.store import clauses
from respond.store.statement import Sql

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_DIALECT = sqlite.dialect(paramstyle="named")


def _constants() -> dict[str, Sql]:
    """Every `Sql` at the top of a store module, by `module.NAME` (dicts of them too, e.g. a page's variants)."""
    found: dict[str, Sql] = {}
    seen: set[int] = set()  # (a constant imported by another module is found once)
    for info in pkgutil.iter_modules(respond.store.__path__):
        module = importlib.import_module(f"respond.store.{info.name}")
        for name, value in vars(module).items():
            values = value.items() if isinstance(value, dict) else [(None, value)]
            for key, item in values:
                if isinstance(item, Sql) and id(item) not in seen:
                    seen.add(id(item))
                    found.setdefault(f"{info.name}.{name}" + ("" if key is None else f"[{key}]"), item)
    return found


CONSTANTS = _constants()
BUILT = {name: stmt for name, stmt in CONSTANTS.items() if stmt._build is not None}


def _compiled(stmt: Sql) -> Any:
    keys = _PARAM.findall(stmt.sqlite)  # an INSERT's or UPDATE's columns: those the rows carry
    return stmt.clause("sqlite").compile(dialect=_DIALECT, column_keys=keys)


def test_the_hot_statements_are_found() -> None:
    assert {"sql.INSERT_RESPONSE", "sql.UPSERT_RESPONSE", "jobs.INSERT_JOB", "jobs.UPDATE_SNAPSHOT",
            "tenants.INSERT_USAGE"} <= set(BUILT)
    assert "jobs._CLAIM_SQLITE" in CONSTANTS


@pytest.mark.parametrize("name", sorted(BUILT))
def test_a_statement_is_the_sql_sqlite_runs(name: str) -> None:
    stmt = BUILT[name]
    assert " ".join(str(_compiled(stmt)).split()) == stmt.sqlite


@pytest.mark.parametrize("name", sorted(BUILT))
def test_its_parameters_are_converted_as_its_columns_convert_them(name: str) -> None:
    stmt = BUILT[name]
    compiled = _compiled(stmt)
    # (a Boolean's processor makes True 1: sqlite3 binds True as 1 itself)
    converted = {key for key, proc in compiled._bind_processors.items()
                 if proc is not None and not isinstance(compiled.binds[key].type, Boolean)}
    assert converted == set(stmt.bind)
    for key in converted:
        for value in ("plain", "nul\x00here", "\ufdd0\ufdd1", "x" * 600, "\ud800lone", None):
            assert stmt.bind[key](value) == compiled._bind_processors[key](value), (key, value)


def test_every_builder_is_named_by_a_statement() -> None:
    builders = {name for name, fn in vars(clauses).items()
                if callable(fn) and getattr(fn, "__module__", None) == clauses.__name__}
    assert builders == {stmt._build for stmt in BUILT.values()}
