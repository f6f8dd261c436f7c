"""The marks of every test module that runs the real embedded model: `model`, and skipped (with the reason)
when llama-cpp-python or the default model's weight packages are missing."""

from __future__ import annotations

import importlib.util

import pytest

from respond.backends.llamacpp import parts_installed

EMBEDDED = [
    pytest.mark.model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"),
    pytest.mark.skipif(not parts_installed(), reason="the default model's weight packages are not installed"),
]
