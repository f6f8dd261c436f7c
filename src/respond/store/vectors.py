"""Chunks, the lexical index and the dense index of vector stores.

- Lexical: SQLite FTS5 (porter stemming, BM25) in a virtual table keyed by the chunk's rowid;
  PostgreSQL a generated `tsvector` column with a GIN index, ranked by `ts_rank` (normalised by length).  The query
  is an OR of its words, so a chunk needs not contain them all.
- Dense: each chunk's float32 embedding is a BLOB in its row; searches go through a per-store
  float32 matrix cached in memory (one matrix product + argpartition; ~10 ms at 100k x 384 on
  one core), rebuilt when the store's chunks change.  pgvector/sqlite-vec are not available on
  this deployment target, and brute force is exact.  The cache is per process: several
  processes serving the same database each invalidate only their own (a store changed by
  another process is seen after its next change here, or a restart).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    insert,
    select,
)
from sqlalchemy import text as sql

from respond.store import files as ftables
from respond.store.database import Database
from respond.store.safetext import SafeText

if TYPE_CHECKING:  # numpy is imported when vectors are first read or written, not at start
    import numpy as np

chunks = Table(
    "chunks", ftables.metadata,
    Column("pk", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("vector_store_id", String(64), nullable=False),
    Column("file_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", SafeText, nullable=False),
    Column("embedding", LargeBinary, nullable=True),
    Index("ix_chunks_store_file", "vector_store_id", "file_id"),
)

_WORD = re.compile(r"\w+", re.UNICODE)



# Words too common to help ranking; dropping them keeps OR queries from scoring every chunk.
STOPWORDS = frozenset("""a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
only or other our ours out over own same she should so some such than that the their theirs them then there
these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours""".split())


def query_words(query: str, limit: int = 32) -> list[str]:
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))
    content = [w for w in words if w not in STOPWORDS]
    return (content or words)[:limit]


class ChunkIndex:
    """The `VectorIndex` port (core/storage.py): every operation one `Database.read` or `.write`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = db.name == "postgresql"
        self._matrices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def invalidate(self, store_id: str) -> None:
        self._matrices.pop(store_id, None)

    async def replace_file(self, store_id: str, file_id: str, texts: list[str],
                           vectors: np.ndarray | None) -> None:
        """Write a file's chunks (and their lexical entries) in one transaction."""
        import numpy as np

        rows = [{"vector_store_id": store_id, "file_id": file_id, "position": i, "text": t,
                 "embedding": vectors[i].astype(np.float32).tobytes() if vectors is not None else None}
                for i, t in enumerate(texts)]

        def write(conn: Connection) -> None:
            self._delete(conn, store_id, file_id)
            for start in range(0, len(rows), 500):
                part = rows[start:start + 500]
                pks = conn.execute(insert(chunks).returning(chunks.c.pk), part).scalars().all()
                if not self.pg:
                    conn.execute(sql("INSERT INTO chunks_fts(rowid, text, store) VALUES (:pk, :text, :s)"),
                                 [{"pk": pk, "text": r["text"], "s": store_id} for pk, r in zip(pks, part, strict=True)])

        await self.db.write(write)
        self.invalidate(store_id)

    def _delete(self, conn: Connection, store_id: str, file_id: str | None) -> None:
        where = [chunks.c.vector_store_id == store_id] + ([chunks.c.file_id == file_id] if file_id else [])
        if not self.pg:
            conn.execute(sql("DELETE FROM chunks_fts WHERE rowid IN (SELECT pk FROM chunks WHERE "
                             "vector_store_id = :s AND (:f IS NULL OR file_id = :f))"), {"s": store_id, "f": file_id})
        conn.execute(delete(chunks).where(*where))

    async def delete(self, store_id: str, file_id: str | None = None) -> None:
        await self.db.write(lambda conn: self._delete(conn, store_id, file_id))
        self.invalidate(store_id)

    async def lexical(self, store_ids: list[str], query: str, limit: int,
                      file_ids: set[str] | None = None) -> list[tuple[int, float]]:
        """(chunk pk, score) best first: BM25 (SQLite) or ts_rank (PostgreSQL)."""
        words = query_words(query)
        if not words or file_ids == set():
            return []
        params: dict[str, str | int] = {"limit": limit}  # bind parameters: :limit, :s0.., :f0.., :q
        stores = ", ".join(f":s{i}" for i in range(len(store_ids)))
        params.update({f"s{i}": s for i, s in enumerate(store_ids)})
        file_clause = ""
        if file_ids is not None:
            file_clause = " AND c.file_id IN (" + ", ".join(f":f{i}" for i in range(len(file_ids))) + ")"
            params.update({f"f{i}": f for i, f in enumerate(sorted(file_ids))})
        if self.pg:
            params["q"] = " | ".join(words)
            # ts_rank with length normalisation (1): better than ts_rank_cd here (bench/retrieval.py:
            # recall@5 0.95 vs 0.84 on exact questions) and about twice as fast at 100k chunks.
            stmt = sql(f"SELECT c.pk, ts_rank(c.tsv, q, 1) AS score FROM chunks c, to_tsquery('english', :q) q "
                       f"WHERE c.tsv @@ q AND c.vector_store_id IN ({stores}){file_clause} "
                       f"ORDER BY score DESC LIMIT :limit")
        else:
            # The store ids are matched inside FTS (an indexed column): no join unless files are filtered.
            in_stores = " OR ".join('"' + s.replace('"', "") + '"' for s in store_ids)
            words_q = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
            params["q"] = f"store : ({in_stores}) AND text : ({words_q})"
            if file_ids is None:
                stmt = sql("SELECT rowid, -bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH :q "
                           "ORDER BY bm25(chunks_fts) LIMIT :limit")
            else:
                stmt = sql(f"SELECT c.pk, -bm25(chunks_fts) AS score FROM chunks_fts JOIN chunks c ON c.pk = "
                           f"chunks_fts.rowid WHERE chunks_fts MATCH :q{file_clause} "
                           f"ORDER BY bm25(chunks_fts) LIMIT :limit")
        rows = await self.db.read(lambda conn: conn.execute(stmt, params).all())
        return [(int(pk), float(score)) for pk, score in rows]

    async def _matrix(self, store_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cached = self._matrices.get(store_id)
        if cached is not None:
            return cached
        q = select(chunks.c.pk, chunks.c.file_id, chunks.c.embedding).where(
            chunks.c.vector_store_id == store_id, chunks.c.embedding.is_not(None)).order_by(chunks.c.pk)
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        import numpy as np

        if rows:
            matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        built = (matrix, np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows]))
        self._matrices[store_id] = built
        return built

    async def dense(self, store_ids: list[str], vector: np.ndarray, limit: int,
                    file_ids: set[str] | None = None) -> list[tuple[int, float]]:
        """(chunk pk, cosine similarity) best first, exact, across the stores."""
        import numpy as np

        found: list[tuple[int, float]] = []
        for sid in store_ids:
            matrix, pks, owners = await self._matrix(sid)
            if not len(pks) or matrix.shape[1] != vector.shape[0]:
                continue
            scores = matrix @ vector
            if file_ids is not None:
                scores = np.where(np.isin(owners, list(file_ids)), scores, -np.inf)
            k = min(limit, len(scores))
            top = np.argpartition(-scores, k - 1)[:k]
            found.extend((int(pks[i]), float(scores[i])) for i in top if np.isfinite(scores[i]))
        found.sort(key=lambda x: -x[1])
        return found[:limit]

    async def fetch(self, pks: list[int]) -> dict[int, tuple[str, str]]:
        """{pk: (file_id, text)}."""
        if not pks:
            return {}
        q = select(chunks.c.pk, chunks.c.file_id, chunks.c.text).where(chunks.c.pk.in_(pks))
        rows = await self.db.read(lambda conn: conn.execute(q).all())
        return {int(r[0]): (r[1], r[2]) for r in rows}
