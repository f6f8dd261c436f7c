"""What `include` reveals of a stored response's output items: GET, a drained run's answer, and every
replay of its events (`GET ?stream=true`, a background stream), whether they were stored as they
streamed or are rebuilt from a response that was not streamed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from respond.protocol.vocabulary import Vocabulary


def with_include(response: dict[str, Any], include: Sequence[str] | None, vocabulary: Vocabulary) -> dict[str, Any]:
    keep = frozenset(include or [])
    response["output"] = [vocabulary.strip(it, keep) for it in response.get("output", [])]
    return response


def shown_event(event: dict[str, Any], include: frozenset[str] | set[str], vocabulary: Vocabulary) -> dict[str, Any]:
    """A stored or replayed event as a client that asked for `include` sees it."""
    if "item" in event and isinstance(event["item"], dict):
        event = {**event, "item": vocabulary.strip(event["item"], include)}
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        event = {**event, "response": {**response, "output": [
            vocabulary.strip(it, include) for it in response["output"]]}}
    return event
