"""`url_citation` annotations for the model's answer, from the sources its web calls produced.

The tool asks the model to cite with markdown links (`[title](url)`), and the sources it gave are
numbered (`[1]`).  Each link to a known source, each bare known URL and each `[n]` marker becomes
an annotation over that span of the text.  An answer that cites nothing explicitly, after the
model read pages or results, is annotated as a whole with the sources it was given (the opened
pages first, at most three): the answer rests on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from respond.protocol.shapes.parts import URLCitation

LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https?://[^)\s]+)\)")
BARE = re.compile(r"https?://[^\s)\]>\"']+")
MARKER = re.compile(r"\[(\d{1,2})\]")
FALLBACK = 3


def norm(url: str) -> str:
    return url.split("#", 1)[0].rstrip("/.,;:")


def cite(text: str, sources: Mapping[str, str], numbered: Sequence[str],
                used: Sequence[str]) -> list[URLCitation]:
    """`sources`: url -> title; `numbered`: url of source [n] at n-1; `used`: urls to cite by default."""
    known = {norm(u): u for u in sources}
    spans: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in spans)

    for m in LINK.finditer(text):
        if norm(m.group(2)) in known:
            spans.append((m.start(), m.end(), known[norm(m.group(2))]))
    for m in BARE.finditer(text):
        if norm(m.group(0)) in known and free(m.start(), m.end()):
            spans.append((m.start(), m.end(), known[norm(m.group(0))]))
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if 1 <= n <= len(numbered) and free(m.start(), m.end()) and not text[m.end():m.end() + 1] == "(":
            spans.append((m.start(), m.end(), numbered[n - 1]))
    if not spans and text.strip():
        spans = [(0, len(text), url) for url in list(dict.fromkeys(used))[:FALLBACK]]
    return [{"type": "url_citation", "start_index": s, "end_index": e, "url": url, "title": sources.get(url) or url}
            for s, e, url in sorted(spans, key=lambda x: (x[0], x[1]))]
