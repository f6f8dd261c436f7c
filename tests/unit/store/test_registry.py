"""Stores are chosen by URL scheme."""

from __future__ import annotations

import pytest

from respond import store


def test_scheme_of() -> None:
    assert store.scheme_of("sqlite+aiosqlite:///x.db") == "sqlite"
    assert store.scheme_of("postgresql://u@h/db") == "postgresql"
    assert store.scheme_of("x.db") == ""


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Unknown store URL scheme 'mysql'.*Known schemes: postgres, postgresql, sqlite"):
        store.create("mysql://u@h/db")


def test_sqlite_url_builds_the_sql_store(tmp_path: object) -> None:
    s = store.create(f"sqlite:///{tmp_path}/r.db")
    assert s.dialect == "sqlite"
