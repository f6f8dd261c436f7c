"""`POST /responses/compact`: shrink a long context into the user's own messages plus one
`compaction` item that carries a model-written summary of everything else.

The item's `encrypted_content` is the summary sealed with the server's key for the owner that asked
(engine/sealing.py, purpose `compaction`): opaque and authenticated.  When such an item comes back
as input it is opened (a tampered blob, or one sealed by another server or for another key, is a
400 naming `input[i].encrypted_content`: engine/inputs.py), and it becomes a system message with
the summary at its place in the context: so a client can never write a system message of its own
through a forged compaction item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from respond.core.errors import BackendError
from respond.core.types import Finish, Generation, TextDelta
from respond.engine.errors import backend_to_api
from respond.engine.sealing import Sealer
from respond.protocol.ids import new_id
from respond.protocol.response import usage_object
from respond.protocol.shapes import UsageDict

PROMPT = ("Summarize the conversation above for your own later use: keep every fact, name, number, decision, "
          "tool result and open task needed to continue it; drop pleasantries. Write only the summary.")
PURPOSE = "compaction"


def open_summary(sealer: Sealer, content: Any, owner: str | None) -> str | None:
    payload = sealer.open(content, owner, PURPOSE)
    summary = payload.get("summary") if payload is not None else None
    return summary if isinstance(summary, str) else None


async def summarize(backend: Any, gen: Generation) -> tuple[str, UsageDict]:
    gen.messages = [*gen.messages, {"role": "user", "content": PROMPT}]
    gen.tools, gen.tool_choice, gen.response_format = [], "none", None
    text, usage = "", usage_object(0, 0)
    try:
        async for delta in backend.generate(gen):
            if isinstance(delta, TextDelta):
                text += delta.text
            elif isinstance(delta, Finish) and delta.usage is not None:
                u = delta.usage
                usage = usage_object(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens)
    except BackendError as exc:
        raise backend_to_api(exc) from None
    return text.strip(), usage


def compacted(items: list[dict[str, Any]], summary: str, usage: UsageDict,
              seal: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    kept = [it for it in items if it.get("type") == "message" and it.get("role") == "user"]
    item = {"id": new_id("cmp"), "type": "compaction", "encrypted_content": seal({"summary": summary}),
            "created_by": "respond"}
    return {"id": new_id("resp"), "object": "response.compaction", "created_at": int(time.time()),
            "output": [*kept, item], "usage": usage}
