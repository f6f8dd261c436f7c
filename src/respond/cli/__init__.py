"""`respond`: the command line.  Every `serve` flag can also be set as `RESPOND_<FLAG>`.

The flags are built from `respond.config.FLAGS` (one definition: help, defaults, environment,
README's table); `serve --config FILE` reads them from a TOML file too (respond.config_file), and
`config check FILE` validates one.  `serve` runs the server; `responses`, `runs` and `db` work on the
configured database directly (respond.cli.ops), with the dashboard's filters; `keys` manages the keys
stored there (respond.cli.keys).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from respond.config import FLAGS, Flag, Settings, flag_default
from respond.core.logctx import configure

if TYPE_CHECKING:
    import asyncio

DESCRIPTION = """Respond: a self-hosted, durable OpenAI Responses API.

Point any OpenAI SDK at http://HOST:PORT/v1 and use client.responses as usual.
With no flags, `respond serve` serves the embedded llama.cpp model
(qwen2.5-coder-0.5b-instruct, assembled from PyPI packages on first start) and stores
everything in a SQLite file in your user data directory."""


def add_flag(parser: argparse.ArgumentParser, flag: Flag, explicit_only: bool = False) -> None:
    help_text = f"{flag.help} ({flag.env}; default {flag.shown_default()})"
    kwargs: dict[str, object] = {"dest": flag.name, "help": help_text.replace("%", "%%")}
    if explicit_only:  # only what the command line says (the file and RESPOND_* fill in the rest)
        kwargs.update(default=argparse.SUPPRESS, type=flag.type, action="append" if flag.repeat else "store")
    elif flag.repeat:
        kwargs.update(action="append", default=None)
    else:
        kwargs.update(default=flag_default(flag), type=flag.type)
    if flag.metavar:
        kwargs["metavar"] = flag.metavar
    if flag.choices:
        kwargs["choices"] = flag.choices
    parser.add_argument(flag.option, **kwargs)  # type: ignore[arg-type]


def build_parser(explicit_only: bool = False) -> argparse.ArgumentParser:
    from respond.cli import ops

    parser = argparse.ArgumentParser(prog="respond", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP server", description=DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in FLAGS:
        add_flag(serve, flag, explicit_only)
    config = sub.add_parser("config", help="work with a --config file").add_subparsers(dest="action",
                                                                                         metavar="ACTION")
    check = config.add_parser("check", help="validate a configuration file and print the effective settings "
                                            "(RESPOND_* variables applied, secrets masked)")
    check.add_argument("file", metavar="FILE", type=Path)
    from respond.cli import keys

    common = [f for f in FLAGS if f.name in ("database", "log_level", "log_format")]
    ops.add_commands(sub, common)
    keys.add_commands(sub, common)
    return parser


def config_check(path: Path) -> int:
    from respond.bootstrap import upstream_limits
    from respond.config_file import describe, settings_with
    from respond.upstreams import build_upstreams

    try:
        settings = settings_with({"config": path})
        build_upstreams(settings, upstream_limits(settings))  # each backend checks its options (no I/O)
    except ValueError as exc:  # ConfigError included
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(f"# {path}: valid; the effective settings (secrets masked):\n{describe(settings)}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0 if argv == [] else 2
    if args.command == "config":
        if args.action != "check":
            parser.parse_args(["config", "--help"])
        return config_check(args.file)
    configure(getattr(args, "log_level", "warning"), getattr(args, "log_format", "text"))
    if args.command == "keys":
        from respond.cli import keys

        return keys.run(args)
    if args.command != "serve":
        from respond.cli import ops

        return ops.run(args)
    from respond.config_file import ConfigError, settings_with

    explicit = vars(build_parser(explicit_only=True).parse_args(argv))
    try:
        settings = settings_with({k: v for k, v in explicit.items() if k != "command"})
    except ConfigError as exc:
        logging.getLogger("respond").error("%s", exc)
        return 2
    configure(settings.log_level, settings.log_format)  # the file may set them
    if settings.processes < 1:
        logging.getLogger("respond").error("--processes must be at least 1, got %d", settings.processes)
        return 2
    if settings.processes > 1:
        from respond.cli.processes import Supervisor

        return Supervisor(settings, _serve).run()
    try:
        _serve(settings, None)
    except (ValueError, RuntimeError) as exc:
        logging.getLogger("respond").error("%s", exc)
        return 2
    return 0


def _uvicorn() -> ModuleType:
    """uvicorn's `Config` and `Server`, without running its package's `__init__`: that imports uvicorn's own
    command line (click) and its reloaders (watchfiles, multiprocessing), ~4 MB resident that `respond serve`
    never uses (bench/memory.py).  The package is registered bare and given the two names its modules import
    from it; when something in this process imported uvicorn already, that one is used."""
    if "uvicorn" not in sys.modules:
        spec = importlib.util.find_spec("uvicorn")
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)  # its path set, its __init__ not run
        sys.modules["uvicorn"] = package
        try:
            from uvicorn.config import Config
            from uvicorn.server import Server
        except BaseException:
            del sys.modules["uvicorn"]
            raise
        package.Config, package.Server = Config, Server  # type: ignore[attr-defined]
    return sys.modules["uvicorn"]


def _websocket_protocol(**kwargs: Any) -> asyncio.Protocol:
    """uvicorn's WebSocket protocol (the one its `ws="auto"` picks: websockets' sans-I/O one), imported by
    the first WebSocket upgrade: websockets' modules (~1.2 MB resident, bench/memory.py) stay out of a
    server that is never asked for one.  uvicorn calls it as the class with the connection's state."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    assert AutoWebSocketsProtocol is not None  # websockets is one of Respond's dependencies
    return AutoWebSocketsProtocol(**kwargs)


def uvicorn_config(uvicorn: ModuleType, app: Any, settings: Settings) -> Any:
    """The `uvicorn.Config` that `respond serve` runs `app` with."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                          access_log=False, timeout_graceful_shutdown=30, log_config=None,
                          ws=cast("type[asyncio.Protocol]", _websocket_protocol))


def _serve(settings: Settings, sock: socket.socket | None) -> None:
    """Build the app and serve it until a signal stops it (on `sock` when given: a supervisor's)."""
    uvicorn = _uvicorn()

    from respond.bootstrap import build_app

    app = build_app(settings)
    # Everything built so far (modules, the app) lives as long as the process: out of the collector's
    # sight, its full collections stop re-walking a few hundred thousand objects that never die.
    gc.collect()
    gc.freeze()
    # A request allocates a few thousand container objects, nearly all freed by their reference counts: with
    # the default threshold (700) the collector's youngest generation ran several times a request to find
    # almost nothing.  10,000 holds only the rare cycles longer (no RSS change in bench/memory.py; -3 % of
    # the instructions per non-stream request in bench/instructions.py).
    gc.set_threshold(10_000, 20, 20)
    server = uvicorn.Server(uvicorn_config(uvicorn, app, settings))
    try:
        server.run(sockets=[sock] if sock is not None else None)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it shut down for; `uvicorn.run` swallows it too
        pass
    if not server.started:  # it could not start (the port is taken, the lifespan failed): said in the log
        raise SystemExit(3)  # (cli/processes.py: CANNOT_START)


if __name__ == "__main__":
    sys.exit(main())
