"""The hosted `file_search` tool on the hosted-tool port (respond.core.hosted).

The model is offered a function `file_search(query)` whose description names the files searched
(the first 20; a small model told only "the user's files" answers from memory).  Each call
becomes a `file_search_call` item (in_progress / searching / completed events; a failed search still ends with `.completed`
and the item says `failed`, as the API has no `.failed` event), its passages go back to the model
as the tool's answer, and the final text gets `file_citation` annotations for the (at most three)
best files.  Results are stored and shown only with `include: ["file_search_call.results"]`.
On later turns a stored call's results reach the model as a note.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator

import orjson

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
from respond.core.retrieval import Retriever, SearchHit, UnknownVectorStore
from respond.core.types import Message, ToolSpec
from respond.protocol.errors import APIError, invalid
from respond.protocol.ids import new_id
from respond.protocol.shapes import Annotation, JSONObject

log = logging.getLogger("respond.hosted")

NAME = "file_search"
INCLUDE = "file_search_call.results"
SPEC = ToolSpec(
    name=NAME,
    description="Search the user's uploaded files (a knowledge base) and return the most relevant passages. "
                "Call it whenever the answer may be in those files.",
    parameters={"type": "object", "properties": {"query": {
        "type": "string", "description": "What to search for, as a natural-language question or keywords."}},
        "required": ["query"]},
)


# The files' names (at most this many) are added to the function's description: told which files
# there are, the embedded 0.5B searches them; told only "the user's files", it answers from memory.
LISTED_FILES = 20
_UNSAFE = re.compile(r"[<>|\x00-\x1f\x7f]")  # no tags or special-token text from a file name


def describe(names: list[str], total: int) -> ToolSpec:
    """`SPEC`, its description naming the files searched (cleaned, cut to 80 characters each)."""
    if not names:
        return SPEC
    shown = ", ".join(_UNSAFE.sub("", n)[:80] for n in names)
    more = f" and {total - len(names)} more" if total > len(names) else ""
    return dataclasses.replace(SPEC, description=f"{SPEC.description} The files: {shown}{more}.")


def file_search_tool(services: ToolServices) -> HostedTool:
    return FileSearchTool(services.retriever)


def _strip(item: Item, include: frozenset[str]) -> Item:
    return item if INCLUDE in include else {**item, "results": None}


WIRE = Wire((NAME,), items=(ItemType("file_search_call", "fs", "hosted", ("queries",)),), includes=(INCLUDE,),
            strip=_strip)
KIND = HostedKind(NAME, WIRE, file_search_tool)


def _query(arguments: str) -> str:
    try:
        args = loads_arguments(arguments)
    except NotJSON:
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


class FileSearchTool(BaseTool):
    wire = WIRE

    def __init__(self, retriever: Retriever | None) -> None:
        self.retriever = retriever

    async def bind(self, configs: list[tuple[int, JSONObject]], ctx: ToolContext) -> Binding:
        i, raw = configs[0]  # one file_search tool per request (as before the port)
        param = f"tools[{i}]"
        if self.retriever is None:
            raise invalid("The file_search tool is not enabled on this server.", f"{param}.type", "invalid_value")
        ids = raw.get("vector_store_ids")
        store_ids = [s for s in ids if isinstance(s, str)] if isinstance(ids, list) else []
        if not store_ids or not isinstance(ids, list) or len(store_ids) != len(ids):
            raise invalid(f"Missing required parameter: '{param}.vector_store_ids'.", f"{param}.vector_store_ids",
                          "missing_required_parameter")
        limit = raw.get("max_num_results", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            raise invalid(f"'{param}.max_num_results' must be an integer from 1 to 50.", f"{param}.max_num_results",
                          "invalid_value")
        filters, ranking = raw.get("filters"), raw.get("ranking_options")
        self.retriever.check_options(filters, ranking, param)  # a 400 for anything but objects (or null)
        try:
            await self.retriever.check_stores(ctx.owner, store_ids)
        except UnknownVectorStore as exc:
            raise APIError(404, f"Vector store with id '{exc.store_id}' not found.",
                           param=f"{param}.vector_store_ids", code="not_found") from None
        binding = FileSearchBinding(self.retriever, ctx, store_ids, limit,
                                    filters if isinstance(filters, dict) else None,
                                    ranking if isinstance(ranking, dict) else None)
        binding.spec = describe(*await self.retriever.file_names(ctx.owner, store_ids, LISTED_FILES))
        return binding

    def messages(self, item: Item) -> list[Message]:
        if not item.get("results"):
            return []
        # What an earlier turn found stays visible to later ones (as a note, not a tool call:
        # the next request may not offer the tool, and some upstreams reject orphan tool messages).
        found = "\n".join(f"[{r.get('filename') or r.get('file_id')}] {r.get('text', '')}" for r in item["results"])
        return [{"role": "system", "content": f"file_search for {item.get('queries')} found:\n{found}"}]

    def calls(self, item: Item) -> list[tuple[str, str]]:
        """The searches an earlier turn ran (the repeat guard does not run them again)."""
        if item.get("type") != "file_search_call" or item.get("status") != "completed":
            return []
        return [(NAME, orjson.dumps({"query": q}).decode()) for q in item.get("queries") or [] if isinstance(q, str)]

    def replay(self, item: Item) -> list[tuple[str, JSONObject]]:
        return [(f"response.file_search_call.{s}", {}) for s in ("in_progress", "searching", "completed")]


class FileSearchBinding(OneFunctionBinding):
    spec, tool_type = SPEC, NAME

    def __init__(self, retriever: Retriever, ctx: ToolContext, store_ids: list[str], limit: int,
                 filters: JSONObject | None, ranking: JSONObject | None) -> None:
        self.retriever = retriever
        self.ctx = ctx
        self.store_ids = store_ids
        self.limit = limit
        self.filters = filters
        self.ranking = ranking
        self.cited: list[SearchHit] = []


    async def run(self, call: HostedCall) -> AsyncIterator[Step]:
        query = _query(call.arguments)
        item: Item = {"id": new_id("fs"), "type": "file_search_call", "status": "in_progress",
                      "queries": [query], "results": None}
        yield Added(item)
        yield Progress(item, "response.file_search_call.in_progress")
        yield Progress(item, "response.file_search_call.searching")
        item["status"] = "searching"
        try:
            hits = await self.retriever.search(self.ctx.owner, self.store_ids, query, max_num_results=self.limit,
                                               filters=self.filters, ranking_options=self.ranking)
        except Exception:  # the model is told; the response goes on
            log.exception("file_search failed")
            item["status"] = "failed"
            hits = []
        else:
            item["status"] = "completed"
        item["results"] = [{"file_id": h.file_id, "filename": h.filename, "score": h.score, "text": h.text,
                            "attributes": h.attributes} for h in hits]
        self.cited.extend(hits)
        yield Context([{"role": "tool", "tool_call_id": call.call_id, "content": tool_output(hits)}])
        yield Progress(item, "response.file_search_call.completed")
        yield Done(item)

    def annotations(self, text: str) -> list[Annotation]:
        """file_citation annotations, at the end of the answer, for each file results came from (best first)."""
        files: dict[str, SearchHit] = {}
        for h in sorted(self.cited, key=lambda h: -h.score):
            files.setdefault(h.file_id, h)
        return [{"type": "file_citation", "file_id": h.file_id, "filename": h.filename, "index": len(text)}
                for h in list(files.values())[:3]]

    async def close(self) -> None:
        return None
