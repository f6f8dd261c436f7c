"""The hosted `code_interpreter` tool on the hosted-tool port (respond.core.hosted).

`tools[i] = {type: "code_interpreter", container: "cntr_..." | {type: "auto", file_ids, memory_limit}}`.
The model is offered a function `python(code)`.  Each call becomes a `code_interpreter_call`
item (in_progress, the code as one code delta + done, interpreting, completed events) run in the
container's sandboxed kernel (runner.py); its `outputs` (logs, PNG images as data URLs) are stored
and shown only with `include: ["code_interpreter_call.outputs"]`.  What the code prints goes back
to the model as the tool's answer; files it writes under /mnt/data become container files, cited
on the final answer as `container_file_citation`s.

`auto` makes one container per chain: the first call of a response makes it (with copies of
`file_ids`), later responses along `previous_response_id` (or in a conversation) reuse the one
their history's last `code_interpreter_call` names while it has not expired.  Without a working
sandbox (probed at start-up) the tool is refused with a 400: code never runs unsandboxed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TypedDict

from respond.core.arguments import NotJSON, loads_arguments
from respond.core.hosted import (
    Added,
    BaseTool,
    Binding,
    Context,
    Done,
    HostedCall,
    HostedKind,
    HostedTool,
    Item,
    ItemType,
    OneFunctionBinding,
    Progress,
    Step,
    ToolContext,
    ToolServices,
    Wire,
)
from respond.core.ports import Row
from respond.core.types import Message, ToolSpec
from respond.protocol.errors import APIError, invalid, not_found
from respond.protocol.ids import new_id
from respond.protocol.shapes import Annotation, JSONObject
from respond.tools.code_interpreter.containers import Containers, check_memory, check_network
from respond.tools.code_interpreter.kernel import KernelError, Outcome

log = logging.getLogger("respond.code_interpreter")

NAME = "python"
TYPE = "code_interpreter"
INCLUDE = "code_interpreter_call.outputs"
SPEC = ToolSpec(
    name=NAME,
    description="Run Python code in a stateful Jupyter kernel in a sandbox without network access. Variables "
                "and imports persist between calls. The user's files are in /mnt/data; save files there "
                "(e.g. charts with matplotlib, CSVs with pandas) to give them to the user. Use print() to see "
                "values; plt.show() displays a chart.",
    parameters={"type": "object", "properties": {"code": {"type": "string", "description": "The Python code to run."}},
                "required": ["code"]},
)
AUTO_KEYS = {"type", "file_ids", "memory_limit", "network_policy"}


def code_interpreter_tool(services: ToolServices) -> HostedTool | None:
    containers = services.options.get("containers")
    return CodeInterpreterTool(containers) if isinstance(containers, Containers) else None


def _strip(item: Item, include: frozenset[str]) -> Item:
    return item if INCLUDE in include else {**item, "outputs": None}


WIRE = Wire((TYPE,), items=(ItemType("code_interpreter_call", "ci", "hosted", ("container_id",)),),
            includes=(INCLUDE,), strip=_strip)
KIND = HostedKind(TYPE, WIRE, code_interpreter_tool)


class AutoContainer(TypedDict):
    """A `{type: auto}` container: made at the first call, with copies of these files."""

    file_ids: list[str]
    memory: str  # memory_limit, checked against the sandbox's
    param: str  # where file_ids were given (a file gone meanwhile is reported there)


def _code(arguments: str) -> str:
    try:
        args = loads_arguments(arguments)
    except NotJSON:
        return arguments  # some models send the code itself
    if isinstance(args, dict):
        return str(args.get("code") or args.get("input") or "")
    return str(args)


def _logs(item: Item) -> str:
    return "".join(o.get("logs", "") for o in item.get("outputs") or [] if o.get("type") == "logs")


class CodeInterpreterTool(BaseTool):
    wire = WIRE

    def __init__(self, containers: Containers) -> None:
        self.containers = containers

    async def bind(self, configs: list[tuple[int, JSONObject]], ctx: ToolContext) -> Binding:
        i, raw = configs[-1]
        param = f"tools[{i}]"
        if len(configs) > 1:
            raise invalid("At most one code_interpreter tool may be given.", f"{param}.type", "invalid_value")
        sandbox = self.containers.sandbox
        if not sandbox.available:
            raise invalid(f"The code_interpreter tool is not available on this server: its sandbox is not "
                          f"({sandbox.reason}).", f"{param}.type", "tool_not_available")
        container = raw.get("container")
        if isinstance(container, str) and container:
            fixed = await self.containers.use(ctx.owner, container, f"{param}.container")
            return CodeInterpreterBinding(self.containers, ctx, fixed, None)
        if not isinstance(container, dict) or container.get("type") != "auto":
            raise invalid(f"Missing required parameter: '{param}.container' (a container id or "
                          "{\"type\": \"auto\"}).", f"{param}.container", "missing_required_parameter")
        unknown = sorted(set(container) - AUTO_KEYS)
        if unknown:
            raise invalid(f"Unknown parameter: '{param}.container.{unknown[0]}'.", f"{param}.container.{unknown[0]}",
                          "unknown_parameter")
        memory = check_memory(container.get("memory_limit"), sandbox.limits.memory_mb,
                              f"{param}.container.memory_limit")
        check_network(container.get("network_policy"), f"{param}.container.network_policy")
        ids, ids_param = container.get("file_ids") or [], f"{param}.container.file_ids"
        file_ids = [f for f in ids if isinstance(f, str)] if isinstance(ids, list) else []
        if not isinstance(ids, list) or len(file_ids) != len(ids):
            raise invalid(f"'{ids_param}' must be an array of file ids.", ids_param, "invalid_type")
        for fid in file_ids:
            if await self.containers.files.get_file(fid, ctx.owner) is None:
                raise not_found("File", fid, ids_param)
        auto: AutoContainer = {"file_ids": file_ids, "memory": memory, "param": ids_param}
        return CodeInterpreterBinding(self.containers, ctx, await self._reuse(ctx), auto)

    async def _reuse(self, ctx: ToolContext) -> Row | None:
        """The chain's container: the last one its history's code_interpreter_calls used, if still live."""
        for item in reversed(list(ctx.history)):
            cid = item.get("container_id") if item.get("type") == "code_interpreter_call" else None
            if isinstance(cid, str):
                try:
                    return await self.containers.use(ctx.owner, cid)
                except APIError:
                    return None
        return None

    def messages(self, item: Item) -> list[Message]:
        logs = _logs(item)[-4000:]
        return [{"role": "system", "content": f"code_interpreter ran in container {item.get('container_id')}:\n"
                                              f"```python\n{item.get('code') or ''}\n```\n"
                                              + (f"Output:\n{logs}" if logs else "")}]

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        code = item.get("code") or ""
        return [("response.code_interpreter_call.in_progress", {}),
                ("response.code_interpreter_call_code.delta", {"delta": code}),
                ("response.code_interpreter_call_code.done", {"code": code}),
                ("response.code_interpreter_call.interpreting", {}),
                ("response.code_interpreter_call.completed", {})]


class CodeInterpreterBinding(OneFunctionBinding):
    spec, tool_type = SPEC, TYPE

    def __init__(self, containers: Containers, ctx: ToolContext, container: Row | None,
                 auto: AutoContainer | None) -> None:
        self.containers = containers
        self.ctx = ctx
        self.container = container
        self.auto = auto
        self.written: list[Row] = []


    async def _ready(self) -> Row:
        """The container: made at the first call for `auto` (or reused, then given this request's files)."""
        auto, self.auto = self.auto, None
        if self.container is None:
            assert auto is not None
            self.container = await self.containers.new(self.ctx.owner, "code_interpreter (auto)", auto["file_ids"],
                                                       auto["param"], auto["memory"])
        elif auto is not None:
            for fid in auto["file_ids"]:
                await self.containers.copy(self.ctx.owner, self.container["id"], fid)
        return self.container

    async def run(self, call: HostedCall) -> AsyncIterator[Step]:
        code = _code(call.arguments)
        try:
            container = await self._ready()
        except APIError as exc:  # the container expired, a file went away: the model is told
            yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": f"[error: {exc.message}]"}])
            return
        item: Item = {"id": new_id("ci"), "type": "code_interpreter_call", "status": "in_progress", "code": "",
                      "container_id": container["id"], "outputs": None}
        yield Added(item)
        yield Progress(item, "response.code_interpreter_call.in_progress")
        yield Progress(item, "response.code_interpreter_call_code.delta", {"delta": code})
        item["code"] = code
        yield Progress(item, "response.code_interpreter_call_code.done", {"code": code})
        item["status"] = "interpreting"
        yield Progress(item, "response.code_interpreter_call.interpreting")
        outcome, written = await self._execute(container, code)
        self.written.extend(w for w in written if w["id"] not in {x["id"] for x in self.written})
        item["outputs"] = ([{"type": "logs", "logs": outcome.logs}] if outcome.logs else []) + [
            {"type": "image", "url": url} for url in outcome.images]
        item["status"] = "completed"
        yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": _answer(outcome, written)}])
        yield Progress(item, "response.code_interpreter_call.completed")
        yield Done(item)

    async def _execute(self, container: Row, code: str) -> tuple[Outcome, list[Row]]:
        try:
            await self.containers.use(self.ctx.owner, container["id"])
            return await self.containers.runner.run(container, self.ctx.owner, code)
        except (KernelError, APIError) as exc:
            message = exc.message if isinstance(exc, APIError) else str(exc)
            log.warning("code_interpreter call failed in %s: %s", container["id"], message)
            out = Outcome(error=message)
            out.text(f"[error: {message}]\n")
            return out, []

    def annotations(self, text: str) -> list[Annotation]:
        """A container_file_citation per file the code wrote: on its name in the answer, else at the end."""
        out: list[Annotation] = []
        for f in self.written:
            name = f["path"].rsplit("/", 1)[-1]
            at = text.find(f["path"])
            span = (at, at + len(f["path"])) if at >= 0 else None
            if span is None and (at := text.find(name)) >= 0:
                span = (at, at + len(name))
            start, end = span or (len(text), len(text))
            out.append({"type": "container_file_citation", "container_id": f["container_id"], "file_id": f["id"],
                        "filename": name, "start_index": start, "end_index": end})
        return out

    async def close(self) -> None:
        return None


def _answer(outcome: Outcome, written: list[Row]) -> str:
    """What the model reads back: the logs, the images shown, the files saved, the error."""
    parts = [outcome.logs[-8000:] if outcome.logs else "(no output)"]
    if outcome.images:
        parts.append(f"[{len(outcome.images)} image(s) displayed to the user]")
    if written:
        parts.append("Files saved: " + ", ".join(f["path"] for f in written))
    if outcome.error and outcome.error not in outcome.logs:
        parts.append(f"[error: {outcome.error}]")
    return "\n".join(parts)
