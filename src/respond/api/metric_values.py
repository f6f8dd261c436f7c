"""Metric values kept in plain Python for a single process; prometheus_client is imported by the first
scrape of `/metrics` only (its exposition module alone loads wsgiref, http.server, gzip and urllib:
~1.1 MB resident with the rest of the package, bench/memory.py).

`Counter`, `Gauge` and `Histogram` take prometheus_client's constructor arguments and hand out
children with its `inc`/`set`/`observe`; `LocalCollector` turns them into prometheus_client's
`Metric` families, with the samples prometheus_client's own metrics would have given (`_total` and
`_created` of a counter, a histogram's cumulative `_bucket`s, `_count`, `_sum` and `_created`), so the
exposition is the library's, unchanged.  Updates come from the event loop's thread only (no lock).
Several worker processes (`PROMETHEUS_MULTIPROC_DIR`) use prometheus_client's own metrics: their
values go through its shared files (api/metrics.py)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

INF = float("inf")


class _Value:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _CounterValue(_Value):
    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class _HistogramValue:
    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bound >= amount (the last is +Inf)


class _Metric:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), registry: Any = None,
                 **_options: Any) -> None:  # multiprocess_mode: for prometheus_client's shared files only
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.children: dict[tuple[str, ...], Any] = {}
        if registry is not None:
            registry.register(self)
        if not self.labelnames:
            self.children[()] = self._new()

    def _new(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: str) -> Any:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(values)}")
        key = tuple(str(v) for v in values)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = self._new()
        return child


class Counter(_Metric):
    kind = "counter"

    def _new(self) -> _CounterValue:
        return _CounterValue()

    def inc(self, amount: float = 1) -> None:
        self.children[()].inc(amount)


class Gauge(_Metric):
    kind = "gauge"

    def _new(self) -> _Value:
        return _Value()

    def set(self, value: float) -> None:
        self.children[()].set(value)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), registry: Any = None,
                 buckets: Sequence[float] = (), **options: Any) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds) or not bounds:
            raise ValueError("Buckets not in sorted order")
        self.bounds = tuple(bounds if bounds[-1] == INF else [*bounds, INF])
        super().__init__(name, documentation, labelnames, registry, **options)

    def _new(self) -> _HistogramValue:
        return _HistogramValue(self.bounds)

    def observe(self, amount: float) -> None:
        self.children[()].observe(amount)


class LocalRegistry:
    """The metrics of one app (tests build many apps in one process), in the order they were made."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def register(self, metric: _Metric) -> None:
        self.metrics.append(metric)


def families(metrics: list[_Metric], created: bool = True) -> Iterator[Any]:
    """prometheus_client `Metric` families of `metrics` (imported here: at the first scrape)."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.utils import floatToGoString

    for m in metrics:
        family = Metric(m.name, m.documentation, m.kind)
        for key, child in list(m.children.items()):
            labels = dict(zip(m.labelnames, key, strict=True))
            if isinstance(child, _HistogramValue):
                acc = 0
                for bound, n in zip(child.bounds, child.counts, strict=True):
                    acc += n
                    le = floatToGoString(bound)  # type: ignore[no-untyped-call, unused-ignore]
                    family.add_sample(f"{m.name}_bucket", {**labels, "le": le}, float(acc))
                family.add_sample(f"{m.name}_count", labels, float(acc))
                family.add_sample(f"{m.name}_sum", labels, child.sum)
            else:
                family.add_sample(m.name + ("_total" if m.kind == "counter" else ""), labels, child.value)
            if created and m.kind != "gauge":
                family.add_sample(f"{m.name}_created", labels, child.created)
        yield family


def exposition(registry: LocalRegistry) -> bytes:
    """The text prometheus_client's `generate_latest` writes for these metrics."""
    from prometheus_client import generate_latest, metrics

    class Collector:
        def collect(self) -> Iterator[Any]:
            return families(registry.metrics, created=getattr(metrics, "_use_created", True))

    return bytes(generate_latest(Collector()))  # type: ignore[arg-type, unused-ignore]
