"""Split a thinking model's streamed text into reasoning and answer.

Models such as Qwen3, QwQ and the DeepSeek-R1 distills write their reasoning first, between
`<think>` and `</think>`, then the answer.  Some chat templates already end the prompt with
`<think>` (the model starts inside its reasoning: `inside=True`).  `ThinkSplitter` works on the
pieces as they are decoded, so reasoning streams as it is produced; a tag split across pieces is
held back until it is whole.  Only a `<think>` at the very start (after whitespace) opens
reasoning: the tag later in an answer is just text.  Whitespace around the reasoning is dropped
(an empty `<think>\n\n</think>`, which Qwen3 writes with thinking off, yields no reasoning).
"""

from __future__ import annotations

from typing import Literal

OPEN, CLOSE = "<think>", "</think>"
Kind = Literal["reasoning", "text"]


class ThinkSplitter:
    def __init__(self, inside: bool = False) -> None:
        # start: nothing but whitespace yet; inside: in the reasoning; after: just closed; text: the answer
        self._state = "inside" if inside else "start"
        self._buf = ""
        self._seen = False  # any reasoning emitted (leading whitespace of the reasoning is dropped)

    @property
    def in_answer(self) -> bool:
        """False while in (or just after) the reasoning: what is held now is not answer text."""
        return self._state in ("start", "text")

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        self._buf += text
        out: list[tuple[Kind, str]] = []
        while self._buf:
            if self._state == "start":
                head = self._buf.lstrip()
                if not head or (OPEN.startswith(head) and head != OPEN):
                    break  # whitespace, or maybe the start of the tag: wait
                if head.startswith(OPEN):
                    self._buf, self._state = head[len(OPEN):], "inside"
                else:
                    self._state = "text"
            elif self._state == "inside":
                end = self._buf.find(CLOSE)
                if end >= 0:
                    self._reason(self._buf[:end].rstrip(), out)
                    self._buf, self._state = self._buf[end + len(CLOSE):], "after"
                    continue
                # Emit up to trailing whitespace or a possible partial closing tag.
                keep = _partial_suffix(self._buf, CLOSE)
                body = self._buf[: len(self._buf) - keep]
                ready = body.rstrip()
                self._reason(ready, out)
                self._buf = self._buf[len(ready):]
                break
            elif self._state == "after":
                self._buf = self._buf.lstrip()
                if self._buf:
                    self._state = "text"
            else:
                out.append(("text", self._buf))
                self._buf = ""
        return out

    def finish(self) -> list[tuple[Kind, str]]:
        """What is still held at the end of generation."""
        rest, self._buf = self._buf, ""
        if self._state == "inside":
            out: list[tuple[Kind, str]] = []
            self._reason(rest.rstrip(), out)
            return out
        if self._state == "start" and rest.strip():
            return [("text", rest)]
        return []

    def _reason(self, text: str, out: list[tuple[Kind, str]]) -> None:
        if not self._seen:
            text = text.lstrip()
        if text:
            self._seen = True
            out.append(("reasoning", text))


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
