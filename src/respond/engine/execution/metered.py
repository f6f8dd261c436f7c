"""Metering of one response: a wrapper around its delta stream, and its end.

`Metered(deltas, ...)` passes every delta through unchanged and reports to the `Metrics` port the
time to the first delta, the tokens and generation time at `Finish`, and a `BackendError` as an
upstream error.  `finished(response, ...)` reports the final status, the response's duration and
its server-run tool calls (output items whose type ends in `_call`, by type and final status).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar

from respond.core.errors import BackendError
from respond.core.metrics import Metrics
from respond.core.types import Finish

log = logging.getLogger("respond.run")

D = TypeVar("D")
CLIENT_RUN = {"function_call", "custom_tool_call", "local_shell_call", "shell_call", "apply_patch_call",
              "computer_call"}


class Metered(Generic[D]):
    """`deltas` passed through unchanged, an async iterator of its own rather than an async generator
    (a layer every delta of every response crosses: no first-iteration hooks, no frame kept between
    deltas).  Metering starts at the first `__anext__`, as the generator's body did; `aclose` closes
    `deltas` (and the iterator closes them itself once they end or fail, as the generator's `finally` did)."""

    __slots__ = ("_backend", "_deltas", "_first", "_metrics", "_model", "_start")

    def __init__(self, deltas: AsyncIterator[D], metrics: Metrics, model: str, backend: str) -> None:
        self._deltas, self._metrics, self._model, self._backend = deltas, metrics, model, backend
        self._start: float | None = None
        self._first = True

    def __aiter__(self) -> Metered[D]:
        return self

    async def __anext__(self) -> D:
        start = self._start
        if start is None:
            start = self._start = time.perf_counter()
        try:
            delta = await self._deltas.__anext__()
        except BackendError as exc:
            self._metrics.upstream_error(self._backend, error_kind(exc))
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise
        if self._first:
            self._first = False
            self._metrics.first_token(self._model, self._backend, time.perf_counter() - start)
        if isinstance(delta, Finish):
            self._metrics.generated(self._model, self._backend, delta.usage, time.perf_counter() - start)
        return delta

    async def aclose(self) -> None:
        aclose = getattr(self._deltas, "aclose", None)
        if aclose is not None:
            await aclose()


def error_kind(exc: BackendError) -> str:
    """A bounded label: the status class the upstream answered with, or `transport`."""
    return f"http_{exc.status // 100}xx" if exc.status else "transport"


def finished(response: Mapping[str, Any], metrics: Metrics, backend: str, started: float) -> None:
    status = str(response.get("status"))
    metrics.response_finished(str(response.get("model")), backend, status, time.perf_counter() - started)
    for item in response.get("output") or []:
        kind = str(item.get("type", ""))
        if kind.endswith("_call") and kind not in CLIENT_RUN:
            metrics.tool_call(kind, str(item.get("status", "unknown")))
    log.info("response %s %s (model %s, %s)", response.get("id"), status, response.get("model"), backend)
