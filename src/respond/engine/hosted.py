"""The hosted-tool loop: tools the server runs itself (today `file_search`) inside one response.

The model is offered a function `file_search(query)`.  `HostedLoop.run()` stands between the
backend and the `Run`: it forwards the model's deltas, but holds back calls to a hosted function;
when a turn ends with only hosted calls, it runs them (a `file_search_call` output item with its
in_progress / searching / completed events), appends the call and its results to the chat, and
asks the model again, until the model answers without a hosted call (at most `MAX_ROUNDS`
turns).  The answer's text gets `file_citation` annotations for the files the results came from.
Usage is summed over the turns.  A turn that also calls client functions ends the response
there, as with any function call.

What the loop yields that is not a model delta is a `HostedStep`: a function of the
`EventBuilder`, so that the `Run` stays the one place that numbers and sends events.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from respond.core.ports import ModelBackend
from respond.core.retrieval import Retriever, SearchHit, UnknownVectorStore
from respond.core.types import Delta, Finish, Generation, ToolCallDelta, ToolSpec, Usage
from respond.engine.events import Event, EventBuilder
from respond.protocol.errors import APIError, invalid
from respond.protocol.ids import new_id

log = logging.getLogger("respond.hosted")

MAX_ROUNDS = 4
FILE_SEARCH = "file_search"
FILE_SEARCH_SPEC = ToolSpec(
    name=FILE_SEARCH,
    description="Search the user's uploaded files (a knowledge base) and return the most relevant passages. "
                "Call it whenever the answer may be in those files.",
    parameters={"type": "object", "properties": {"query": {
        "type": "string", "description": "What to search for, as a natural-language question or keywords."}},
        "required": ["query"]},
)


@dataclass(frozen=True, slots=True)
class HostedStep:
    """Not a model delta: events the `Run` asks for with its builder."""

    make: Callable[[EventBuilder], list[Event]]

    def events(self, builder: EventBuilder) -> list[Event]:
        return self.make(builder)


@dataclass(slots=True)
class FileSearchTool:
    store_ids: list[str]
    max_num_results: int
    filters: dict[str, Any] | None
    ranking_options: dict[str, Any] | None


class HostedTools:
    """Reads the hosted tools of a request; `prepare` returns the loop to run, or None."""

    def __init__(self, retriever: Retriever | None) -> None:
        self.retriever = retriever

    async def prepare(self, tools: list[dict[str, Any]] | None, tool_choice: Any, include: set[str],
                      gen: Generation, owner: str) -> HostedLoop | None:
        found = [(i, t) for i, t in enumerate(tools or []) if isinstance(t, dict) and t.get("type") == FILE_SEARCH]
        if not found:
            return None
        i, raw = found[0]
        param = f"tools[{i}]"
        if self.retriever is None:
            raise invalid("The file_search tool is not enabled on this server.", f"{param}.type", "invalid_value")
        ids = raw.get("vector_store_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(s, str) for s in ids):
            raise invalid(f"Missing required parameter: '{param}.vector_store_ids'.", f"{param}.vector_store_ids",
                          "missing_required_parameter")
        limit = raw.get("max_num_results", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            raise invalid(f"'{param}.max_num_results' must be an integer from 1 to 50.", f"{param}.max_num_results",
                          "invalid_value")
        self.retriever.check_options(raw.get("filters"), raw.get("ranking_options"), param)
        try:
            await self.retriever.check_stores(owner, ids)
        except UnknownVectorStore as exc:
            raise APIError(404, f"Vector store with id '{exc.store_id}' not found.",
                           param=f"{param}.vector_store_ids", code="not_found") from None
        if any(t.name == FILE_SEARCH for t in gen.tools):
            raise invalid(f"A function named '{FILE_SEARCH}' cannot be used together with the file_search tool.",
                          "tools", "invalid_value")
        if gen.tool_choice != "none":
            gen.tools.append(FILE_SEARCH_SPEC)
            if isinstance(tool_choice, dict) and tool_choice.get("type") == FILE_SEARCH:
                gen.tool_choice, gen.forced_tool = "required", FILE_SEARCH
        tool = FileSearchTool(ids, limit, raw.get("filters"), raw.get("ranking_options"))
        return HostedLoop(self.retriever, tool, gen, owner, "file_search_call.results" in include)


def _add(a: Usage, b: Usage | None) -> Usage:
    if b is None:
        return a
    return Usage(a.input_tokens + b.input_tokens, a.output_tokens + b.output_tokens,
                 a.cached_tokens + b.cached_tokens, a.reasoning_tokens + b.reasoning_tokens)


def _query(arguments: str) -> str:
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments.strip()
    if isinstance(args, dict):
        q = args.get("query") or args.get("queries") or ""
        return " ".join(q) if isinstance(q, list) else str(q)
    return str(args)


def tool_output(hits: list[SearchHit]) -> str:
    if not hits:
        return "No results were found in the files."
    return "\n\n".join(f'<result file_id="{h.file_id}" filename="{h.filename}" score="{h.score:.3f}">\n{h.text}\n'
                       "</result>" for h in hits)


class HostedLoop:
    def __init__(self, retriever: Retriever, tool: FileSearchTool, gen: Generation, owner: str,
                 include_results: bool) -> None:
        self.retriever = retriever
        self.tool = tool
        self.gen = gen
        self.owner = owner
        self.include_results = include_results
        self.cited: list[SearchHit] = []

    async def run(self, backend: ModelBackend) -> AsyncIterator[Delta | HostedStep]:
        usage = Usage()
        for round_ in range(MAX_ROUNDS):
            if round_ == MAX_ROUNDS - 1:
                self.gen.tool_choice, self.gen.forced_tool = "none", None
            stream = backend.generate(self.gen)
            hosted: dict[int, dict[str, str]] = {}
            client_calls: set[int] = set()
            finish = Finish()
            try:
                async for delta in stream:
                    if isinstance(delta, ToolCallDelta) and delta.index not in client_calls and (
                            delta.index in hosted or delta.name == FILE_SEARCH):
                        call = hosted.setdefault(delta.index, {"id": delta.call_id or new_id("call"), "arguments": ""})
                        call["arguments"] += delta.arguments
                        continue
                    if isinstance(delta, ToolCallDelta):
                        client_calls.add(delta.index)
                    if isinstance(delta, Finish):
                        finish = delta
                        break
                    yield delta
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
            usage = _add(usage, finish.usage)
            if not hosted or client_calls or finish.reason == "length":
                if self.cited and not client_calls:
                    yield HostedStep(self._cite)
                yield Finish(reason="tool_calls" if client_calls else finish.reason, usage=usage)
                return
            self.gen.messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": FILE_SEARCH, "arguments": c["arguments"]}}
                for c in hosted.values()]})
            for call in hosted.values():
                async for step in self._search(call["id"], _query(call["arguments"])):
                    yield step
            self.gen.tool_choice, self.gen.forced_tool = "auto", None

    async def _search(self, call_id: str, query: str) -> AsyncIterator[HostedStep]:
        item: dict[str, Any] = {"id": new_id("fs"), "type": "file_search_call", "status": "in_progress",
                                "queries": [query], "results": None}
        index = [0]

        def start(b: EventBuilder) -> list[Event]:
            events = b.close_message()
            index[0], added = b.add_item(item)
            return [*events, added,
                    b.emit("response.file_search_call.in_progress", item_id=item["id"], output_index=index[0]),
                    b.emit("response.file_search_call.searching", item_id=item["id"], output_index=index[0])]

        yield HostedStep(start)
        item["status"] = "searching"
        t = self.tool
        try:
            hits = await self.retriever.search(self.owner, t.store_ids, query, max_num_results=t.max_num_results,
                                               filters=t.filters, ranking_options=t.ranking_options)
        except Exception:  # the model is told; the response goes on
            log.exception("file_search failed")
            item["status"] = "failed"
            hits = []
        else:
            item["status"] = "completed"
        item["results"] = [{"file_id": h.file_id, "filename": h.filename, "score": h.score, "text": h.text,
                            "attributes": h.attributes} for h in hits]
        self.cited.extend(hits)
        self.gen.messages.append({"role": "tool", "tool_call_id": call_id, "content": tool_output(hits)})

        def done(b: EventBuilder) -> list[Event]:
            shown = copy.deepcopy(item)
            if not self.include_results:
                shown["results"] = None
            # The API has no ".failed" event for file search: a failed search still ends with
            # ".completed", and its item says status "failed".
            return [b.emit("response.file_search_call.completed", item_id=item["id"], output_index=index[0]),
                    b.emit("response.output_item.done", output_index=index[0], item=shown)]

        yield HostedStep(done)

    def _cite(self, b: EventBuilder) -> list[Event]:
        """file_citation annotations, at the end of the answer, for each file results came from (best first)."""
        files: dict[str, SearchHit] = {}
        for h in sorted(self.cited, key=lambda h: -h.score):
            files.setdefault(h.file_id, h)
        events: list[Event] = []
        for h in list(files.values())[:3]:
            events.extend(b.annotate({"type": "file_citation", "file_id": h.file_id, "filename": h.filename,
                                      "index": b.open_text_length()}))
        return events
