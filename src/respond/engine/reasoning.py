"""The `reasoning` output item: the model's thinking as Responses items and stream events.

Upstreams stream reasoning as chat `reasoning_content` (vLLM, DeepSeek, llama.cpp's server) or
`reasoning` (Ollama, OpenRouter); the embedded model writes it between `<think>` tags.  Either
way it reaches the engine as `ReasoningDelta`s, and one `ReasoningStream` turns them into one
`reasoning` item per run of reasoning:

- `content`: one `reasoning_text` part, streamed as `response.reasoning_text.delta/done` (the
  SDK's names; Open Responses calls them `response.reasoning.delta/done`);
- `summary`: chat upstreams send no summary and Respond does not invent one.  When the request
  asks for one (`reasoning.summary`), the summary is the reasoning text itself, verbatim, in
  one `summary_text` part streamed with `response.reasoning_summary_*` events: clients that
  show only summaries (Codex CLI) then show the thinking; without `reasoning.summary` the
  summary stays `[]`;
- `encrypted_content` (with `include: ["reasoning.encrypted_content"]`): the item's text sealed
  by `engine.sealing.Sealer`, so a `store: false` client can hand it back next turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from respond.core.types import ReasoningDelta
from respond.protocol.ids import new_id
from respond.protocol.items import UPSTREAM_STATE

if TYPE_CHECKING:
    from respond.engine.events import Event, EventBuilder


class ReasoningStream:
    """The open reasoning item of one run, if any.

    A /v1/responses upstream sends its own summary (`ReasoningDelta.summary`, the part index): then
    the summary is the upstream's, never the mirrored text; its finished item's state
    (`encrypted`, `item_id`) is kept under `UPSTREAM_STATE` and sealed into Respond's own
    `encrypted_content` with the text, so it reaches the upstream again on a later turn.
    """

    def __init__(self, summary: bool = False, seal: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.summary = summary
        self.seal = seal  # set when the client asked for encrypted_content
        self._item: dict[str, Any] | None = None
        self._index = -1
        self._own_summary = False  # the backend sends the summary itself (not mirrored from the text)

    def delta(self, b: EventBuilder, delta: ReasoningDelta) -> list[Event]:
        events: list[Event] = []
        if self._item is None:
            self._item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "content": [],
                          "status": "in_progress"}
            self._index, ev = b.add_item(self._item)
            events.append(ev)
        item = self._item
        if delta.encrypted is not None:
            item[UPSTREAM_STATE] = {"id": delta.item_id, "encrypted_content": delta.encrypted}
        if not delta.text:
            return events
        if delta.summary is not None:
            self._own_summary = True
            return events + self._summary(b, delta.summary, delta.text)
        if not item["content"]:
            part = {"type": "reasoning_text", "text": ""}
            item["content"].append(part)
            events.append(b.emit("response.content_part.added", **self._where(0), part=dict(part)))
        mirror = self.summary and not self._own_summary
        if mirror and not item["summary"]:
            summary = {"type": "summary_text", "text": ""}
            item["summary"].append(summary)
            events.append(b.emit("response.reasoning_summary_part.added", **self._at(), summary_index=0,
                                 part=dict(summary)))
        item["content"][0]["text"] += delta.text
        events.append(b.emit("response.reasoning_text.delta", **self._where(0), delta=delta.text))
        if mirror:
            events += self._summary(b, 0, delta.text)
        return events

    def _summary(self, b: EventBuilder, index: int, text: str) -> list[Event]:
        assert self._item is not None
        parts, events = self._item["summary"], []
        while len(parts) <= index:
            parts.append({"type": "summary_text", "text": ""})
            events.append(b.emit("response.reasoning_summary_part.added", **self._at(), summary_index=len(parts) - 1,
                                 part=dict(parts[-1])))
        parts[index]["text"] += text
        events.append(b.emit("response.reasoning_summary_text.delta", **self._at(), summary_index=index, delta=text))
        return events

    def close(self, b: EventBuilder, status: str = "completed") -> list[Event]:
        item = self._item
        if item is None:
            return []
        events = []
        if item["content"]:
            part = item["content"][0]
            events += [b.emit("response.reasoning_text.done", **self._where(0), text=part["text"]),
                       b.emit("response.content_part.done", **self._where(0), part=dict(part))]
        for j, summary in enumerate(item["summary"]):
            events.append(b.emit("response.reasoning_summary_text.done", **self._at(), summary_index=j,
                                 text=summary["text"]))
            events.append(b.emit("response.reasoning_summary_part.done", **self._at(), summary_index=j,
                                 part=dict(summary)))
        item["status"] = status
        if self.seal is not None:
            item["encrypted_content"] = self.seal(sealed_payload(item))
        events.append(b.item_done(self._index))
        self._item = None
        self._own_summary = False
        return events

    def _at(self) -> dict[str, Any]:
        assert self._item is not None
        return {"item_id": self._item["id"], "output_index": self._index}

    def _where(self, content_index: int) -> dict[str, Any]:
        return {**self._at(), "content_index": content_index}


def sealed_payload(item: dict[str, Any]) -> dict[str, Any]:
    """What Respond's `encrypted_content` of a reasoning item holds: its text, and the upstream's state."""
    payload = {"content": item.get("content") or [], "summary": item.get("summary") or []}
    if item.get(UPSTREAM_STATE):
        payload["upstream"] = item[UPSTREAM_STATE]
    return payload


def replay_reasoning(b: EventBuilder, index: int, item: dict[str, Any]) -> list[Event]:
    """The events of a stored reasoning item (all but its output_item.done)."""
    at = {"item_id": item.get("id"), "output_index": index}
    events = [b.emit("response.output_item.added", output_index=index,
                     item={**item, "status": "in_progress", "content": [], "summary": []})]
    for j, part in enumerate(item.get("content") or []):
        text = part.get("text", "")
        events.append(b.emit("response.content_part.added", **at, content_index=j, part={**part, "text": ""}))
        events.append(b.emit("response.reasoning_text.delta", **at, content_index=j, delta=text))
        events.append(b.emit("response.reasoning_text.done", **at, content_index=j, text=text))
        events.append(b.emit("response.content_part.done", **at, content_index=j, part=part))
    for j, part in enumerate(item.get("summary") or []):
        text = part.get("text", "")
        events.append(b.emit("response.reasoning_summary_part.added", **at, summary_index=j,
                             part={**part, "text": ""}))
        events.append(b.emit("response.reasoning_summary_text.delta", **at, summary_index=j, delta=text))
        events.append(b.emit("response.reasoning_summary_text.done", **at, summary_index=j, text=text))
        events.append(b.emit("response.reasoning_summary_part.done", **at, summary_index=j, part=part))
    return events
