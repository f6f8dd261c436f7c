"""A scripted OpenAI-compatible chat-completions server, for tests and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, chunked SSE, TCP_NODELAY) on raw asyncio to be a
fast, deterministic upstream:

- ``GET /v1/models`` lists ``scripted`` and any model named in a queued reply.
- ``POST /v1/chat/completions`` answers the next queued reply, or by default
  ``"Hello from the scripted upstream."`` (streaming or not, with usage).
- ``POST /_control/replies`` queues replies: ``{"replies": [Reply, ...]}`` where a Reply is
  ``{"content": str, "tool_calls": [{"name", "arguments"}], "finish_reason": str, "usage": {...},
  "error": {"status": int, "message": str}, "chunk_delay": float, "chunks": int,
  "max_messages": int, "reasoning": str, "reasoning_field": "reasoning_content"|"reasoning",
  "refusal": str, "no_usage": bool}`` (a request with more messages gets a context_length_exceeded 400 and the
  reply stays queued).  `reasoning` is streamed before the content as `delta.reasoning_content`
  (vLLM, DeepSeek) or `delta.reasoning` (Ollama); `refusal` as `delta.refusal`.  A request asking
  for `logprobs` gets deterministic ones on every content chunk (logprob -0.25 per piece, and
  `top_logprobs` alternatives).
- ``POST /v1/responses``: a stateless Responses server answering the same queue (streaming or
  not; it refuses ``previous_response_id`` and ``store`` other than false with a 400): see
  ``responses_upstream.py`` for what a reply holds there.
- ``POST /v1/moderations``: deterministic moderation (``moderation_upstream.py``).
- ``GET /_control/requests`` returns the request bodies received so far (both endpoints; moderation
  requests apart, as ``moderations``);
  ``DELETE /_control`` clears replies and requests.

Run it alone: ``python -m respond.testing.upstream --port 9100``.  In-process:
``ScriptedUpstream().start()`` (async) gives ``.base_url``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections import deque
from collections.abc import Mapping
from typing import Any, TypedDict

import orjson

from respond.protocol.shapes import JSONObject
from respond.testing import moderation_upstream, responses_upstream
from respond.testing.moderation_upstream import ModerationRequest
from respond.testing.reply import (
    ChatRequest,
    ChunkBase,
    LogprobsField,
    Reply,
    ResponsesRequest,
    ScriptedCall,
    TokenLogprob,
    Usage,
)

DEFAULT_TEXT = "Hello from the scripted upstream."


class Counted(TypedDict, total=False):
    """What is recorded of a request when not recording whole ones (benchmarks check history length)."""

    n_messages: int  # a chat request's
    n_input: int  # a Responses request's


def _words(text: str, chunks: int) -> list[str]:
    """Split text into about `chunks` pieces that join back to it exactly."""
    if chunks <= 1 or len(text) <= 1:
        return [text]
    size = max(1, -(-len(text) // chunks))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ScriptedUpstream:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, record: bool = True) -> None:
        self.host = host
        self.port = port
        self.record = record
        self.replies: deque[Reply] = deque()
        self.requests: list[ChatRequest | ResponsesRequest | Counted] = []
        self.moderations: list[ModerationRequest] = []  # POST /v1/moderations bodies (moderation_upstream.py)
        self.count = 0
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()  # connections, closed by stop() as by a crash

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):  # keep-alive connections too: the server is gone
                writer.close()
            for _ in range(200):
                if not self._open:
                    break
                await asyncio.sleep(0.005)
            await self._server.wait_closed()

    # -- HTTP plumbing -------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._open.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                await self._route(method, path, body, writer)
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    @staticmethod
    def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        data = orjson.dumps(payload)
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )

    async def _route(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> None:
        path = path.split("?", 1)[0]
        if path == "/v1/chat/completions" and method == "POST":
            chat = orjson.loads(body)
            self.count += 1
            # Without full recording keep only the message count (benchmarks check history length).
            self.requests.append(chat if self.record else {"n_messages": len(chat.get("messages", []))})
            await self._chat(chat, writer)
        elif path == "/v1/responses" and method == "POST":
            responses = orjson.loads(body)
            self.count += 1
            self.requests.append(responses if self.record else {"n_input": len(responses.get("input") or [])})
            await self._responses(responses, writer)
        elif path == "/v1/moderations" and method == "POST":
            self.moderations.append(req := orjson.loads(body))
            self._send_json(writer, *moderation_upstream.answer(req, len(self.moderations)))
        elif path == "/v1/models":
            names = ["scripted"]
            self._send_json(writer, 200, {"object": "list", "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "scripted"} for n in names]})
        elif path == "/_control/replies" and method == "POST":
            self.replies.extend(orjson.loads(body)["replies"])
            self._send_json(writer, 200, {"queued": len(self.replies)})
        elif path == "/_control/requests":
            self._send_json(writer, 200, {"count": self.count, "requests": self.requests,
                                          "moderations": self.moderations})
        elif path == "/_control" and method == "DELETE":
            self.replies.clear()
            self.requests.clear()
            self.moderations.clear()
            self.count = 0
            self._send_json(writer, 200, {"cleared": True})
        else:
            self._send_json(writer, 404, {"error": {"message": f"no route {method} {path}",
                                                   "type": "invalid_request_error"}})
        await writer.drain()

    # -- /v1/responses (stateless) ------------------------------------------------------------
    async def _responses(self, req: ResponsesRequest, writer: asyncio.StreamWriter) -> None:
        refused = responses_upstream.refusal_reason(req)
        if refused is not None:
            self._send_json(writer, 400, {"error": {"message": refused, "type": "invalid_request_error",
                                                   "param": None, "code": "unsupported_parameter"}})
            return
        reply: Reply = self.replies.popleft() if self.replies else {}
        err = reply.get("error")
        if err:
            self._send_json(writer, int(err.get("status", 500)), {"error": {
                "message": err.get("message", "scripted failure"), "type": "invalid_request_error",
                "param": None, "code": err.get("code")}})
            return
        if not req.get("stream"):
            self._send_json(writer, 200, responses_upstream.complete(reply, req, self.count))
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        seq = 0

        async def send(type_: str, fields: Mapping[str, object]) -> None:
            nonlocal seq
            frame = (b"event: " + type_.encode() + b"\ndata: "
                     + orjson.dumps({"type": type_, "sequence_number": seq, **fields}) + b"\n\n")
            seq += 1
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()

        await responses_upstream.stream(send, reply, req, self.count)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    # -- chat completions ----------------------------------------------------------------------
    async def _chat(self, req: ChatRequest, writer: asyncio.StreamWriter) -> None:
        reply: Reply = self.replies.popleft() if self.replies else {}
        limit = reply.get("max_messages")
        if limit is not None and len(req.get("messages", [])) > limit:
            self.replies.appendleft(reply)  # kept for the retry that fits
            self._send_json(writer, 400, {"error": {
                "message": f"This model's maximum context length is {limit} messages; you sent "
                           f"{len(req['messages'])}.", "type": "invalid_request_error", "param": "messages",
                "code": "context_length_exceeded"}})
            return
        err = reply.get("error")
        if err:
            status = int(err.get("status", 500))
            self._send_json(writer, status, {"error": {"message": err.get("message", "scripted failure"),
                                                       "type": "invalid_request_error", "param": None,
                                                       "code": err.get("code")}})
            return
        text = reply.get("content", DEFAULT_TEXT if not (reply.get("tool_calls") or reply.get("refusal")) else "")
        calls = reply.get("tool_calls") or []
        finish = reply.get("finish_reason") or ("tool_calls" if calls else "stop")
        n_in = sum(len(str(m.get("content") or "")) // 4 + 1 for m in req.get("messages", []))
        usage: Usage = reply.get("usage") or {"prompt_tokens": n_in, "completion_tokens": max(1, len(text) // 4),
                                       "total_tokens": n_in + max(1, len(text) // 4),
                                       "prompt_tokens_details": {"cached_tokens": 0},
                                       "completion_tokens_details": {"reasoning_tokens": 0}}
        model = req.get("model", "scripted")
        base: ChunkBase = {"id": f"chatcmpl-{self.count}", "created": 0, "model": model}
        if not req.get("stream"):
            message: JSONObject = {"role": "assistant", "content": text or None}
            for key in ("reasoning", "refusal"):
                if reply.get(key):
                    message[reply.get("reasoning_field", "reasoning_content") if key == "reasoning" else key] = \
                        reply[key]
            if calls:
                message["tool_calls"] = [
                    {"id": c.get("id", f"call_{self.count}_{i}"), "type": "function",
                     "function": {"name": c["name"], "arguments": c.get("arguments", "{}")}}
                    for i, c in enumerate(calls)]
            self._send_json(writer, 200, {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
            return
        await self._stream(writer, base, text, calls, finish, usage, reply, req)

    async def _stream(self, writer: asyncio.StreamWriter, base: ChunkBase, text: str,
                      calls: list[ScriptedCall], finish: str, usage: Usage,
                      reply: Reply, req: ChatRequest) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        delay = float(reply.get("chunk_delay", 0))
        chunk_base = {**base, "object": "chat.completion.chunk"}

        async def send(delta: JSONObject, finish_reason: str | None = None,
                       extra: LogprobsField | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, **(extra or {})}
            payload = {**chunk_base, "choices": [choice]}
            frame = b"data: " + orjson.dumps(payload) + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
            if delay:
                await asyncio.sleep(delay)

        await send({"role": "assistant", "content": ""})
        chunks = int(reply.get("chunks", 4))
        for piece in _words(reply.get("reasoning") or "", chunks) if reply.get("reasoning") else []:
            await send({reply.get("reasoning_field", "reasoning_content"): piece})
        for piece in _words(reply["refusal"], chunks) if reply.get("refusal") else []:
            await send({"refusal": piece})
        for piece in _words(text, chunks) if text else []:
            await send({"content": piece}, extra=_logprobs(piece, req))
        for i, c in enumerate(calls):
            args = c.get("arguments", "{}")
            half = len(args) // 2
            await send({"tool_calls": [{"index": i, "id": c.get("id", f"call_{self.count}_{i}"),
                                        "type": "function",
                                        "function": {"name": c["name"], "arguments": args[:half]}}]})
            await send({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
        await send({}, finish)
        if (req.get("stream_options") or {}).get("include_usage") and not reply.get("no_usage"):
            payload = {**chunk_base, "choices": [], "usage": usage}
            frame = b"data: " + orjson.dumps(payload) + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        done = b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        await writer.drain()


def _logprobs(piece: str, req: ChatRequest) -> LogprobsField | None:
    """Deterministic chat-completions logprobs for one content chunk, when the request asks."""
    if not req.get("logprobs"):
        return None
    top = int(req.get("top_logprobs") or 0)
    entry: TokenLogprob = {"token": piece, "logprob": -0.25, "bytes": list(piece.encode()),
             "top_logprobs": [{"token": piece if i == 0 else f"alt{i}", "logprob": -0.25 - i,
                               "bytes": list((piece if i == 0 else f"alt{i}").encode())} for i in range(top)]}
    return {"logprobs": {"content": [entry]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--no-record", action="store_true", help="keep only message counts, not request bodies (benchmarks)")
    args = parser.parse_args()

    async def run() -> None:
        up = await ScriptedUpstream(args.host, args.port, record=not args.no_record).start()
        assert up._server is not None
        await up._server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
