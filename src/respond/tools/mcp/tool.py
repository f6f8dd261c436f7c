"""The hosted `mcp` tool on the hosted-tool port: remote MCP servers' tools offered to the model.

Per request (`McpBinding`), for each `tools[i]` of type `mcp` (one server each, by `server_label`):

1. `start`: the server's tools are listed into an `mcp_list_tools` item (in_progress, then
   completed or failed: an unreachable server is the item's `error` and the response goes on
   without its tools), unless the chain already holds a good listing for the same label, which
   is reused without a new item.  `allowed_tools` filters what is offered.  Then the
   `mcp_approval_response`s of this request's input are acted on: an approved call runs (an
   `mcp_call` with its `approval_request_id`), a denied one is reported to the model.
2. `run`: a model call to `<label>__<tool>` needing approval (`require_approval`) becomes an
   `mcp_approval_request` item and ends the response (Halt); otherwise it runs as an `mcp_call`
   (in_progress, arguments delta/done, completed or failed; a tool error is the call's `error`).

Sessions are opened on first use and closed with the response (`close`).  Headers and
authorization are never stored nor echoed (`echo`); a background run gets them from memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from respond.core.arguments import arguments_object
from respond.core.hosted import (
    Added,
    BaseTool,
    Binding,
    Context,
    Done,
    Halt,
    HostedCall,
    HostedKind,
    HostedTool,
    Item,
    ItemType,
    Progress,
    Step,
    ToolContext,
    ToolServices,
    Wire,
)
from respond.core.netpolicy import BlockedURL, NetworkPolicy
from respond.core.types import Message, ToolSpec
from respond.protocol.errors import invalid
from respond.protocol.shapes import Annotation, JSONObject
from respond.tools.mcp import config, items
from respond.tools.mcp.client import Connection, McpFailure, failure
from respond.tools.mcp.results import (
    CallError,
    ListedTool,
    ToolError,
    call_result,
    listed_tools,
    stored_tools,
)

DENIED = "The user denied this call of the tool; it was not run."


def mcp_tool(services: ToolServices) -> HostedTool:
    return McpTool(services.network, float(services.options.get("mcp_timeout", 30.0)))


WIRE = Wire(("mcp",), items=(
    ItemType("mcp_call", "mcp", "hosted", ("name", "server_label", "arguments")),
    ItemType("mcp_list_tools", "mcpl", "hosted", ("server_label", "tools"), status=None),
    ItemType("mcp_approval_request", "mcpr", "hosted", ("name", "server_label", "arguments"), status=None),
    ItemType("mcp_approval_response", "mcpa", "hosted", ("approval_request_id", "approve"), status=None),
), choice_key="server_label")  # tool_choice {type: mcp, server_label} picks one server
KIND = HostedKind("mcp", WIRE, mcp_tool)


class McpTool(BaseTool):
    wire = WIRE

    def __init__(self, policy: NetworkPolicy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout

    async def bind(self, configs: list[tuple[int, JSONObject]], ctx: ToolContext) -> Binding:
        servers: dict[str, config.ServerConfig] = {}
        for i, raw in configs:
            cfg = config.parse(i, raw, ctx.secrets.get(str(i)))
            if cfg.label in servers:
                raise invalid(f"Duplicate server_label '{cfg.label}': each mcp tool needs its own label.",
                              f"tools[{i}].server_label", "invalid_value")
            try:
                await self.policy.check(cfg.url)
            except BlockedURL as exc:
                raise invalid(str(exc), f"tools[{i}].server_url", "invalid_value") from None
            servers[cfg.label] = cfg
        choice = ctx.tool_choice
        if isinstance(choice, dict) and choice.get("type") == "mcp" and choice.get("server_label") not in servers:
            raise invalid(f"tool_choice names the MCP server '{choice.get('server_label')}', which is not among the "
                          "request's mcp tools.", "tool_choice.server_label", "invalid_value")
        return McpBinding(servers, ctx, self.policy, self.timeout, _approvals(ctx, servers))

    def messages(self, item: Item) -> list[Message]:
        return items.messages(item)

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        return items.replay(item)

    def echo(self, config_: JSONObject) -> JSONObject:
        return config.echo(config_)

    def secrets(self, config_: JSONObject) -> JSONObject:
        return config.secrets(config_)


def _approvals(ctx: ToolContext, servers: dict[str, config.ServerConfig]) -> list[tuple[Item, bool]]:
    """(approval request, approved) for each mcp_approval_response of this request's input."""
    requests = {it.get("id"): it for it in [*ctx.history, *ctx.new_items] if it.get("type") == "mcp_approval_request"}
    done = {it.get("approval_request_id") for it in ctx.history if it.get("type") == "mcp_call"}
    out = []
    for j, it in enumerate(ctx.new_items):
        if it.get("type") != "mcp_approval_response":
            continue
        rid, approve = it.get("approval_request_id"), it.get("approve")
        if not isinstance(approve, bool):
            raise invalid(f"Missing required parameter: 'input[{j}].approve'.", f"input[{j}].approve",
                          "missing_required_parameter")
        if rid not in requests:
            raise invalid(f"No mcp_approval_request with id '{rid}' in this conversation.",
                          f"input[{j}].approval_request_id", "invalid_value")
        req = requests[rid]
        if req.get("server_label") not in servers:
            raise invalid(f"The approved call is for MCP server '{req.get('server_label')}', which is not among the "
                          "request's mcp tools.", f"input[{j}].approval_request_id", "invalid_value")
        if rid not in done:
            out.append((req, approve))
    return out


