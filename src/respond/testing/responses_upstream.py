"""The scripted upstream's stateless `POST /v1/responses` mode (see `upstream.py`).

It answers like a Responses server that keeps no state (vLLM without its store flag, OpenAI with
`store: false`): a request with `previous_response_id`, or without `store: false` (the API's
default is to store), is refused with a 400, so a gateway in front of it must send the whole
input every time.  Replies come from the same queue as chat completions, read as Responses output:

- ``content`` (text, default ``"Hello from the scripted upstream."``), ``refusal``, ``tool_calls``
  (``[{"name", "arguments", "id"?}]``, as ``function_call`` items), ``custom_calls``
  (``[{"name", "input", "id"?}]``, as ``custom_tool_call`` items);
- ``reasoning`` (a ``reasoning_text`` content part), ``reasoning_summary`` (a ``summary_text``
  part), ``encrypted_content`` (default ``"enc:<n>:<reasoning>"``; returned only when the request's
  ``include`` has ``reasoning.encrypted_content``, as OpenAI does);
- ``prompt_cache_options.prewarm: true`` in the request: no output (the reply is still taken);
- ``usage`` (a Responses usage object) or ``cached_tokens`` (the rest estimated);
- ``finish_reason: "length"`` ends ``incomplete`` (``max_output_tokens``); ``error`` answers an HTTP
  error; ``fail`` ({"message", "code"}) streams ``response.failed`` after the content; ``cut: true``
  ends the stream after the items with no terminal event;
- ``chunks`` / ``chunk_delay`` as for chat; ``no_deltas: true`` sends items only in
  ``output_item.done`` (some servers stream no deltas).

Streams are event streams with ``event:`` lines and ``sequence_number``s; non-streams a Response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypedDict

import orjson

from respond.protocol.shapes import ErrorDict, IncompleteDetails, OutputItem, OutputPart, ReasoningItem
from respond.testing.reply import Reply, ResponsesRequest, Usage

DEFAULT_TEXT = "Hello from the scripted upstream."

Send = Callable[[str, Mapping[str, object]], Awaitable[None]]  # (event type, its other fields): sent as JSON


class UpstreamResponse(TypedDict):
    """The Response a stateless server answers (a non-stream's body, a lifecycle event's `response`)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: str
    model: str | None
    output: list[OutputItem]
    store: bool
    error: ErrorDict | None
    incomplete_details: IncompleteDetails | None
    usage: Usage | None


def refusal_reason(req: ResponsesRequest) -> str | None:
    """Why a stateless server refuses this request (None: it does not)."""
    if req.get("previous_response_id") is not None:
        return "previous_response_id is not supported: this server keeps no state; send the whole input."
    if req.get("store") is not False:
        return "store must be false: this server keeps no state (the default, store: true, is refused)."
    if req.get("conversation") is not None:
        return "conversation is not supported: this server keeps no state."
    return None


def _input_tokens(req: ResponsesRequest) -> int:
    raw = req.get("input")
    return len(orjson.dumps(raw)) // 4 + 1 if raw is not None else 1


