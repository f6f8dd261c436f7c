"""Find tool calls in model text, and hold back streamed text that may turn into one.

Small Qwen models asked to use tools answer in one of three shapes: the trained
`<tool_call>{...}</tool_call>` tags, a fenced ```json block, or bare JSON.  `parse_tool_calls`
accepts all three (and a list of calls in one JSON array), but only for declared tools, so a
JSON answer that merely mentions a "name" stays text.

`ToolCallSplitter` does the same incrementally for streaming: text that clearly is prose is
released at once; from a point where a call may start (`<tool_call>`, a json fence, or JSON at
the very beginning) the text is held until the end of generation and then parsed.  Code blocks
in other languages stream normally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*([A-Za-z_]*)[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
_JSON_FENCES = {"", "json", "jsonc", "tool_call", "tool_code", "javascript", "js"}
_MARKERS = ("<tool_call>", "```")


@dataclass(frozen=True, slots=True)
class ParsedCall:
    name: str
    arguments: str  # compact JSON object text


def parse_tool_calls(text: str, tools: Collection[str]) -> tuple[list[ParsedCall], str]:
    """The calls of declared `tools` found in `text`, and the text left around them."""
    for pattern in (_TAGGED, _FENCED):
        calls: list[ParsedCall] = []
        rest = text
        for match in pattern.finditer(text):
            body = match.group(match.lastindex or 1)
            found = _calls_in(body, tools)
            if found:
                calls.extend(found)
                rest = rest.replace(match.group(0), "", 1)
        if calls:
            return calls, rest.strip()
    found = _calls_in(text, tools)
    return (found, "") if found else ([], text)


def _calls_in(body: str, tools: Collection[str]) -> list[ParsedCall]:
    """Calls in a run of JSON values (objects or arrays of objects), or [] if anything else.

    A call written with doubled braces, `{{"name": ..., "arguments": {...}}}` (template-escape style:
    the 1.5B model writes it after a tool's output), is read as the call it spells."""
    found = _json_calls(body, tools)
    if found or "{{" not in body:
        return found
    return _json_calls(_undouble(body), tools)


def _undouble(body: str) -> str:
    """`body` with each `{{` made `{` (never JSON: an object's key is a string) and every closing brace
    that closes nothing dropped; strings are copied as they are."""
    out: list[str] = []
    depth, pos = 0, 0
    while pos < len(body):
        char = body[pos]
        if char == '"':  # a string, whole: braces in it are text
            end = pos + 1
            while end < len(body) and body[end] != '"':
                end += 2 if body[end] == "\\" else 1
            out.append(body[pos : end + 1])
            pos = end + 1
            continue
        if char == "{":
            depth += 1
            pos += 2 if body.startswith("{{", pos) else 1
            out.append("{")
            continue
        if char == "}":
            if depth == 0:
                pos += 1
                continue
            depth -= 1
        out.append(char)
        pos += 1
    return "".join(out)


def _json_calls(body: str, tools: Collection[str]) -> list[ParsedCall]:
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos, body = 0, body.strip()
    while pos < len(body):
        try:
            value, end = decoder.raw_decode(body, pos)
        except ValueError:
            if values and body[pos] == "{" and "}" not in body[pos:].rstrip()[-1:]:
                break  # the last value was cut off by the output limit: the complete ones before it count
            return []
        values.extend(value if isinstance(value, list) else [value])
        pos = end
        while pos < len(body) and body[pos] in " \t\r\n,;":
            pos += 1
    calls = [_call(v, tools) for v in values]
    # A call of an undeclared tool beside declared ones (the small model invents one) is dropped.
    if not any(calls) or any(c is None and not _call_shaped(v) for c, v in zip(calls, values, strict=True)):
        return []
    return [c for c in calls if c is not None]


def _call_shaped(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("name"), str) and (
        "arguments" in value or "parameters" in value)


def _call(value: Any, tools: Collection[str]) -> ParsedCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or name not in tools:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ParsedCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


class ToolCallSplitter:
    """Streams text through, holding back anything from where a tool call may begin."""

    def __init__(self) -> None:
        self._pending = ""
        self._held: str | None = None
        self._emitted_any = False

    @property
    def holding(self) -> bool:
        return self._held is not None

    def feed(self, text: str) -> str:
        """Add generated text; return the part that is safe to show now."""
        if self._held is not None:
            self._held += text
            return ""
        self._pending += text
        out = self._release()
        if out.strip():
            self._emitted_any = True
        return out

    def finish(self) -> str:
        """The text still pending or held once generation ended."""
        rest = (self._held if self._held is not None else "") or self._pending
        self._pending, self._held = "", None
        return rest

    def drop_tail(self, size: int) -> None:
        """Forget the last `size` characters not yet released (held or pending)."""
        if self._held is not None:
            self._held = self._held[: max(0, len(self._held) - size)]
        else:
            self._pending = self._pending[: max(0, len(self._pending) - size)]

    def _release(self) -> str:
        pending = self._pending
        if not self._emitted_any:
            stripped = pending.lstrip()
            if not stripped:
                return ""
            if stripped[0] in "{[":
                self._held, self._pending = pending, ""
                return ""
        start = 0
        while True:
            hits = [(i, m) for m in _MARKERS if (i := pending.find(m, start)) >= 0]
            if not hits:
                break
            index, marker = min(hits)
            if marker == "<tool_call>":
                return self._hold_from(index)
            verdict = _fence_verdict(pending[index + 3 :])
            if verdict is None:  # the fence line is not complete yet
                return self._keep_from(index)
            if verdict:
                return self._hold_from(index)
            start = index + 3
        # Keep a tail that could still grow into a marker.
        for size in range(min(len(pending), 10), 0, -1):
            if any(m.startswith(pending[-size:]) for m in _MARKERS):
                return self._keep_from(len(pending) - size)
        self._pending = ""
        return pending

    def _hold_from(self, index: int) -> str:
        out, self._held, self._pending = self._pending[:index], self._pending[index:], ""
        return out

    def _keep_from(self, index: int) -> str:
        out, self._pending = self._pending[:index], self._pending[index:]
        return out


def _fence_verdict(after: str) -> bool | None:
    """Whether the fence starting just before `after` opens JSON (None: too early to say)."""
    newline = after.find("\n")
    if newline < 0:
        return None if len(after) < 24 else False
    if after[:newline].strip().lower() not in _JSON_FENCES:
        return False
    body = after[newline + 1 :].lstrip()
    if not body:
        return None
    return body[0] in "{["
