"""`respond responses|runs|db ...`: the operator's commands, on the configured database directly.

They use the same engine queries as the dashboard (`respond.engine.read.queries.Operations`), over
every owner.  `runs cancel` of a run executing in a server process asks that process through
the job table (it stops at its next lease renewal, within seconds).  Output is a table, or JSON
lines with `--json`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from respond.config import Flag
from respond.core.listing import ResponseFilter
from respond.engine.background.workers import RunManager
from respond.engine.read.queries import RUN_STATES, Operations
from respond.engine.service import ModelRouter, ResponsesService
from respond.protocol.errors import APIError
from respond.store.sql import SqlStore


def _common(p: argparse.ArgumentParser, flags: list[Flag]) -> None:
    from respond.cli import add_flag

    for flag in flags:
        add_flag(p, flag)
    p.set_defaults(log_level="warning")


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="only this model")
    p.add_argument("--status", help="only this status (completed, failed, in_progress, ...)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                   help="only responses whose metadata has KEY=VALUE; repeatable (all must match)")
    p.add_argument("--since", metavar="DATE", help="created at or after (YYYY-MM-DD[THH:MM] UTC, or unix seconds)")
    p.add_argument("--until", metavar="DATE", help="created before (same forms)")
    p.add_argument("--text", help="substring of the first input's text")
    p.add_argument("--limit", type=int, default=20, help="rows to print (default 20, at most 500)")
    p.add_argument("--cursor", help="continue after this cursor (printed after a full page)")


def add_commands(sub: Any, flags: list[Flag]) -> None:
    responses = sub.add_parser("responses", help="list, show or delete stored responses")
    rsub = responses.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="stored responses, newest first, with the dashboard's filters")
    add_filters(lst)
    lst.add_argument("--json", action="store_true", help="one JSON object a line")
    get = rsub.add_parser("get", help="one stored response as JSON")
    get.add_argument("id")
    delete = rsub.add_parser("delete", help="delete a stored response (its items and events)")
    delete.add_argument("id")
    runs = sub.add_parser("runs", help="list or cancel background runs")
    usub = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    rl = usub.add_parser("list", help="background runs queued, running or failed")
    rl.add_argument("--state", action="append", choices=RUN_STATES, help="repeatable (default: all three)")
    rl.add_argument("--json", action="store_true", help="one JSON object a line")
    rl.add_argument("--limit", type=int, default=50)
    cancel = usub.add_parser("cancel", help="cancel a background run")
    cancel.add_argument("id")
    db = sub.add_parser("db", help="database migrations")
    dsub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    dsub.add_parser("upgrade", help="apply pending migrations")
    dsub.add_parser("check", help="list applied and pending migrations; exit 1 when some are pending")
    for p in (lst, get, delete, rl, cancel, *dsub.choices.values()):
        _common(p, flags)


def parse_time(raw: str | None) -> int | None:
    if raw is None:
        return None
    if raw.isdigit():
        return int(raw)
    return int(datetime.fromisoformat(raw).replace(tzinfo=UTC).timestamp())


def filter_from(args: argparse.Namespace) -> ResponseFilter:
    meta = {}
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--metadata takes KEY=VALUE, got '{pair}'")
        meta[key] = value
    return ResponseFilter(model=args.model, status=args.status, metadata=meta, created_after=parse_time(args.since),
                          created_before=parse_time(args.until), text=args.text)


def _when(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else "-"


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    out = sys.stdout
    for row in rows:
        if as_json:
            out.write(orjson.dumps(row).decode() + "\n")
        else:
            meta = ",".join(f"{k}={v}" for k, v in (row.get("metadata") or {}).items())
            preview = (row.get("preview") or "").replace("\n", " ")[:40]
            out.write(f"{row['id']}  {_when(row['created_at'])}  {row['status']:<11} {row.get('model') or '-':<24} "
                      f"{meta[:30]:<30} {preview}\n")


async def _run(args: argparse.Namespace) -> int:
    store = SqlStore(args.database)
    try:
        if args.command == "db":
            return await _db(store, args.action)
        await store.open()
        service = ResponsesService(store, ModelRouter([]))
        ops = Operations(store, RunManager(service, workers=0))
        return await _ops(ops, args)
    finally:
        await store.close()


async def _db(store: SqlStore, action: str) -> int:
    # imported here, as they load SQLAlchemy: `respond serve` builds this module's parsers too (issue 20)
    from respond.store.dbcheck import applied_and_pending
    from respond.store.migrations import migrate

    if action == "upgrade":
        done = await migrate(store.db)
        sys.stdout.write("".join(f"applied {name}\n" for name in done) or "up to date\n")
        return 0
    applied, pending = await applied_and_pending(store.db)
    sys.stdout.write("".join(f"applied  {n}\n" for n in applied) + "".join(f"pending  {n}\n" for n in pending))
    return 1 if pending else 0


async def _ops(ops: Operations, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.command == "responses" and args.action == "list":
        page = await ops.responses(None, filter_from(args), args.cursor, args.limit)
        _print_rows(page.rows, args.json)
        if page.next_cursor:
            sys.stderr.write(f"more: --cursor {page.next_cursor}\n")
    elif args.command == "responses" and args.action == "get":
        detail = await ops.detail(args.id, None)
        out.write(orjson.dumps(detail.response, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.command == "responses":
        out.write(orjson.dumps(await ops.delete(args.id, None)).decode() + "\n")
    elif args.action == "list":
        _print_rows(await ops.background_runs(None, tuple(args.state or RUN_STATES), args.limit), args.json)
    else:
        response = await ops.cancel(args.id, None)
        out.write(f"{response['id']} {response['status']}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except APIError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
