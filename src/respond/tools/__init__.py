"""Hosted tools: each a package here with its `HostedKind` (see `respond.core.hosted`).

Nothing is registered at import time and nothing is kept here: bootstrap lists the built-in kinds
(`bootstrap.HOSTED_TOOLS`), `kinds()` adds those of the `respond.tools` entry-point group
(third-party packages: an entry point naming a `HostedKind`), and `build()` makes the configured
tools.  The kinds' wires (protocol/vocabulary.py) are what the server's `Vocabulary` is made of.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points

from respond.core.hosted import HostedKind, HostedTool, ToolServices

log = logging.getLogger("respond.tools")


def plugins() -> list[HostedKind]:
    """The kinds that installed packages add through the `respond.tools` entry-point group."""
    out = []
    for ep in entry_points(group="respond.tools"):
        kind = ep.load()
        if not isinstance(kind, HostedKind):
            raise ValueError(f"The respond.tools entry point '{ep.name}' must name a HostedKind "
                             f"(respond.core.hosted), not {type(kind).__name__}.")
        out.append(kind)
    return out


def kinds(builtin: Iterable[HostedKind], extra: Iterable[HostedKind] = ()) -> list[HostedKind]:
    """The built-in kinds and `extra` (plugins); two kinds of one name are an error."""
    out: dict[str, HostedKind] = {}
    for kind in [*builtin, *extra]:
        if kind.name in out:
            raise ValueError(f"Two hosted tools are named '{kind.name}'.")
        out[kind.name] = kind
    return list(out.values())


def pick(available: Sequence[HostedKind], names: Iterable[str]) -> list[HostedKind]:
    """The kinds named `names`; an unknown name is an error listing the known ones."""
    by_name = {k.name: k for k in available}
    out = []
    for name in names:
        if name not in by_name:
            raise ValueError(f"Unknown hosted tool '{name}'. Known tools: {', '.join(sorted(by_name))}.")
        out.append(by_name[name])
    return out


def build(available: Iterable[HostedKind], services: ToolServices) -> list[HostedTool]:
    """The configured tools (a kind's `build` returns None when it is not configured)."""
    out: list[HostedTool] = []
    for kind in available:
        tool = kind.build(services)
        if tool is None:
            log.info("hosted tool %s is not configured: not offered", kind.name)
            continue
        out.append(tool)
    return out
