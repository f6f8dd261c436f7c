"""Aggregates for the dashboard's charts: requests and tokens per time bucket by model, latency
percentiles by model.  Pure functions over response summaries; the SVG is drawn by the dashboard."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TOP_MODELS = 6  # the rest is summed as "other", so a chart stays readable


@dataclass(slots=True)
class Activity:
    since: int
    step: int  # seconds per bucket
    buckets: int
    requests: dict[str, list[int]] = field(default_factory=dict)  # model -> count per bucket
    tokens: dict[str, list[int]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> p50/p90/p99 seconds
    sampled: int = 0


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def activity(rows: list[dict[str, Any]], since: int, buckets: int) -> Activity:
    now = int(time.time())
    step = max(1, -(-(now - since) // buckets))
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.get("model"))] = counts.get(str(r.get("model")), 0) + 1
    top = {m for m, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:TOP_MODELS]}
    out = Activity(since=since, step=step, buckets=buckets, sampled=len(rows))
    waits: dict[str, list[float]] = {}
    for r in rows:
        model = str(r.get("model")) if str(r.get("model")) in top else "other"
        i = min(buckets - 1, max(0, (int(r["created_at"]) - since) // step))
        out.requests.setdefault(model, [0] * buckets)[i] += 1
        usage = r.get("usage") or {}
        tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        out.tokens.setdefault(model, [0] * buckets)[i] += tokens
        if r.get("completed_at"):
            waits.setdefault(model, []).append(float(r["completed_at"]) - float(r["created_at"]))
    for model, values in waits.items():
        values.sort()
        out.latency[model] = {q: percentile(values, p) for q, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
    return out
