"""KV-cache reuse across requests: a small LRU pool of llama contexts ("slots").

A context keeps the tokens of its last request (prompt and answer) in its KV cache; a new
prompt sharing a prefix with them only decodes the rest (the runner trims the cache to the
common prefix).  One context therefore serves a single conversation well; two interleaved
conversations would evict each other.  Saving and restoring state costs ~2 s per switch on this class of
machine, far more than re-reading a short prompt, so instead we keep several contexts over the
same memory-mapped weights (each adds only its KV cache and compute buffers) and send each
request to the context holding the longest prefix of it.

`reusable_prefix` is the rule the runner decodes by, so `Usage.cached_tokens` reports exactly
the tokens that were not decoded again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# A prompt that differs from a slot's last one (of a real length) only in its last few tokens (the
# generation prompt `<|im_start|>assistant\n`, replaced by a message appended instead: the repeat
# guard's answer hint) still continues that slot.
TAIL_SLACK = 3


def _needed(shorter: int) -> int:
    """The common prefix that makes a prompt continue a slot, given the shorter of the two prompts."""
    return shorter - 1 - (TAIL_SLACK if shorter > 8 * TAIL_SLACK else 0)


def reusable_prefix(llm: Any, tokens: Sequence[int]) -> int:
    """How many leading `tokens` can be taken from `llm`'s KV cache.

    Sampling needs the logits of the last prompt position: they are live only when the cache
    ends exactly there, otherwise the last prompt token is decoded again."""
    cached = llm.n_tokens
    if cached == 0:
        return 0
    common = 0
    for a, b in zip(llm.input_ids[:cached].tolist(), tokens, strict=False):
        if a != b:
            break
        common += 1
    if common == len(tokens):
        if cached == len(tokens) and not llm._requires_eval:
            return common  # exact hit: sampling starts from the live logits
        return common - 1  # one token is decoded again to refresh the logits
    return common


@dataclass(eq=False)
class Slot:
    """One llama context and when it was last used."""

    llm: Any
    index: int
    last_used: float = field(default_factory=time.monotonic)
    prompt_tokens: int = 0  # length of the last prompt run here

    @property
    def cached_tokens(self) -> int:
        return int(self.llm.n_tokens)

    def touch(self) -> None:
        self.last_used = time.monotonic()


class SlotPool:
    """Up to `size` contexts created on demand by `factory`; picks one per request.

    Not thread-safe: the backend uses it from one worker thread at a time.
    """

    def __init__(self, factory: Callable[[], Any], size: int = 3) -> None:
        self._factory = factory
        self._size = max(1, size)
        self._slots: list[Slot] = []

    @property
    def slots(self) -> list[Slot]:
        return list(self._slots)

    def any(self) -> Slot:
        """Some loaded slot (for tokenizing and metadata), creating the first one if needed."""
        if not self._slots:
            self._slots.append(Slot(self._factory(), 0))
        return self._slots[0]

    def acquire(self, tokens: Sequence[int]) -> tuple[Slot, int]:
        """The slot to run `tokens` on and how many of them its cache already holds.

        A slot whose last prompt is a prefix of this one (the conversation goes on, or the same
        request is repeated) wins.  Otherwise an empty slot is used, or a new one while the
        pool has room, so a new conversation does not evict a live one for the sake of a
        shared system prompt; a full pool gives up its least recently used slot.
        """
        scored = [(reusable_prefix(s.llm, tokens), s) for s in self._slots]
        continuing = [
            (prefix, s)
            for prefix, s in scored
            if prefix > 0 and prefix >= _needed(min(s.prompt_tokens, len(tokens)))
        ]
        empty = [s for s in self._slots if s.cached_tokens == 0]
        if continuing:
            prefix, chosen = max(continuing, key=lambda ps: (ps[0], ps[1].last_used))
        elif empty:
            chosen, prefix = empty[0], 0
        elif len(self._slots) < self._size:
            chosen, prefix = Slot(self._factory(), len(self._slots)), 0
            self._slots.append(chosen)
            log.debug("opened llama context slot %d", chosen.index)
        else:
            prefix, chosen = min(scored, key=lambda ps: ps[1].last_used)
        chosen.touch()
        chosen.prompt_tokens = len(tokens)
        return chosen, prefix

    def close(self) -> None:
        for slot in reversed(self._slots):  # slot 0 owns the weights the others borrow
            close = getattr(slot.llm, "close", None)
            if close is not None:
                close()
        self._slots.clear()


_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def sharing_weights(owner: Any | None) -> Iterator[None]:
    """While active, a new `Llama` reuses `owner`'s loaded weights instead of loading its own.

    llama.cpp repacks Q4_K weights into anonymous memory for its AVX2 kernels, so each `Llama`
    costs ~600 MB; a context over shared weights costs ~65 MB (its KV cache and buffers).
    llama-cpp-python has no public way to share a model, so the model class it instantiates
    is swapped for the duration of the constructor.  The owner context is closed last.
    """
    if owner is None:
        yield
        return
    import llama_cpp.llama as module

    internals: Any = module.internals  # type: ignore[attr-defined]  # the module llama.py builds with

    weights = owner._model

    class Borrowed:
        def __init__(self, **_: Any) -> None:
            self._model = weights

        def __getattr__(self, name: str) -> Any:
            return getattr(self._model, name)

        def close(self) -> None:
            pass  # the owner frees the weights

    with _PATCH_LOCK:
        original = internals.LlamaModel
        setattr(internals, "LlamaModel", Borrowed)  # noqa: B010 - a patch, see above
        try:
            yield
        finally:
            setattr(internals, "LlamaModel", original)  # noqa: B010
