"""The MiniLM encoder's forward pass in numpy (embedder.py loads it on first use: importing numpy,
about 16 MB resident, is paid only by a server that ingests or searches files)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from respond.tools.file_search.embedder import DIM, MAX_TOKENS


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a dependency.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    out: np.ndarray = (s * y).astype(np.float32)
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: np.ndarray = (x - mu) / np.sqrt(var + eps) * w + b
    return out


class MiniLM:
    """Tokenizer + encoder; `embed(texts)` -> float32 (n, 384), unit rows."""

    heads = 12

    def __init__(self, weights: dict[str, np.ndarray], tokenizer: Any) -> None:
        self.w = {k: v.astype(np.float32) for k, v in weights.items() if v.dtype.kind == "f"}
        # Pre-transpose the linear layers once: x @ W.T is the hot path.
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and "embeddings" not in k:
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.tokenizer = tokenizer
        tokenizer.no_padding()  # the shipped tokenizer.json pads to 128; batches pad themselves
        tokenizer.enable_truncation(MAX_TOKENS)
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Sort by length so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        # One BLAS thread: the many small attention products are 5-10x slower with OpenBLAS threads
        # contending, and ingestion should leave the other cores to the server.
        with self._lock, threadpool_limits(1):
            for start in range(0, len(order), batch):
                idx = order[start:start + batch]
                out[idx] = self._embed_batch([texts[i] or " " for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1.0
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for layer in range(6):
            x = self._layer(x, f"encoder.layer.{layer}.", bias)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        out: np.ndarray = x @ self.w[name + ".weight"] + self.w[name + ".bias"]
        return out

    def _layer(self, x: np.ndarray, p: str, bias: np.ndarray) -> np.ndarray:
        n, length, _ = x.shape
        h, d = self.heads, DIM // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(n, length, h, d).transpose(0, 2, 1, 3)

        q = split(self._dense(x, p + "attention.self.query"))
        k = split(self._dense(x, p + "attention.self.key"))
        v = split(self._dense(x, p + "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, DIM)
        x = _layer_norm(x + self._dense(ctx, p + "attention.output.dense"),
                        self.w[p + "attention.output.LayerNorm.weight"], self.w[p + "attention.output.LayerNorm.bias"])
        ff = self._dense(_gelu(self._dense(x, p + "intermediate.dense")), p + "output.dense")
        return _layer_norm(x + ff, self.w[p + "output.LayerNorm.weight"], self.w[p + "output.LayerNorm.bias"])
