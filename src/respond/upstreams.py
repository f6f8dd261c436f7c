"""The configured upstreams (`[[upstreams]]` of a --config file) as backends: part of the composition root.

Each replica URL becomes one backend built through the backends registry: kind "chat" builds
`openai_compat`, kind "responses" builds `openai_responses`, with the upstream's key, its models,
its `UpstreamLimits` (the --upstream-* flags, overridden per upstream) and, verbatim, the keys of its
`[upstreams.options]` table (a profile, say).  The replicas of one upstream are wrapped in one
`ReplicaSet` (engine/execution/replicas.py), which balances and fails over between them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypedDict

from respond import backends
from respond.backends.upstream_http import UpstreamLimits
from respond.config import Settings
from respond.config_file import UpstreamConfig, replica_label
from respond.core.metrics import Metrics
from respond.core.ports import ModelBackend
from respond.engine.execution.replicas import Health, ReplicaSet


class ChatDefaults(TypedDict):
    """What the flags say to every chat-completions upstream (keyword options of its backend)."""

    reasoning_field: str
    file_parts: bool


def chat_defaults(settings: Settings) -> ChatDefaults:
    """What the flags say to every chat-completions upstream (an upstream's options override it)."""
    return {"reasoning_field": settings.upstream_reasoning_field, "file_parts": settings.upstream_file_parts == "on"}


def build_upstream(up: UpstreamConfig, limits: UpstreamLimits, settings: Settings,
                   metrics: Metrics | None = None) -> ReplicaSet:
    fields: dict[str, Any] = {k: (int(v) if k == "pool" else v) for k, v in up.limits.items()}
    own = dataclasses.replace(limits, **fields)
    defaults: Mapping[str, object] = chat_defaults(settings) if up.kind == "chat" else {}
    replicas: list[tuple[str, ModelBackend]] = []
    for url in up.urls:
        options = {**defaults, "base_url": url, "api_key": up.api_key, "models": up.models, "limits": own,
                   **up.options}
        try:
            replicas.append((replica_label(url), backends.create(up.backend, **options)))
        except (TypeError, ValueError) as exc:  # an option the backend does not take, or a bad value
            raise ValueError(f"upstreams '{up.name}' ({up.kind}): the {up.backend} backend refused its options: "
                             f"{exc}") from None
    health = Health(backoff=up.health.get("backoff_s", 2.0), interval=up.health.get("health_interval_s", 1.0),
                    models_refresh=up.health.get("models_refresh_s", 60.0))
    return ReplicaSet(up.name, replicas, kind=up.kind, models=up.models, health=health, metrics=metrics)


def build_upstreams(settings: Settings, limits: UpstreamLimits, metrics: Metrics | None = None) -> list[ReplicaSet]:
    return [build_upstream(up, limits, settings, metrics) for up in settings.upstreams]
