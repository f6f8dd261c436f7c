"""Metering of one response: a wrapper around its delta stream, and its end.

`metered(deltas, ...)` passes every delta through unchanged and reports to the `Metrics` port the
time to the first delta, the tokens and generation time at `Finish`, and a `BackendError` as an
upstream error.  `finished(response, ...)` reports the final status, the response's duration and
its server-run tool calls (output items whose type ends in `_call`, by type and final status).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from respond.core.errors import BackendError
from respond.core.metrics import Metrics
from respond.core.types import Finish

log = logging.getLogger("respond.run")

D = TypeVar("D")
CLIENT_RUN = {"function_call", "custom_tool_call", "local_shell_call", "shell_call", "apply_patch_call",
              "computer_call"}


async def metered(deltas: AsyncIterator[D], metrics: Metrics, model: str, backend: str) -> AsyncIterator[D]:
    start = time.perf_counter()
    first = True
    try:
        async for delta in deltas:
            if first:
                first = False
                metrics.first_token(model, backend, time.perf_counter() - start)
            if isinstance(delta, Finish):
                metrics.generated(model, backend, delta.usage, time.perf_counter() - start)
            yield delta
    except BackendError as exc:
        metrics.upstream_error(backend, error_kind(exc))
        raise
    finally:
        aclose = getattr(deltas, "aclose", None)
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