def _pieces(text: str, chunks: int) -> list[str]:
    if chunks <= 1 or len(text) <= 1:
        return [text]
    size = max(1, -(-len(text) // chunks))
    return [text[i : i + size] for i in range(0, len(text), size)]


def build_output(reply: Reply, req: ResponsesRequest, n: int) -> list[OutputItem]:
    """The complete output items of a reply (none for a prewarm: it fills the cache, generates nothing)."""
    out: list[OutputItem] = []
    if (req.get("prompt_cache_options") or {}).get("prewarm"):
        return out
    if reply.get("reasoning") or reply.get("reasoning_summary") or reply.get("encrypted_content"):
        item: ReasoningItem = {"id": f"rs_up{n}", "type": "reasoning", "summary": [], "status": "completed"}
        if reply.get("reasoning_summary"):
            item["summary"] = [{"type": "summary_text", "text": reply["reasoning_summary"]}]
        if reply.get("reasoning"):
            item["content"] = [{"type": "reasoning_text", "text": reply["reasoning"]}]
        if "reasoning.encrypted_content" in (req.get("include") or []):
            item["encrypted_content"] = reply.get("encrypted_content") or f"enc:{n}:{reply.get('reasoning', '')}"
        out.append(item)
    calls = reply.get("tool_calls") or []
    quiet = calls or reply.get("custom_calls") or reply.get("refusal")
    text = reply.get("content", "" if quiet else DEFAULT_TEXT)
    parts: list[OutputPart] = []
    if reply.get("refusal"):
        parts.append({"type": "refusal", "refusal": reply["refusal"]})
    if text:
        parts.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if parts:
        out.append({"id": f"msg_up{n}", "type": "message", "role": "assistant", "status": "completed",
                    "content": parts})
    for i, c in enumerate(calls):
        out.append({"id": f"fc_up{n}_{i}", "type": "function_call", "status": "completed",
                    "call_id": c.get("id", f"call_up{n}_{i}"), "name": c["name"],
                    "arguments": c.get("arguments", "{}")})
    for i, cc in enumerate(reply.get("custom_calls") or []):
        out.append({"id": f"ctc_up{n}_{i}", "type": "custom_tool_call", "status": "completed",
                    "call_id": cc.get("id", f"call_upc{n}_{i}"), "name": cc["name"], "input": cc.get("input", "")})
    return out


def _usage(reply: Reply, req: ResponsesRequest, output: list[OutputItem]) -> Usage:
    if reply.get("usage"):
        return dict(reply["usage"])
    n_in = _input_tokens(req)
    text = "".join(p["text"] for it in output if it["type"] == "message" for p in it["content"]
                   if p["type"] == "output_text")
    reasoning = len(reply.get("reasoning") or "") // 4
    n_out = (max(1, len(text) // 4) if output else 0) + reasoning
    return {"input_tokens": n_in, "input_tokens_details": {"cached_tokens": int(reply.get("cached_tokens", 0))},
            "output_tokens": n_out, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": n_in + n_out}


def response_object(reply: Reply, req: ResponsesRequest, n: int, status: str,
                    output: list[OutputItem]) -> UpstreamResponse:
    resp: UpstreamResponse = {
        "id": f"resp_up{n}", "object": "response", "created_at": 0, "status": status, "model": req.get("model"),
        "output": output, "store": False, "error": None, "incomplete_details": None,
        "usage": _usage(reply, req, output) if status != "in_progress" else None}
    if status == "incomplete":
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    return resp


async def stream(send: Send, reply: Reply, req: ResponsesRequest, n: int) -> None:
    """The events of a reply, as a Responses server streams them."""
    output = build_output(reply, req, n)
    chunks = int(reply.get("chunks", 4))
    delay = float(reply.get("chunk_delay", 0))
    deltas = not reply.get("no_deltas")

    async def emit(type_: str, **fields: Any) -> None:
        await send(type_, fields)
        if delay:
            await asyncio.sleep(delay)

    await emit("response.created", response=response_object(reply, req, n, "in_progress", []))
    await emit("response.in_progress", response=response_object(reply, req, n, "in_progress", []))
    for index, item in enumerate(output):
        at = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            await emit("response.output_item.added", output_index=index,
                       item={**item, "summary": [], "content": [], "encrypted_content": None})
            for j, sp in enumerate(item.get("summary", []) if deltas else []):
                await emit("response.reasoning_summary_part.added", **at, summary_index=j,
                           part={**sp, "text": ""})
                for piece in _pieces(sp["text"], chunks):
                    await emit("response.reasoning_summary_text.delta", **at, summary_index=j, delta=piece)
                await emit("response.reasoning_summary_text.done", **at, summary_index=j, text=sp["text"])
                await emit("response.reasoning_summary_part.done", **at, summary_index=j, part=sp)
            for j, rp in enumerate(item.get("content", []) if deltas else []):
                for piece in _pieces(rp["text"], chunks):
                    await emit("response.reasoning_text.delta", **at, content_index=j, delta=piece)
                await emit("response.reasoning_text.done", **at, content_index=j, text=rp["text"])
        elif item["type"] == "message":
            await emit("response.output_item.added", output_index=index, item={**item, "content": []})
            for j, part in enumerate(item["content"] if deltas else []):
                where = {**at, "content_index": j}
                if part["type"] == "refusal":
                    await emit("response.content_part.added", **where, part={**part, "refusal": ""})
                    for piece in _pieces(part["refusal"], chunks):
                        await emit("response.refusal.delta", **where, delta=piece)
                    await emit("response.refusal.done", **where, refusal=part["refusal"])
                else:
                    await emit("response.content_part.added", **where, part={**part, "text": ""})
                    for piece in _pieces(part["text"], chunks):
                        await emit("response.output_text.delta", **where, delta=piece, logprobs=[])
                    await emit("response.output_text.done", **where, text=part["text"], logprobs=[])
                await emit("response.content_part.done", **where, part=part)
        elif item["type"] == "function_call":
            await emit("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            args = item["arguments"]
            if deltas:
                half = len(args) // 2
                for piece in (args[:half], args[half:]):
                    await emit("response.function_call_arguments.delta", **at, delta=piece)
                await emit("response.function_call_arguments.done", **at, arguments=args)
        elif item["type"] == "custom_tool_call":
            await emit("response.output_item.added", output_index=index, item={**item, "input": ""})
            if deltas:
                half = len(item["input"]) // 2
                for piece in (item["input"][:half], item["input"][half:]):
                    await emit("response.custom_tool_call_input.delta", **at, delta=piece)
                await emit("response.custom_tool_call_input.done", **at, input=item["input"])
        await emit("response.output_item.done", output_index=index, item=item)
    if reply.get("cut"):  # the stream ends with no terminal event
        return
    fail = reply.get("fail")
    if fail:
        resp = response_object(reply, req, n, "failed", output)
        resp["error"] = {"code": fail.get("code", "server_error"), "message": fail.get("message", "scripted")}
        await emit("response.failed", response=resp)
        return
    status = "incomplete" if reply.get("finish_reason") == "length" else "completed"
    await emit(f"response.{status}", response=response_object(reply, req, n, status, output))


def complete(reply: Reply, req: ResponsesRequest, n: int) -> UpstreamResponse:
    """The non-streamed Response of a reply."""
    output = build_output(reply, req, n)
    status = "incomplete" if reply.get("finish_reason") == "length" else "completed"
    return response_object(reply, req, n, status, output)
