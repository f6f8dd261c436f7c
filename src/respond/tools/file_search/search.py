"""Hybrid search: lexical (FTS5 / tsvector) and dense (MiniLM cosine) fused by reciprocal rank.

Each list contributes `weight / (60 + rank)` (the usual RRF constant); the sum is divided by the
best possible sum so that scores lie in [0, 1] (a chunk first in both lists scores 1.0) and
`ranking_options.score_threshold` is comparable across queries.  `hybrid_search`
weights (embedding_weight, text_weight) set the two weights; `mode` "lexical" / "vector" on the
searcher restricts to one list (used by the benchmark).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from respond.core.retrieval import SearchHit, UnknownVectorStore
from respond.core.storage import FileStore, VectorIndex
from respond.protocol.errors import invalid
from respond.protocol.shapes import JSON, JSONObject
from respond.tools.file_search import filters as flt
from respond.tools.file_search.embedder import LazyEmbedder

if TYPE_CHECKING:  # (vectors come from the embedder, which imports numpy on first use)
    import numpy as np

RRF_K = 60
TOUCH_EVERY_S = 60
CANDIDATES = 50


def check_ranking(options: Any, param: str = "ranking_options") -> JSONObject:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    threshold = options.get("score_threshold", 0.0)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        raise invalid("'score_threshold' must be a number from 0 to 1.", f"{param}.score_threshold",
                      "invalid_value")
    hybrid = options.get("hybrid_search")
    if hybrid is not None:
        if not isinstance(hybrid, dict):
            raise invalid(f"Invalid type for '{param}.hybrid_search': expected an object.",
                          f"{param}.hybrid_search", "invalid_type")
        for key in ("text_weight", "embedding_weight"):
            weight = hybrid.get(key, 1.0)
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise invalid(f"Invalid '{param}.hybrid_search.{key}': expected a number >= 0.",
                              f"{param}.hybrid_search.{key}", "invalid_value")
    ranker = options.get("ranker")
    if ranker not in (None, "none", "auto", "default-2024-11-15"):
        raise invalid(f"Invalid value: '{ranker}'. Supported values are: 'none', 'auto' and "
                      "'default-2024-11-15'.", f"{param}.ranker", "invalid_value")
    return options


def _number(value: JSON, default: float) -> float:
    """A ranking option's number (check_ranking accepted it), else its default."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class HybridSearch:
    """The `Retriever` port over the file store, the chunk index and the embedder."""

    def __init__(self, files: FileStore, index: VectorIndex, embedder: LazyEmbedder, mode: str = "hybrid",
                 clock: Callable[[], float] = time.time) -> None:
        self.files = files
        self.clock = clock  # last_active_at of the stores searched
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self._touched: dict[str, int] = {}  # store id -> when last_active_at was last written

    def check_options(self, filters: Any, ranking_options: Any, param: str) -> None:
        if filters is not None:
            flt.check(filters, f"{param}.filters")
        check_ranking(ranking_options, f"{param}.ranking_options")

    async def check_stores(self, owner: str, store_ids: list[str]) -> None:
        for sid in store_ids:
            if await self.files.get_store(sid, owner) is None:
                raise UnknownVectorStore(sid)

    async def file_names(self, owner: str, store_ids: list[str], limit: int) -> tuple[list[str], int]:
        ids: dict[str, None] = {}
        for sid in store_ids:
            rows, _ = await self.files.list_vs_files(sid, owner, status="completed", order="asc")
            ids.update(dict.fromkeys(r["id"] for r in rows))
        names = []
        for file_id in list(ids)[:limit]:
            meta = await self.files.get_file(file_id, owner)
            names.append(str(meta["filename"]) if meta else file_id)
        return names, len(ids)

    async def _allowed(self, store_ids: list[str], owner: str, filters: JSONObject | None
                       ) -> tuple[set[str] | None, dict[str, flt.Attributes]]:
        """Completed files of the stores (with their attributes) and, under filters, those that match."""
        attrs: dict[str, flt.Attributes] = {}
        for sid in store_ids:
            rows, _ = await self.files.list_vs_files(sid, owner, status="completed")
            for r in rows:
                attrs[r["id"]] = r.get("attributes") or {}
        if filters is None:
            return None, attrs
        return {fid for fid, a in attrs.items() if flt.matches(filters, a)}, attrs

    async def _touch(self, store_ids: list[str]) -> None:
        now = int(self.clock())
        for sid in store_ids:
            if now - self._touched.get(sid, 0) >= TOUCH_EVERY_S:  # at most one write a minute per store
                self._touched[sid] = now
                await self.files.touch_store(sid, now)

    async def embed_query(self, query: str) -> np.ndarray | None:
        model = await asyncio.to_thread(self.embedder.get)
        if model is None:
            return None
        vec: np.ndarray = (await asyncio.to_thread(model.embed, [query]))[0]
        return vec

    async def search(self, owner: str, store_ids: list[str], query: str, *, max_num_results: int = 10,
                     filters: JSONObject | None = None,
                     ranking_options: JSONObject | None = None) -> list[SearchHit]:
        opts = ranking_options or {}
        await self._touch(store_ids)
        allowed, attrs = await self._allowed(store_ids, owner, filters)
        hybrid = opts.get("hybrid_search")
        weights = hybrid if isinstance(hybrid, dict) else {}
        w_text = _number(weights.get("text_weight"), 1.0)
        w_vec = _number(weights.get("embedding_weight"), 1.0)

        async def lexical() -> list[tuple[int, float]] | None:
            if self.mode not in ("hybrid", "lexical"):
                return None
            return await self.index.lexical(store_ids, query, CANDIDATES, allowed)

        async def dense() -> list[tuple[int, float]] | None:
            vector = await self.embed_query(query) if self.mode in ("hybrid", "vector") else None
            if vector is None:
                return None
            return await self.index.dense(store_ids, vector, CANDIDATES, allowed)

        # The full-text query (in the database's thread) overlaps the query's embedding.
        lex, den = await asyncio.gather(lexical(), dense())
        lists = [(w, ranked) for w, ranked in ((w_text, lex), (w_vec, den)) if ranked is not None]
        fused: dict[int, float] = {}
        for weight, ranked in lists:
            for rank, (pk, _score) in enumerate(ranked):
                fused[pk] = fused.get(pk, 0.0) + weight / (RRF_K + rank + 1)
        best = sum(w for w, _ in lists) / (RRF_K + 1) or 1.0
        threshold = _number(opts.get("score_threshold"), 0.0)
        top = sorted(fused.items(), key=lambda x: -x[1])
        top = [(pk, s / best) for pk, s in top if s / best >= threshold][:max_num_results]
        rows = await self.index.fetch([pk for pk, _ in top])
        names = {}
        hits = []
        for pk, score in top:
            if pk not in rows:
                continue
            file_id, text = rows[pk]
            if file_id not in attrs:  # detached or deleted since it was indexed
                continue
            if file_id not in names:
                meta = await self.files.get_file(file_id, owner)
                names[file_id] = meta["filename"] if meta else file_id
            hits.append(SearchHit(file_id=file_id, filename=names[file_id], score=round(score, 6), text=text,
                                  attributes=attrs[file_id]))
        return hits
