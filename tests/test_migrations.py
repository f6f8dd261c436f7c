"""Migrations: frozen steps build today's schema, and a first-release database upgrades in place.

- The steps, applied to an empty database, build exactly the tables, columns and indexes that
  `schema.py` / `files.py` / `vectors.py` describe (a column added to a table object without its
  migration fails here).
- A later `ALTER TABLE ... ADD COLUMN` step works on a fresh database even when the table object
  already has the column (issue 11 item 8: steps used to call `create_all` on today's tables).
- A database made by the first release (its frozen steps, filled with the rows it wrote:
  tests/data/release1/, see capture.py there) is upgraded by today's server, which reads every
  response, item, conversation, file and vector store back as the release did, and keeps writing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, MetaData, Table, Text, inspect

from respond.store import containers, files, schema, sessions, tenant_keys, vectors
from respond.store.database import Database
from respond.store.migrations import Migration, migrate, ordered
from tests.conftest import PG_URL, UpstreamThread, _pg_admin

DATA = Path(__file__).parent / "data" / "release1"
FIRST_RELEASE = ["0001_responses_and_items", "0002_events_and_jobs", "0003_conversations",
                 "files_0001_files_vector_stores_chunks", "files_0002_fts_store_column"]
EXTRA_TABLES = {"schema_migrations"}  # besides chunks_fts* (SQLite's FTS5 shadow tables)
EXTRA_COLUMNS = {("chunks", "tsv")}  # PostgreSQL's generated tsvector column


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for each test (the shared test database already has every step)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need RESPOND_TEST_POSTGRES")
    name = f"respond_mig_{secrets.token_hex(4)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _engine(url: str) -> Database:
    return Database(url)


def _steps(names: list[str]) -> list[tuple[str, Migration]]:
    known = dict(ordered())
    return [(n, known[n]) for n in names]


def _reflected(sync: Any) -> dict[str, Any]:
    insp = inspect(sync)
    dialect = sync.dialect
    shape: dict[str, Any] = {}
    for table in insp.get_table_names():
        if table.startswith("chunks_fts") or table in EXTRA_TABLES:
            continue
        shape[table] = {
            "columns": {c["name"]: (c["type"].compile(dialect), c["nullable"])
                        for c in insp.get_columns(table) if (table, c["name"]) not in EXTRA_COLUMNS},
            "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)
                              if i["name"] != "ix_chunks_tsv"),
        }
    return shape


def _declared(dialect: Any) -> dict[str, Any]:
    # vectors' `chunks` table sits in files.metadata (the store loads that module on first use)
    metas = (schema.metadata, files.metadata, vectors.chunks.metadata, containers.metadata, tenant_keys.metadata,
             sessions.metadata)
    tables = [t for m in metas for t in m.sorted_tables if t.name not in EXTRA_TABLES]
    return {t.name: {
        "columns": {c.name: (c.type.compile(dialect), c.nullable) for c in t.columns},
        "pk": sorted(c.name for c in t.primary_key.columns),
        "indexes": sorted((i.name, tuple(c.name for c in i.columns)) for i in t.indexes),
    } for t in tables}


async def _migrated_and_declared(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    engine = _engine(url)
    try:
        await migrate(engine)
        return await engine.read(_reflected), _declared(engine.dialect)
    finally:
        await engine.close()


def test_steps_build_the_declared_schema(empty_db: str) -> None:
    migrated, declared = asyncio.run(_migrated_and_declared(empty_db))
    assert set(migrated) == set(declared)
    for table, shape in declared.items():
        assert migrated[table]["columns"] == shape["columns"], table
        assert migrated[table]["pk"] == shape["pk"], table
        # a step may add an index its table object does not declare (a partial or GIN one, say)
        assert set(shape["indexes"]) <= set(migrated[table]["indexes"]), table


def test_a_later_add_column_step_works_on_a_fresh_database(empty_db: str) -> None:
    """Issue 11 item 8: the table object has the new column AND a step adds it: no duplicate."""
    column = Column("later_note", Text, nullable=True)
    schema.responses.append_column(column)

    async def add_column(conn: Any) -> None:
        await conn.exec_driver_sql("ALTER TABLE responses ADD COLUMN later_note TEXT")

    async def run() -> list[str]:
        engine = _engine(empty_db)
        try:
            return await migrate(engine, [*ordered(), ("9999_test_later_note", add_column)])
        finally:
            await engine.close()

    try:
        applied = asyncio.run(run())
    finally:
        schema.responses._columns.remove(column)
    assert applied[-1] == "9999_test_later_note"


async def _first_release(url: str) -> None:
    """The first release's schema (its frozen steps only), filled with the rows it wrote."""
    rows: dict[str, list[dict[str, Any]]] = json.loads((DATA / "rows.json").read_text())
    engine = _engine(url)
    try:
        assert await migrate(engine, _steps(FIRST_RELEASE)) == FIRST_RELEASE
        meta = MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(lambda s: meta.reflect(s, only=list(rows)))
            for name, table_rows in rows.items():
                table: Table = meta.tables[name]
                values = [{k: _value(table, k, v) for k, v in row.items()} for row in table_rows]
                if values:
                    await conn.execute(table.insert(), values)
            if engine.dialect.name == "postgresql":
                for name in ("items", "conversation_items", "chunks"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'pk'), (SELECT max(pk) FROM {name}))")
            else:  # the release wrote each chunk's lexical entry with it
                await conn.exec_driver_sql(
                    "INSERT INTO chunks_fts(rowid, text, store) SELECT pk, text, vector_store_id FROM chunks")
    finally:
        await engine.close()


def _value(table: Table, column: str, value: Any) -> Any:
    if isinstance(value, dict) and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if isinstance(table.c[column].type, Boolean) and value is not None:
        return bool(value)
    return value


def _assert_subset(expected: Any, actual: Any, where: str) -> None:
    """Everything the release answered is answered the same (later releases may add fields)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            _assert_subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_subset(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


def test_first_release_database_upgrades_and_reads_back(empty_db: str, app_factory: Any,
                                                        upstream: UpstreamThread) -> None:
    asyncio.run(_first_release(empty_db))
    server = app_factory("--upstream", upstream.base_url, "--embedded", "off", database=empty_db)
    reads: dict[str, Any] = json.loads((DATA / "reads.json").read_text())
    with server.http() as http:
        for path, expected in reads.items():
            got = http.get(path)
            assert got.status_code == 200, (path, got.text)
            _assert_subset(expected, got.json(), path)
        # the upgraded database keeps working: continue the release's chain, add to its conversation
        chained = [p for p, r in reads.items() if isinstance(r, dict) and r.get("previous_response_id")]
        parent = reads[chained[0]]
        upstream.reply({"content": "After the upgrade."})
        new = http.post("/responses", json={"model": "m", "input": "And now?", "previous_response_id": parent["id"]})
        assert new.status_code == 200, new.text
        sent = [m["content"] for m in upstream.requests()[-1]["messages"]]
        assert sent == ["Hi", "Hello there.", "More", "Second answer.", "And now?"], sent  # instructions do not carry
        conv = next(p for p in reads if p.startswith("/conversations/") and p.count("/") == 2)
        added = http.post(f"{conv}/items", json={"items": [{"type": "message", "role": "user", "content": "x"}]})
        assert added.status_code == 200, added.text
        assert len(http.get(f"{conv}/items").json()["data"]) == 2
        store = next(p for p in reads if p.startswith("/vector_stores/") and p.count("/") == 2)
        hits = http.post(f"{store}/search", json={"query": "Respond stores everything"})
        assert hits.status_code == 200 and hits.json()["data"], hits.text
