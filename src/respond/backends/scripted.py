"""A deterministic in-process model: replies with a fixed text (or echoes), streaming word by word.

Shipped so that a server, a demo or a plugin test can run with no model at all
(`--backend scripted`).  For tests of the HTTP upstream adapter use `respond.testing.upstream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from respond.backends.options import refuse_others
from respond.core.types import Delta, Finish, Generation, ModelInfo, TextDelta, Usage


class ScriptedBackend:
    name = "scripted"

    def __init__(self, model: str = "scripted", reply: str | None = None) -> None:
        self.model = model
        self.reply = reply

    @property
    def default_model(self) -> str:
        return self.model

    def serves(self, model: str) -> bool:
        return model == self.model

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo(id=self.model, owned_by="respond")]

    async def close(self) -> None:
        return None

    async def count_tokens(self, gen: Generation) -> int:
        """A counting backend like the embedded model (core.ports.TokenCounter): its tokens are words."""
        return _words(gen)

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        refuse_others(gen, (), "the scripted backend (it keeps no prompt cache)")
        last = next((m for m in reversed(gen.messages) if m.get("role") == "user"), None)
        said = last.get("content") if last else ""
        text = self.reply if self.reply is not None else f"You said: {said if isinstance(said, str) else '...'}"
        words = text.split(" ")
        limit = gen.max_output_tokens or len(words)
        for i, word in enumerate(words[:limit]):
            yield TextDelta(word if i == 0 else " " + word)
        n_in = _words(gen)
        reason = "length" if limit < len(words) else "stop"
        yield Finish(reason=reason, usage=Usage(input_tokens=n_in, output_tokens=min(limit, len(words))))


def _words(gen: Generation) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in gen.messages)