class McpBinding:
    def __init__(self, servers: dict[str, config.ServerConfig], ctx: ToolContext, policy: NetworkPolicy,
                 timeout: float, approvals: Sequence[tuple[Item, bool]]) -> None:
        self.servers = servers
        self.ctx = ctx
        self.approvals = approvals
        self.conns = {label: Connection(cfg.url, cfg.headers, policy, timeout) for label, cfg in servers.items()}
        self.tools: dict[str, dict[str, ListedTool]] = {label: {} for label in servers}  # label -> name -> listed
        self.functions: dict[str, tuple[str, str]] = {}  # function name -> (label, tool)

    @property
    def specs(self) -> list[ToolSpec]:
        out = []
        for fn, (label, name) in self.functions.items():
            tool = self.tools[label][name]
            desc = tool.get("description") or ""
            about = self.servers[label].description
            out.append(ToolSpec(name=fn, parameters=tool.get("input_schema") or {"type": "object", "properties": {}},
                                description=f"{desc} (MCP server {label}{': ' + about if about else ''})".strip()))
        return out

    def claims(self, name: str) -> bool:
        return name in self.functions

    def forced(self, tool_choice: Any) -> str | None:
        if not (isinstance(tool_choice, dict) and tool_choice.get("type") == "mcp"):
            return None
        label, name = tool_choice.get("server_label"), tool_choice.get("name")
        if name:
            fn = items.function_name(str(label), str(name))
            return fn if fn in self.functions else None
        return ""  # any tool (the loop asks for a call)

    def _offer(self, label: str, tools: list[ListedTool]) -> None:
        cfg = self.servers[label]
        for tool in tools:
            if cfg.allows(tool["name"], tool["annotations"]):
                self.tools[label][tool["name"]] = tool
                self.functions[items.function_name(label, tool["name"])] = (label, tool["name"])

    def _reusable(self, label: str) -> Item | None:
        chain: list[Item] = [*self.ctx.history, *self.ctx.new_items]
        for it in reversed(chain):
            if it.get("type") == "mcp_list_tools" and it.get("server_label") == label and not it.get("error"):
                return it
        return None

    async def start(self) -> AsyncIterator[Step]:
        for label in self.servers:
            known = self._reusable(label)
            if known is not None:
                self._offer(label, stored_tools(known.get("tools")))
                continue
            async for step in self._list(label):
                yield step
        for request, approved in self.approvals:
            async for step in self._approved(request, approved):
                yield step

    async def _list(self, label: str) -> AsyncIterator[Step]:
        item = items.list_item(label)
        yield Added(item)
        yield Progress(item, "response.mcp_list_tools.in_progress")
        try:
            result = await self.conns[label].request(lambda c: c.list_tools())
        except McpFailure as exc:
            item["error"] = exc.text
            yield Progress(item, "response.mcp_list_tools.failed")
        else:
            cfg = self.servers[label]
            listed = [t for t in listed_tools(result) if cfg.allows(t["name"], t["annotations"])]
            item["tools"] = listed
            self._offer(label, listed)
            yield Progress(item, "response.mcp_list_tools.completed")
        yield Done(item)

    async def _approved(self, request: Item, approved: bool) -> AsyncIterator[Step]:
        label, name, args = request["server_label"], request["name"], request.get("arguments") or "{}"
        call_id = str(request["id"])
        yield Context([{"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": items.function_name(label, name), "arguments": args}}]}])
        if not approved:
            yield Context([{"role": "tool", "tool_call_id": call_id, "content": DENIED}])
            return
        async for step in self._call(call_id, label, name, args, approval_request_id=call_id):
            yield step

    async def run(self, call: HostedCall) -> AsyncIterator[Step]:
        label, name = self.functions[call.name]
        if self.servers[label].needs_approval(name, self.tools[label][name].get("annotations")):
            item = items.approval_item(label, name, call.arguments or "{}")
            yield Added(item)
            yield Done(item)
            yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": "Waiting for the user's approval."}])
            yield Halt()
            return
        async for step in self._call(call.call_id, label, name, call.arguments or "{}"):
            yield step

    async def _call(self, call_id: str, label: str, name: str, arguments: str,
                    approval_request_id: str | None = None) -> AsyncIterator[Step]:
        item = items.call_item(label, name, arguments, approval_request_id)
        yield Added(item)
        yield Progress(item, "response.mcp_call.in_progress")
        yield Progress(item, "response.mcp_call_arguments.delta", {"delta": arguments})
        yield Progress(item, "response.mcp_call_arguments.done", {"arguments": arguments})
        output: str | None = None
        error: CallError | ToolError | None
        args = arguments_object(arguments)
        if args is None:
            output, error = None, {"type": "mcp_protocol_error", "code": -32602,
                                   "message": "The arguments are not a JSON object."}
        else:
            try:
                output, error = call_result(await self.conns[label].request(lambda c: c.call_tool(name, args)))
            except McpFailure as exc:
                output, error = None, exc.error
            except Exception as exc:  # noqa: BLE001 - reported on the item, the response goes on
                output, error = None, failure(exc).error
        item.update(output=output, error=error, status="failed" if error is not None else "completed")
        content = output if error is None else items.error_text(error)
        yield Context([{"role": "tool", "tool_call_id": call_id, "content": content or ""}])
        yield Progress(item, "response.mcp_call.failed" if error is not None else "response.mcp_call.completed")
        yield Done(item)

    def annotations(self, text: str) -> list[Annotation]:
        return []

    async def close(self) -> None:
        for conn in self.conns.values():
            await conn.close()
