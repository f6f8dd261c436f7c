"""The metrics of one process, kept in plain Python (api/metric_values.py), expose what prometheus_client's
own metrics expose for the same updates: the same families, samples, labels and values, `_created` included."""

from __future__ import annotations

import re

import prometheus_client as prom
import pytest

from respond.api import metric_values as local
from respond.api.metrics import LATENCY

CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


def _exercise(kinds: tuple[type, type, type], registry: object) -> None:
    counter, gauge, histogram = kinds
    c = counter("t_requests", "Requests", ["route", "status"], registry=registry)
    c.labels("/v1/responses", "200").inc()
    c.labels("/v1/responses", "200").inc(2.5)
    c.labels("/health", "503").inc(0)
    counter("t_unused", "Never moved", ["kind"], registry=registry)
    plain = counter("t_plain", "No labels", registry=registry)
    plain.inc(4)
    g = gauge("t_depth", "Depth", registry=registry, multiprocess_mode="max")
    g.set(7)
    gauge("t_up", "Up", ["replica"], registry=registry, multiprocess_mode="livemin").labels("a").set(1)
    h = histogram("t_seconds", "Latency", ["route"], buckets=LATENCY, registry=registry)
    for v in (0.001, 0.005, 0.0051, 0.3, 299.0, 301.0, 1e9):
        h.labels("/v1/responses").observe(v)
    histogram("t_speed", "Speed", buckets=(1, 2, float("inf")), registry=registry).observe(1.5)


def _text(body: bytes) -> str:
    return CREATED.sub(r"\1 T", body.decode())  # creation times differ by the microseconds between the two


def test_same_exposition_as_prometheus_client() -> None:
    theirs = prom.CollectorRegistry()
    _exercise((prom.Counter, prom.Gauge, prom.Histogram), theirs)
    ours = local.LocalRegistry()
    _exercise((local.Counter, local.Gauge, local.Histogram), ours)
    expected = _text(prom.generate_latest(theirs))
    assert "t_requests_created{" in expected and "t_seconds_bucket{le=\"+Inf\"" in expected
    assert _text(local.exposition(ours)) == expected


def test_refused_as_prometheus_client_refuses() -> None:
    reg = local.LocalRegistry()
    c = local.Counter("t_c", "C", ["a"], registry=reg)
    with pytest.raises(ValueError, match="non-negative"):
        c.labels("x").inc(-1)
    with pytest.raises(ValueError):
        c.labels("x", "y")
    with pytest.raises(ValueError):
        local.Histogram("t_h", "H", buckets=(2, 1), registry=reg)
