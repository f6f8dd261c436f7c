"""The SQLAlchemy statements behind the hot path's `Sql` constants (store/statement.py), built on first use.

Only the quick writes need one (the hot path's, and store/tenants.py's usage rows): on PostgreSQL
their statements are recorded by a `Batch`, compiled once per key set and joined into one statement
(store/pg_merge.py, store/pg_group.py), which needs SQLAlchemy's Insert/Update/Delete objects.  Each
function takes the dialect's name and returns the statement that the `Sql` constant naming it spells
for sqlite3; tests/unit/store/test_statements.py compiles each one for SQLite and checks it is that
SQL.  A server on SQLite never imports this module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert, update

from respond.store import schema
from respond.store.tenant_keys import usage

R, IT, E, J = schema.responses, schema.items, schema.events, schema.jobs


def insert_response(_dialect: str) -> Any:
    return insert(R)


def upsert_response(dialect: str) -> Any:
    up = schema.upsert(dialect, R)
    return up.on_conflict_do_update(index_elements=["id"], set_={"status": up.excluded.status, "body": up.excluded.body})


def insert_items(_dialect: str) -> Any:
    return insert(IT)


def insert_metadata(_dialect: str) -> Any:
    return insert(schema.response_metadata)


def delete_outputs(_dialect: str) -> Any:
    return delete(IT).where(IT.c.response_id == bindparam("rid"), IT.c.kind == bindparam("kind"))


def insert_events(_dialect: str) -> Any:
    return insert(E)


def insert_events_once(dialect: str) -> Any:
    return schema.upsert(dialect, E).on_conflict_do_nothing()


def insert_job(_dialect: str) -> Any:
    return insert(J)


def finish_job(_dialect: str) -> Any:
    return update(J).where(J.c.response_id == bindparam("rid")).values(state=bindparam("state"))


def finish_job_done(_dialect: str) -> Any:
    return update(J).where(J.c.response_id == bindparam("rid")).values(state=bindparam("state"),
                                                                       request=bindparam("request"))


def insert_conversation_items(_dialect: str) -> Any:
    return insert(schema.conversation_items)


def update_snapshot(_dialect: str) -> Any:
    return update(R).where(R.c.id == bindparam("rid")).values(status=bindparam("status"), body=bindparam("body"))


def insert_usage(dialect: str) -> Any:
    """store/tenants.py's INSERT_USAGE: a usage row written once (a second one, from a replayed end, is dropped;
    a plain `ON CONFLICT DO NOTHING`, which store/pg_group.py joins with the other writes of its turn)."""
    return schema.upsert(dialect, usage).on_conflict_do_nothing()
