"""Every `Sql` constant that stands for a SQLAlchemy statement (`build`, store/clauses.py) is, compiled for
SQLite, the very SQL it runs there: the two spellings of one statement cannot drift apart."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from sqlalchemy.dialects import sqlite

import respond.store
from respond.store.statement import Sql


def _constants() -> list[tuple[str, Sql]]:
    found: dict[int, tuple[str, Sql]] = {}
    for info in pkgutil.iter_modules(respond.store.__path__):
        module = importlib.import_module(f"respond.store.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Sql) and value._build is not None:
                found.setdefault(id(value), (f"{info.name}.{name}", value))
    return sorted(found.values(), key=lambda pair: pair[0])


CONSTANTS = _constants()


def test_some_are_found() -> None:
    assert any(name == "tenants.INSERT_USAGE" for name, _sql in CONSTANTS)


@pytest.mark.parametrize("stmt", [s for _n, s in CONSTANTS], ids=[n for n, _s in CONSTANTS])
def test_a_builder_compiles_to_its_sqlite_text(stmt: Sql) -> None:
    compiled = stmt.clause("sqlite").compile(dialect=sqlite.dialect(paramstyle="named"))
    assert " ".join(str(compiled).split()) == stmt.sqlite
