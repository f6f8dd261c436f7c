"""Filling a server's SQLite file to N stored responses, fast, without knowing its schema.

Creating 100k responses over HTTP takes minutes on two cores, so the retrieve scenario tops up
the database directly, with the server stopped: it takes one real response made over HTTP as the
template, finds every row that belongs to it (rows mentioning its id, then rows mentioning the ids
those rows mention: items, and so on), and writes N copies of that row set in which every such id
gets a fresh 12-hex-digit suffix (the same shape for hex and UUID ids).  An INTEGER PRIMARY KEY column is left to SQLite.  The
retrieve scenario then checks that each GET answers with the id it asked for.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
from pathlib import Path

import asyncpg

ID_RE = re.compile(r"\b(?:resp|msg|item|fc|rs|conv)_[0-9A-Za-z-]{16,}")


def _tables(db: sqlite3.Connection) -> dict[str, list[tuple[str, str, int]]]:
    """Plain tables: not SQLite's own, not virtual (full-text) tables nor their shadow tables."""
    master = db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall()
    virtual = [n for n, sql in master if (sql or "").upper().startswith("CREATE VIRTUAL")]
    out = {}
    for name, _ in master:
        if name.startswith("sqlite_") or any(name == v or name.startswith(v + "_") for v in virtual):
            continue
        out[name] = [(r[1], (r[2] or "").upper(), r[5]) for r in db.execute(f'PRAGMA table_info("{name}")')]
    return out


def _rowset(db: sqlite3.Connection, template: str) -> dict[str, list[tuple]]:
    tables = _tables(db)
    tokens, seen = {template}, set()
    rows: dict[str, dict[tuple, tuple]] = {}
    for _ in range(4):  # the closure is shallow: response -> items -> (nothing new)
        new = tokens - seen
        if not new:
            break
        seen |= new
        for t, cols in tables.items():
            textual = [c for c, typ, _ in cols if "CHAR" in typ or "TEXT" in typ or typ == ""]
            if not textual:
                continue
            for tok in new:
                cond = " OR ".join(f'"{c}" LIKE ?' for c in textual)
                for r in db.execute(f'SELECT * FROM "{t}" WHERE {cond}', [f"%{tok}%"] * len(textual)):
                    rows.setdefault(t, {})[r] = r
                    for v in r:
                        if isinstance(v, str):
                            tokens.update(ID_RE.findall(v))
    return {t: list(v.values()) for t, v in rows.items()}


def top_up(path: Path, template: str, target: int, table: str = "responses") -> tuple[int, list[str]]:
    """Copy the template's rows until `table` holds `target` rows; (copies made, sample of new ids)."""
    db = sqlite3.connect(path, timeout=60)
    try:
        have = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        need = max(0, target - have)
        if not need:
            return 0, []
        tables = _tables(db)
        rowset = _rowset(db, template)
        tokens = sorted(
            {
                tok
                for rs in rowset.values()
                for r in rs
                for v in r
                if isinstance(v, str)
                for tok in ID_RE.findall(v)
            },
            key=len,
            reverse=True,
        )
        salt = random.Random(target).getrandbits(16)
        new_ids: list[str] = []
        db.execute("PRAGMA synchronous=OFF")
        with db:
            for t, rs in rowset.items():
                cols = tables[t]
                intpk = [i for i, (_, typ, pk) in enumerate(cols) if pk == 1 and typ == "INTEGER"]
                names = ",".join(f'"{c}"' for c, _, _ in cols)
                marks = ",".join("?" * len(cols))
                sql = f'INSERT INTO "{t}" ({names}) VALUES ({marks})'
                batch: list[list] = []
                for k in range(need):
                    suffix = f"{salt:04x}{k:08x}"
                    mapping = {tok: tok[: len(tok) - 12] + suffix for tok in tokens}
                    if t == table:
                        new_ids.append(mapping[template])
                    for r in rs:
                        vals = list(r)
                        for i, v in enumerate(vals):
                            if i in intpk:
                                vals[i] = None
                            elif isinstance(v, str) and "_" in v:
                                for tok, rep in mapping.items():
                                    if tok in v:
                                        v = v.replace(tok, rep)
                                vals[i] = v
                        batch.append(vals)
                    if len(batch) >= 20000:
                        db.executemany(sql, batch)
                        batch.clear()
                if batch:
                    db.executemany(sql, batch)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return need, new_ids
    finally:
        db.close()


def count(path: Path, table: str = "responses") -> int:
    db = sqlite3.connect(path, timeout=60)
    try:
        return int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    finally:
        db.close()


# -- PostgreSQL: a fresh database per server and pass ---------------------------------------------


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_database(admin_url: str, prefix: str) -> str:
    """A new, empty database on the server of `admin_url`; its URL."""
    name = re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{os.getpid()}".lower())
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
