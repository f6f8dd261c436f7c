"""What a response page shows of items and stream events (plain data for the templates)."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for part in content or []:
        if isinstance(part, dict):
            for key in ("text", "refusal"):
                if isinstance(part.get(key), str):
                    out.append(part[key])
    return out


def _citations(content: Any) -> list[Row]:
    out: list[Row] = []
    for part in content or [] if not isinstance(content, str) else []:
        if isinstance(part, dict):
            out.extend(a for a in part.get("annotations") or [] if isinstance(a, dict))
    return out


def item_view(item: Row) -> Row:
    """A summary of one item: its kind, a title, the text to show, citations, and the raw item."""
    kind = str(item.get("type", "message"))
    view: Row = {"type": kind, "id": item.get("id"), "status": item.get("status"), "raw": item, "text": "",
                 "title": kind, "citations": [], "tool": False}
    if kind == "message":
        view["title"] = f"message ({item.get('role', '?')})"
        view["text"] = "\n".join(_texts(item.get("content")))
        view["citations"] = _citations(item.get("content"))
    elif kind == "reasoning":
        view["text"] = "\n".join(_texts(item.get("summary")) + _texts(item.get("content")))
    elif kind.endswith("_call"):
        view["tool"] = True
        name = item.get("name") or kind.removesuffix("_call")
        view["title"] = f"tool call: {name}"
        view["text"] = str(item.get("arguments") or item.get("queries") or item.get("action") or item.get("input")
                           or "")
    elif kind.endswith("_call_output"):
        view["tool"] = True
        view["title"] = f"tool result for {item.get('call_id', '?')}"
        out = item.get("output")
        view["text"] = out if isinstance(out, str) else "\n".join(_texts(out))
    return view


def timeline(events: list[Row]) -> list[Row]:
    """Stream events in order, runs of deltas of one item folded into one row."""
    rows: list[Row] = []
    for ev in events:
        kind = str(ev.get("type", ""))
        key = (kind, ev.get("item_id"), ev.get("content_index"))
        if kind.endswith(".delta") and rows and rows[-1]["key"] == key:
            last = rows[-1]
            last["count"] += 1
            last["last_seq"] = ev.get("sequence_number")
            last["chars"] += len(str(ev.get("delta", "")))
            continue
        rows.append({"key": key, "type": kind, "seq": ev.get("sequence_number"), "last_seq": ev.get("sequence_number"),
                     "count": 1, "chars": len(str(ev.get("delta", ""))) if kind.endswith(".delta") else 0,
                     "item_id": ev.get("item_id") or (ev.get("item") or {}).get("id")})
    return rows
