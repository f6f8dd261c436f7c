"""The engine's face of the hosted tools (respond.core.hosted): one `HostedTools` per server.

It knows the tools bootstrap gave it, by `tools[]` type and by item type, and the server's
`Vocabulary` (every hosted tool's wire, configured or not), and answers for them: which request
types are hosted (`types`: run here, or accepted and not offered), what a stored item becomes in chat context
(`messages`), the events a replayed item carried (`replay`), what of `tools[]` may be stored and
echoed (`echo`) and what is kept aside for a background run (`secrets`).  `prepare()` binds the
tools a request names and returns the `HostedLoop` (engine/tooling/hosted_loop.py) that runs them;
`check()` binds them only to validate, and closes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from respond.core.hosted import AnswersCalls, Binding, ClosesTool, HostedTool, Item, ToolContext
from respond.core.types import Generation, Message
from respond.engine.intake.client_tools import HostedTypes
from respond.engine.tooling.hosted_loop import HostedLoop
from respond.engine.tooling.repeat_guard import Signature, signature
from respond.protocol.errors import invalid
from respond.protocol.shapes import JSONObject
from respond.protocol.vocabulary import Vocabulary

__all__ = ["HostedLoop", "HostedTools", "HostedTypes"]


class HostedTools:
    def __init__(self, tools: Sequence[HostedTool] = (), vocabulary: Vocabulary | None = None) -> None:
        self.tools = list(tools)
        # the server's wire vocabulary (bootstrap's, from every known tool; else these tools')
        self.vocabulary = vocabulary if vocabulary is not None else Vocabulary(t.wire for t in self.tools)
        unknown = [t for t in self.tools if t.wire not in self.vocabulary.wires]
        if unknown:
            raise ValueError(f"The vocabulary lacks the wire of {type(unknown[0]).__name__}: build both from one "
                             "list of hosted kinds.")
        self.by_type: dict[str, HostedTool] = {t: tool for tool in self.tools for t in tool.wire.tool_types}
        self.by_item: dict[str, HostedTool] = {s.type: tool for tool in self.tools for s in tool.wire.items}
        wires = self.vocabulary.tool_types
        self.types = HostedTypes(
            frozenset(self.by_type),
            {t: w.unconfigured for t, w in wires.items() if w.unconfigured and t not in self.by_type},
            {t: w.choice_key for t, w in wires.items() if w.choice_key})

    async def aclose(self) -> None:
        """Release what the tools hold (at server stop)."""
        for tool in self.tools:
            if isinstance(tool, ClosesTool):
                await tool.aclose()

    def messages(self, item: Item) -> list[Message] | None:
        tool = self.by_item.get(str(item.get("type")))
        return tool.messages(item) if tool is not None else None

    def answered(self, *groups: Sequence[Item]) -> frozenset[Signature]:
        """The model calls the hosted tools' items in `groups` answered (earlier turns, input)."""
        out: set[Signature] = set()
        for item in (item for items in groups for item in items):
            tool = self.by_item.get(str(item.get("type")))
            if tool is not None and isinstance(tool, AnswersCalls):  # (a protocol check costs; most items are no tool's)
                out.update(signature(name, arguments) for name, arguments in tool.calls(item))
        return frozenset(out)

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        tool = self.by_item.get(str(item.get("type")))
        return tool.replay(item) if tool is not None else []

    def echo(self, tools: list[JSONObject]) -> list[JSONObject]:
        """`tools` as stored and echoed: each hosted tool drops its secrets."""
        out: list[JSONObject] = []
        for raw in tools:
            tool = self.by_type.get(str(raw.get("type"))) if isinstance(raw, dict) else None
            out.append(tool.echo(raw) if tool is not None else raw)
        return out

    def secrets(self, tools: list[JSONObject] | None) -> dict[str, JSONObject]:
        """What `echo` drops and a later run needs, by tools[] index (kept in memory, never stored)."""
        out: dict[str, JSONObject] = {}
        for i, raw in enumerate(tools or []):
            tool = self.by_type.get(str(raw.get("type"))) if isinstance(raw, dict) else None
            kept = tool.secrets(raw) if tool is not None else {}
            if kept:
                out[str(i)] = kept
        return out

    async def prepare(self, tools: list[JSONObject] | None, gen: Generation, ctx: ToolContext,
                      max_tool_calls: int | None = None) -> HostedLoop | None:
        """Validate and bind every hosted tool of the request; None when it names none."""
        groups: dict[str, list[tuple[int, JSONObject]]] = {}
        for i, raw in enumerate(tools or []):
            kind = raw.get("type") if isinstance(raw, dict) else None
            if isinstance(kind, str) and kind in self.by_type:
                tool = self.by_type[kind]
                groups.setdefault(tool.wire.tool_types[0], []).append((i, raw))
        if not groups:
            return None
        bindings: list[Binding] = []
        try:
            for first, configs in groups.items():
                bindings.append(await self.by_type[first].bind(configs, ctx))
            client = {s.name for s in gen.tools}
            for binding, (first, _) in zip(bindings, groups.items(), strict=True):
                clash = sorted(n for n in client if binding.claims(n))
                if clash:
                    raise invalid(f"A function named '{clash[0]}' cannot be used together with the {first} tool.",
                                  "tools", "invalid_value")
        except BaseException:
            for b in bindings:
                await b.close()
            raise
        return HostedLoop(bindings, gen, ctx, max_tool_calls)

    async def check(self, tools: list[JSONObject] | None, gen: Generation, ctx: ToolContext,
                    max_tool_calls: int | None = None) -> None:
        """Validate the hosted tools of a request that runs later (a background one): bound, as
        `prepare` does, and closed at once (what a binding opened, a remote session..., is released)."""
        loop = await self.prepare(tools, gen, ctx, max_tool_calls)
        if loop is not None:
            await loop.aclose()
