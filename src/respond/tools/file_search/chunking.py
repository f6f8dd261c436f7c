"""Token windows with overlap, cut on the source text so that each chunk is a verbatim slice.

Tokens are the embedding model's WordPiece tokens when it is loaded (offsets map them back to
the text), otherwise whitespace-separated words.  `auto` is OpenAI's default: 800 tokens with
400 overlap; `static` takes max_chunk_size_tokens (100..4096) and chunk_overlap_tokens (at most
half of it).
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

from respond.protocol.errors import APIError, invalid


class ChunkSizes(TypedDict):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class ChunkingStrategy(TypedDict):
    """A chunking strategy as stored on a vector store file (`auto` is stored as its numbers)."""

    type: Literal["static"]
    static: ChunkSizes


AUTO: ChunkingStrategy = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
_WORDS = re.compile(r"\S+")


def stored_strategy(raw: Any) -> ChunkingStrategy:
    """The strategy a stored attachment names (one written before strategies were stored: `auto`)."""
    try:
        return resolve_strategy(raw) if raw else AUTO
    except APIError:
        return AUTO


def resolve_strategy(raw: Any, param: str = "chunking_strategy") -> ChunkingStrategy:
    """The stored form of a chunking strategy (always `static` with its numbers), or a 400."""
    if raw is None or (isinstance(raw, dict) and raw.get("type") == "auto"):
        return AUTO
    if not isinstance(raw, dict) or raw.get("type") != "static":
        raise invalid("Invalid value for 'chunking_strategy.type': supported values are 'auto' and 'static'.",
                      f"{param}.type", "invalid_value")
    static = raw.get("static")
    if not isinstance(static, dict):
        raise invalid("Missing required parameter: 'chunking_strategy.static'.", f"{param}.static",
                      "missing_required_parameter")
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or isinstance(size, bool) or not 100 <= size <= 4096:
        raise invalid("'max_chunk_size_tokens' must be an integer from 100 to 4096.",
                      f"{param}.static.max_chunk_size_tokens", "invalid_value")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= size // 2:
        raise invalid("'chunk_overlap_tokens' must be an integer from 0 to half of 'max_chunk_size_tokens'.",
                      f"{param}.static.chunk_overlap_tokens", "invalid_value")
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def token_spans(text: str, tokenizer: Any | None) -> list[tuple[int, int]]:
    """(start, end) character offsets of each token of `text`."""
    if tokenizer is None:
        return [m.span() for m in _WORDS.finditer(text)]
    enc = tokenizer.encode(text, add_special_tokens=False)
    return [span for span in enc.offsets if span[1] > span[0]]


def chunk_text(text: str, size: int, overlap: int, tokenizer: Any | None = None) -> list[str]:
    spans = token_spans(text, tokenizer)
    if not spans:
        return []
    step = max(1, size - overlap)
    out = []
    for start in range(0, len(spans), step):
        window = spans[start:start + size]
        out.append(text[window[0][0]:window[-1][1]].strip())
        if start + size >= len(spans):
            break
    return [c for c in out if c]
