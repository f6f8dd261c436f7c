"""The benchmark's upstream: Respond's scripted chat-completions server plus a stateless /v1/responses.

agentic-api (vLLM's gateway) keeps the state itself but calls the upstream's *Responses* endpoint
(as vLLM serves one), sending the whole history each turn; it has no chat-completions mode.  So
that it can stand in front of the same upstream process as everyone else, this subclass answers
``POST /v1/responses`` from the same script and records the same per-request message count as
``/v1/chat/completions`` does (``GET /_control/requests``).  Everything else is inherited.

Run: ``python bench/_peers_upstream.py --port 9100`` (with ``src`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from respond.testing.upstream import DEFAULT_TEXT, ScriptedUpstream, _words  # noqa: E402


def _n_messages(inp: Any) -> int:
    """How many chat messages a Responses `input` amounts to (one per message-like item)."""
    if isinstance(inp, str):
        return 1
    return sum(
        1
        for it in inp or []
        if isinstance(it, dict) and (it.get("type") in (None, "message") or "role" in it)
    )


class BenchUpstream(ScriptedUpstream):
    async def _route(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> None:
        bare = path.split("?", 1)[0]
        if bare == "/v1/responses" and method == "POST":
            await self._responses(orjson.loads(body), writer)
            await writer.drain()
        elif bare in ("/health", "/v1/health") and method == "GET":
            self._send_json(writer, 200, {"status": "ok"})
            await writer.drain()
        else:
            await super()._route(method, path, body, writer)

    async def _responses(self, req: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        self.count += 1
        n = _n_messages(req.get("input")) + (1 if req.get("instructions") else 0)
        self.requests.append(req if self.record else {"n_messages": n})
        reply = self.replies.popleft() if self.replies else {}
        text = reply.get("content", DEFAULT_TEXT)
        # Fresh ids every time: the count restarts at each DELETE /_control, and agentic-api keys items by id.
        rid, mid = f"resp_{secrets.token_hex(16)}", f"msg_{secrets.token_hex(16)}"
        usage = {
            "input_tokens": n,
            "output_tokens": max(1, len(text) // 4),
            "total_tokens": n + max(1, len(text) // 4),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"type": "message", "id": mid, "status": "completed", "role": "assistant", "content": [part]}
        resp = {
            "id": rid,
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": req.get("model", "scripted"),
            "output": [item],
            "usage": usage,
            "error": None,
            "incomplete_details": None,
        }
        if not req.get("stream"):
            self._send_json(writer, 200, resp)
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        seq = 0

        def send(event: dict[str, Any]) -> None:
            nonlocal seq
            frame = (
                b"event: "
                + event["type"].encode()
                + b"\ndata: "
                + orjson.dumps({**event, "sequence_number": seq})
                + b"\n\n"
            )
            seq += 1
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))

        started = {**resp, "status": "in_progress", "output": [], "usage": None}
        send({"type": "response.created", "response": started})
        send({"type": "response.in_progress", "response": started})
        send(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            }
        )
        send(
            {
                "type": "response.content_part.added",
                "item_id": mid,
                "output_index": 0,
                "content_index": 0,
                "part": {**part, "text": ""},
            }
        )
        for piece in _words(text, int(reply.get("chunks", 4))):
            send(
                {
                    "type": "response.output_text.delta",
                    "item_id": mid,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                }
            )
            await writer.drain()
        send(
            {
                "type": "response.output_text.done",
                "item_id": mid,
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
        )
        send(
            {
                "type": "response.content_part.done",
                "item_id": mid,
                "output_index": 0,
                "content_index": 0,
                "part": part,
            }
        )
        send({"type": "response.output_item.done", "output_index": 0, "item": item})
        send({"type": "response.completed", "response": resp})
        writer.write(b"0\r\n\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()

    async def run() -> None:
        up = await BenchUpstream(args.host, args.port, record=False).start()
        assert up._server is not None
        await up._server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
