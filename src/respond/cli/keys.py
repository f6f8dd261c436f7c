"""`respond keys create|list|revoke|rotate|update`: stored keys, on the configured --database.

The same operations as the admin API (respond.engine.tenants.key_admin), so a key made here works at once
on every server using that database.  `create` and `rotate` print the key's text once; it is
never stored (only its salted hash).  Limits: --rpm, --tpm, --concurrent, --daily-tokens,
--monthly-tokens; --model is repeatable and takes names or globs (`gpt-4o*`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

import orjson

from respond.config import Flag
from respond.core.tenants import LIMIT_NAMES, KeyObject
from respond.protocol.errors import APIError
from respond.store.sql import SqlStore

if TYPE_CHECKING:  # `respond serve` builds this command's parser too: the key models load when it runs
    from respond.engine.tenants.key_admin import KeyFields


def _limit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", help="owner or project, for people")
    p.add_argument("--model", action="append", dest="models", metavar="NAME|GLOB",
                   help="a model the key may use (name or glob, e.g. 'qwen*'); repeatable; none: every model")
    for name in LIMIT_NAMES:
        p.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name, metavar="N",
                       help={"rpm": "requests per minute", "tpm": "tokens (input + output) per minute",
                             "concurrent": "requests in flight at once", "daily_tokens": "token budget per UTC day",
                             "monthly_tokens": "token budget per UTC month"}[name])
    p.add_argument("--expires-in", type=int, metavar="SECONDS", help="the key stops working after this")


def add_commands(sub: Any, flags: list[Flag]) -> None:
    from respond.cli.ops import _common

    keys = sub.add_parser("keys", help="create, list, revoke or rotate keys stored in the database")
    ksub = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = ksub.add_parser("create", help="a new key (printed once)")
    _limit_flags(create)
    update = ksub.add_parser("update", help="change a key's label, models, limits or expiry")
    update.add_argument("id")
    _limit_flags(update)
    lst = ksub.add_parser("list", help="every stored key (never its secret)")
    lst.add_argument("--json", action="store_true", help="one JSON object a line")
    revoke = ksub.add_parser("revoke", help="revoke a key: refused everywhere within --key-cache-seconds")
    revoke.add_argument("id")
    rotate = ksub.add_parser("rotate", help="a new secret for a key (same id and owner; printed once)")
    rotate.add_argument("id")
    for p in (create, update, lst, revoke, rotate):
        _common(p, flags)


def _body(args: argparse.Namespace) -> KeyFields:
    body: KeyFields = {}
    if args.label is not None:
        body["label"] = args.label
    if args.models:
        body["models"] = args.models
    limits = {n: getattr(args, n) for n in LIMIT_NAMES if getattr(args, n) is not None}
    if limits:
        body["limits"] = limits
    if args.expires_in is not None:
        body["expires_in"] = args.expires_in
    return body


def _line(key: KeyObject) -> str:
    limits = ",".join(f"{k}={v}" for k, v in key["limits"].items() if v is not None) or "unlimited"
    state = "revoked" if key["revoked_at"] else "active"
    return (f"{key['id']}  {state:<8} {key['label'][:24]:<24} models={','.join(key['models']) or '*'}  "
            f"{limits}  expires={key['expires_at'] or '-'}\n")


async def _run(args: argparse.Namespace) -> int:
    from respond.engine.tenants.key_admin import KeyAdmin

    store = SqlStore(args.database)
    out = sys.stdout
    try:
        await store.open()
        admin = KeyAdmin(store.tenants)
        if args.action == "create":
            made = await admin.create(_body(args))
            out.write(f"{made['key']}\n")
            sys.stderr.write(f"created {made['id']}: this is the only time the key is shown\n")
        elif args.action == "rotate":
            made = await admin.rotate(args.id)
            out.write(f"{made['key']}\n")
            sys.stderr.write(f"rotated {made['id']}: the old key no longer works; this one is shown once\n")
        elif args.action == "update":
            out.write(_line(await admin.update(args.id, _body(args))))
        elif args.action == "revoke":
            out.write(_line(await admin.revoke(args.id)))
        else:
            for key in await admin.list():
                out.write(orjson.dumps(key).decode() + "\n" if args.json else _line(key))
        return 0
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except APIError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
