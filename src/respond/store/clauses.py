"""The SQLAlchemy statements that `Sql` constants (store/statement.py) stand for on PostgreSQL (and on a
SQLAlchemy connection on SQLite): each function takes the dialect's name and builds its statement once
(`Sql.clause`).  Imported on first use: a server on SQLite whose work is all on the hot path never loads it.
tests/unit/store/test_statements.py compiles each one for SQLite against its constant's SQL.
"""

from __future__ import annotations

from typing import Any

from respond.store import schema
from respond.store.tenant_keys import usage


def insert_usage(dialect: str) -> Any:
    """store/tenants.py's INSERT_USAGE: a usage row written once (a second one, from a replayed end, is dropped;
    a plain `ON CONFLICT DO NOTHING`, which store/pg_group.py joins with the other writes of its turn)."""
    return schema.upsert(dialect, usage).on_conflict_do_nothing()
