"""A misbehaving chat-completions upstream for robustness tests, on raw asyncio in a thread.

The request's `model` picks the misbehaviour:
- `ok`: a proper stream ("Hello world", finish_reason stop);
- `stall`: reads the request, never answers;
- `slow`: first chunk ("Hello"), then silence;
- `html`: 200 text/html;
- `badsse`: first chunk, then `data: <not json>`;
- `nofinish`: two chunks, [DONE], no finish_reason;
- `late400`: waits 1 s, then a 400;
- `auth401`, `auth403`, `rate429`: that status with an OpenAI error body.
`GET /v1/models` lists `ok` (or answers 503 while `down` is set).  `open` counts the client
connections currently open, to see that abandoned requests release theirs.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson


def _chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"


def _json(status: int, payload: Any) -> bytes:
    body = orjson.dumps(payload)
    return b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        status, len(body), body)


class Hostile:
    def __init__(self) -> None:
        self.open = 0
        self.down = False
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        port = self.server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next((int(v) for k, _, v in (ln.partition(": ") for ln in lines)
                               if k.lower() == "content-length"), 0)
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                if not await self._answer(lines[0], body, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _answer(self, request_line: str, body: dict[str, Any], reader: asyncio.StreamReader,
                      w: asyncio.StreamWriter) -> bool:
        """Write the reply; False when the connection must end after it."""
        if request_line.startswith("GET /v1/models"):
            w.write(_json(503, {"error": {"message": "down"}}) if self.down else
                    _json(200, {"object": "list", "data": [{"id": "ok", "object": "model"}]}))
            return True
        model = body.get("model")
        if model == "stall":
            await reader.read(1)  # until the client closes the connection
            return False
        if model in ("auth401", "auth403", "rate429"):
            status = int(model[-3:])
            w.write(_json(status, {"error": {"message": f"upstream says {status}", "type": "x", "code": None}}))
            return True
        if model == "late400":
            await asyncio.sleep(1)
            w.write(_json(400, {"error": {"message": "late refusal", "code": "invalid_prompt"}}))
            return True
        if model == "html":
            page = b"<html>bad gateway</html>"
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n%s" % (len(page), page))
            return True
        w.write(SSE_HEAD + _chunk("Hello"))
        await w.drain()
        if model == "slow":
            await reader.read(1)
            return False
        if model == "badsse":
            w.write(b"data: {not json\n\n")
        elif model == "nofinish":
            w.write(_chunk(" world") + b"data: [DONE]\n\n")
        else:
            w.write(_chunk(" world") + _chunk(None, "stop") + b"data: [DONE]\n\n")
        await w.drain()
        return False  # no content-length: the body ends with the connection
