"""The engine's reports (api/metrics.py's port methods) update the series they updated when each looked its
child up by its labels: the children a (model, backend) pair uses are looked up once, and a series still
appears in the exposition only once it is first updated."""

from __future__ import annotations

import re
from typing import Any

from respond.api.metrics import MAX_MODELS, PrometheusMetrics
from respond.core.types import Usage

CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


class ByLabels(PrometheusMetrics):
    """The port as it was: every update looks its child up by its labels."""

    def first_token(self, model: str, backend: str, seconds: float) -> None:
        self.child(self.ttft, self.model(model), backend).observe(seconds)

    def generated(self, model: str, backend: str, usage: Usage | None, seconds: float) -> None:
        m = self.model(model)
        u = usage or Usage()
        for kind, n in (("input", u.input_tokens), ("output", u.output_tokens), ("cached", u.cached_tokens),
                        ("reasoning", u.reasoning_tokens)):
            self.child(self.tokens, m, backend, kind).inc(n)
        self.child(self.gen_seconds, m, backend).inc(seconds)
        if u.output_tokens and seconds > 0:
            self.child(self.speed, m, backend).observe(u.output_tokens / seconds)
        self.child(self.cache, backend, "hit" if u.cached_tokens else "miss").inc()

    def response_finished(self, model: str, backend: str, status: str, seconds: float) -> None:
        m = self.model(model)
        self.child(self.responses, m, backend, status).inc()
        self.child(self.duration, m, backend).observe(seconds)


def _report(m: Any) -> None:
    m.response_finished("early", "up", "failed", 0.01)  # failed before its first delta: no ttft, no tokens
    for i in range(3):
        m.first_token("m1", "up", 0.02 * (i + 1))
        m.generated("m1", "up", Usage(input_tokens=5, output_tokens=i, cached_tokens=2 * (i == 2)), 0.1)
        m.response_finished("m1", "up", "completed" if i else "incomplete", 0.2)
    m.generated("m1", "other-backend", None, 0.0)
    for i in range(MAX_MODELS + 3):  # past MAX_MODELS, names are `other`
        m.first_token(f"model-{i}", "up", 0.5)
        m.response_finished(f"model-{i}", "up", "completed", 0.5)
    m.first_token("model-70", "up", 0.5)


def _exposition(m: PrometheusMetrics) -> str:
    return CREATED.sub(r"\1 T", m.render(0, 0, 0.0).decode())


def test_pairs_update_the_series_lookups_by_label_did() -> None:
    cached, by_labels = PrometheusMetrics(), ByLabels()
    _report(cached)
    _report(by_labels)
    text = _exposition(cached)
    assert text == _exposition(by_labels)
    assert 'respond_prompt_cache_total{backend="up",result="hit"} 1.0' in text
    assert 'respond_generation_tokens_per_second_count{backend="up",model="m1"} 2.0' in text  # not for 0 tokens
    assert 'model="early"' in text and 'respond_time_to_first_token_seconds_count{backend="up",model="early"}' \
        not in text
    assert 'respond_time_to_first_token_seconds_count{backend="up",model="other"} 6.0' in text  # 62..66 and 70
