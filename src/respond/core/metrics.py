"""The metrics port: what the engine reports, with no metrics library behind it.

The engine calls a `Metrics` (a `typing.Protocol`); the Prometheus adapter
(`respond.api.metrics.PrometheusMetrics`) implements it, `NullMetrics` does nothing.  Every label
the port takes is from a bounded set: model names (as configured or as the upstream lists them),
backend names, statuses, item types, upstream names and replica URLs (from the configuration, without
credentials); never an id or a key.
"""

from __future__ import annotations

from typing import Protocol

from respond.core.types import Usage


class Metrics(Protocol):
    def first_token(self, model: str, backend: str, seconds: float) -> None:
        """Time from the start of generation to the first model delta."""
        ...

    def generated(self, model: str, backend: str, usage: Usage | None, seconds: float) -> None:
        """A generation finished: its token counts and how long it streamed."""
        ...

    def upstream_error(self, backend: str, kind: str) -> None:
        """`kind`: http_4xx, http_5xx or transport."""
        ...

    def response_finished(self, model: str, backend: str, status: str, seconds: float) -> None: ...

    def tool_call(self, tool_type: str, outcome: str) -> None: ...

    def upstream_request(self, upstream: str, replica: str, outcome: str, seconds: float) -> None:
        """One request to a replica of an upstream: `outcome` ok (its first delta came; `seconds` to it),
        or what failed: connect, timeout, http_4xx, http_5xx, transport, stream (after the first delta)."""
        ...

    def upstream_failover(self, upstream: str, replica: str) -> None:
        """A request that failed on `replica` before its first delta is retried on another one."""
        ...

    def upstream_state(self, upstream: str, replica: str, up: bool) -> None: ...


class NullMetrics:
    """The default: reports go nowhere."""

    def first_token(self, model: str, backend: str, seconds: float) -> None:
        return None

    def generated(self, model: str, backend: str, usage: Usage | None, seconds: float) -> None:
        return None

    def upstream_error(self, backend: str, kind: str) -> None:
        return None

    def response_finished(self, model: str, backend: str, status: str, seconds: float) -> None:
        return None

    def tool_call(self, tool_type: str, outcome: str) -> None:
        return None

    def upstream_request(self, upstream: str, replica: str, outcome: str, seconds: float) -> None:
        return None

    def upstream_failover(self, upstream: str, replica: str) -> None:
        return None

    def upstream_state(self, upstream: str, replica: str, up: bool) -> None:
        return None
