"""Retrieval quality and speed of file_search: hybrid vs lexical-only vs vector-only.

Corpus (built offline, nothing downloaded): the docstrings of this interpreter's standard library,
one file per module (`name(signature)` + docstring for each public function, class and method,
via `inspect`).  Questions: the first sentence of sampled function docstrings; the relevant
chunks are those that contain that function's entry.  Reported: recall@5 and MRR@10 for each
mode, ingestion chunks/s (extraction, chunking, embedding and indexing, end to end), and search
p50 at 10k and 100k chunks (synthetic stores made of the corpus' chunks repeated, with their real
embeddings plus noise, so FTS and the vector index see realistic sizes).

    .venv/bin/python bench/retrieval.py [--modules 40] [--questions 200] [--database sqlite:///...]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from respond.store.files import vs_files  # noqa: E402
from respond.store.sql import SqlStore  # noqa: E402
from respond.tools.file_search.search import HybridSearch  # noqa: E402
from respond.tools.file_search.service import FileSearch  # noqa: E402

MODULES = [
    "json", "csv", "os.path", "shutil", "textwrap", "string", "re", "glob", "fnmatch", "difflib", "heapq", "bisect",
    "itertools", "functools", "operator", "statistics", "random", "math", "fractions", "decimal", "datetime",
    "calendar", "collections", "copy", "pprint", "enum", "base64", "binascii", "hashlib", "hmac", "secrets",
    "uuid", "urllib.parse", "html", "ipaddress", "zipfile", "tarfile", "gzip", "tempfile", "pathlib", "logging",
    "argparse", "shlex", "struct", "codecs", "unicodedata", "locale", "gettext", "sched", "queue", "threading",
    "contextlib", "abc", "dataclasses", "typing", "inspect", "dis", "tokenize", "ast", "plistlib", "configparser",
]
OWNER = "bench"
# Hand-written paraphrases that avoid the entry's own words where possible: (question, entry prefix).
PARAPHRASES = [
    ("make a deep duplicate of a nested object", "copy.deepcopy("),
    ("find the position to insert an item so a list stays ordered", "bisect.bisect"),
    ("middle value of a list of numbers", "statistics.median("),
    ("break long paragraphs into lines of limited width", "textwrap.wrap("),
    ("remove the common indentation from every line", "textwrap.dedent("),
    ("the n biggest items of a collection", "heapq.nlargest("),
    ("make text safe to put inside a web page", "html.escape("),
    ("split a web address into scheme, host and path", "urllib.parse.urlparse("),
    ("hard to guess random string for password reset links", "secrets.token_urlsafe("),
    ("greatest common divisor of integers", "math.gcd("),
    ("duplicate a whole folder with everything inside it", "shutil.copytree("),
    ("does a file name match a wildcard like *.txt", "fnmatch.fnmatch("),
    ("show what changed between two versions of a text as a unified patch", "difflib.unified_diff("),
    ("weekday of the first day and number of days in a month", "calendar.monthrange("),
    ("keyed-hash message authentication", "hmac.new("),
    ("print nested data structures readably", "pprint.pprint("),
    ("count how often each element occurs", "collections.Counter("),
    ("remember results of expensive calls", "functools.lru_cache("),
    ("read rows of a comma separated file as dictionaries", "csv.DictReader("),
    ("serialize a Python object to a JSON formatted string", "json.dumps("),
    ("find all path names matching a pattern", "glob.glob("),
    ("rational numbers", "fractions.Fraction("),
    ("universally unique identifier based on random numbers", "uuid.uuid4("),
    ("temporary directory that is removed afterwards", "tempfile.TemporaryDirectory("),
    ("compute an SHA-256 digest", "hashlib.sha256("),
    ("cycle through an iterable endlessly", "itertools.cycle("),
    ("pick k items at random without repetition", "random.sample("),
    ("decode data encoded in base 64", "base64.b64decode("),
    ("check whether an IP network contains an address", "ipaddress.ip_network("),
    ("open a compressed .gz file", "gzip.open("),
]


def first_sentence(doc: str) -> str:
    line = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.!?])\s", line)[0]


def build_corpus(n_modules: int) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """{filename: text} and [(question, filename, entry marker)]."""
    docs: dict[str, str] = {}
    candidates = []
    for name in MODULES[:n_modules]:
        mod = importlib.import_module(name)
        parts = [f"Module {name}\n{inspect.getdoc(mod) or ''}"]
        for attr, obj in sorted(vars(mod).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) not in (
                    mod.__name__, name, "_" + name.split(".")[-1]):
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
                continue
            doc = inspect.getdoc(obj)
            if not doc:
                continue
            try:
                sig = str(inspect.signature(obj))
            except (TypeError, ValueError):
                sig = "(...)"
            marker = f"{name}.{attr}{sig}"
            parts.append(f"{marker}\n{doc}")
            q = first_sentence(doc)
            if inspect.isfunction(obj) and len(q.split()) >= 5 and len(doc) > 80:
                candidates.append((q, f"{name}.txt", marker))
        docs[f"{name}.txt"] = "\n\n".join(parts)
    return docs, candidates


async def evaluate(searcher: HybridSearch, store_id: str, questions: list[tuple[str, str, str]]
                   ) -> tuple[float, float, float]:
    """recall@5, MRR@10 and p50 latency (ms) over the questions."""
    hits5, rr, times = 0, 0.0, []
    for q, _fname, marker in questions:
        t0 = time.perf_counter()
        res = await searcher.search(OWNER, [store_id], q, max_num_results=10)
        times.append((time.perf_counter() - t0) * 1000)
        rank = next((i + 1 for i, h in enumerate(res) if marker in h.text), None)
        if rank is not None:
            hits5 += rank <= 5
            rr += 1 / rank
    n = len(questions)
    return hits5 / n, rr / n, statistics.median(times)


async def synthetic_store(fs: FileSearch, n_chunks: int, texts: list[str], vectors: np.ndarray) -> str:
    store = await fs.create_store(OWNER, {"name": f"synthetic-{n_chunks}"})
    rng = np.random.default_rng(0)
    per_file = 1000
    for start in range(0, n_chunks, per_file):
        f = await fs.upload(OWNER, f"syn{start}.txt", "assistants", b"synthetic")
        idx = rng.integers(0, len(texts), per_file)
        chunk_texts = [f"{texts[i]} (copy {start + j})" for j, i in enumerate(idx)]
        noisy = vectors[idx] + rng.normal(0, 0.02, (per_file, vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        await fs.files.attach(store["id"], f["id"], OWNER, int(time.time()), {"attributes": None})
        await fs.index.replace_file(store["id"], f["id"], chunk_texts, noisy)
        await fs.files.set_file_status(store["id"], f["id"], "completed", usage_bytes=0)
    return str(store["id"])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=40)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--chunk-tokens", type=int, default=200)
    ap.add_argument("--overlap", type=int, default=50)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--database", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    store = SqlStore(args.database or f"sqlite:///{tmp}/bench.db")
    fs = FileSearch(store.files, store.vectors)
    await store.open()
    await fs.start()
    docs, candidates = build_corpus(args.modules)
    random.Random(0).shuffle(candidates)
    questions = candidates[:args.questions]
    print(f"corpus: {len(docs)} stdlib modules (Python {sys.version.split()[0]} docstrings), "
          f"{sum(len(t) for t in docs.values()) / 1e6:.2f} MB of text; {len(questions)} questions")

    vs = await fs.create_store(OWNER, {"name": "stdlib"})
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": args.chunk_tokens,
                                             "chunk_overlap_tokens": args.overlap}}
    t0 = time.perf_counter()
    for name, text in docs.items():
        f = await fs.upload(OWNER, name, "assistants", text.encode())
        await fs.attach(OWNER, vs["id"], {"file_id": f["id"], "chunking_strategy": strategy})
    await fs.ingestor.wait_idle()
    took = time.perf_counter() - t0
    counts = (await fs.files.file_counts([vs["id"]]))[vs["id"]]
    from sqlalchemy import func, select

    from respond.store.vectors import chunks
    def read(conn: Any) -> tuple[Any, Any, Any]:
        return (conn.scalar(select(func.count()).select_from(chunks).where(chunks.c.vector_store_id == vs["id"])),
                conn.execute(select(chunks.c.text, chunks.c.embedding).where(
                    chunks.c.vector_store_id == vs["id"])).all(),
                conn.scalar(select(func.count()).select_from(vs_files).where(vs_files.c.status == "failed")))

    n_chunks, rows, failed = await store.db.read(read)
    print(f"ingestion: {n_chunks} chunks ({args.chunk_tokens}/{args.overlap} tokens) from {counts['completed']} files "
          f"in {took:.1f}s = {n_chunks / took:.1f} chunks/s end to end (failed files: {failed})")
    embedder = fs.retriever.embedder
    print(f"embedder: {'all-MiniLM-L6-v2 (numpy)' if embedder.get() else 'NONE (lexical only)'}")
    corpus_text = "\n".join(docs.values())
    para = [(q, "", m) for q, m in PARAPHRASES if m in corpus_text]
    sets = [(f"docstring first sentences ({len(questions)})", questions),
            (f"hand-written paraphrases ({len(para)})", para)]
    for label, qs in sets:
        print(f"\n{label}\nmode      recall@5  MRR@10  p50 ms")
        for mode in ("hybrid", "lexical", "vector"):
            searcher = HybridSearch(fs.files, fs.index, embedder, mode=mode)
            r5, mrr, p50 = await evaluate(searcher, vs["id"], qs)
            print(f"{mode:8}  {r5:8.3f}  {mrr:6.3f}  {p50:6.1f}")

    texts = [r[0] for r in rows]
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]) if embedder.get() else np.zeros((len(rows), 384),
                                                                                                       dtype=np.float32)
    print("\nsize     build s  hybrid p50  lexical p50  vector p50 (ms; 50 queries, first one warms the cache)")
    for size in (int(s) for s in args.sizes.split(",")):
        t0 = time.perf_counter()
        sid = await synthetic_store(fs, size, texts, vectors)
        build = time.perf_counter() - t0
        out = []
        for mode in ("hybrid", "lexical", "vector"):
            searcher = HybridSearch(fs.files, fs.index, embedder, mode=mode)
            await searcher.search(OWNER, [sid], "warm up", max_num_results=10)
            times = []
            for q, _, _ in questions[:50]:
                t1 = time.perf_counter()
                await searcher.search(OWNER, [sid], q, max_num_results=10)
                times.append((time.perf_counter() - t1) * 1000)
            out.append(statistics.median(times))
        print(f"{size:<8} {build:7.1f}  {out[0]:10.1f}  {out[1]:11.1f}  {out[2]:10.1f}")
    await fs.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
