"""Hosted tools, registered by name (the `tools[]` types they own are their own business).

Built-ins register the same way a plugin does: a factory under a name.  Third-party packages add
theirs through the `respond.tools` entry-point group: a callable taking `ToolServices` and
returning a `HostedTool` (see `respond.core.hosted`).  `load()` builds every registered tool and
records its wire vocabulary (item types, include values, include stripping) with the protocol.

A new hosted tool is its own package here (or anywhere, with an entry point) and one line in
`_builtin()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from respond.core.hosted import HostedTool, ToolServices
from respond.protocol import extensions

log = logging.getLogger("respond.tools")

Factory = Callable[[ToolServices], HostedTool | None]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    _REGISTRY[name] = factory


def _builtin() -> None:
    from respond.tools.code_interpreter.tool import code_interpreter_tool
    from respond.tools.file_search.tool import file_search_tool
    from respond.tools.mcp import mcp_tool
    from respond.tools.web_search.tool import web_search_tool

    register("file_search", file_search_tool)
    register("mcp", mcp_tool)
    register("web_search", web_search_tool)
    register("code_interpreter", code_interpreter_tool)


def _plugins() -> None:
    for ep in entry_points(group="respond.tools"):
        register(ep.name, ep.load())


_LOADED: list[bool] = []


def known() -> list[str]:
    if not _LOADED:  # once, even when something registered earlier (a test, an embedding program)
        _LOADED.append(True)
        early = dict(_REGISTRY)
        _builtin()
        _plugins()
        _REGISTRY.update(early)
    return sorted(_REGISTRY)


def load(services: ToolServices, names: list[str] | None = None) -> list[HostedTool]:
    """Build the registered tools (all, or `names`); a factory may return None (not configured)."""
    available = known()
    out: list[HostedTool] = []
    for name in names if names is not None else available:
        if name not in _REGISTRY:
            raise ValueError(f"Unknown hosted tool '{name}'. Known tools: {', '.join(available)}.")
        tool = _REGISTRY[name](services)
        if tool is None:
            log.info("hosted tool %s is not configured: not offered", name)
            continue
        extensions.register(tool.item_types, tool.includes, tool.strip)
        out.append(tool)
    return out
