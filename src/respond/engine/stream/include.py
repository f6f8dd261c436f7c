"""What `include` reveals of a stored response's output items: GET, a drained run's answer, and every
replay of its events (`GET ?stream=true`, a background stream), whether they were stored as they
streamed or are rebuilt from a response that was not streamed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from respond.protocol.shapes import OutputItem, OutputItemAddedEvent, ResponseDict, StreamEvent
from respond.protocol.vocabulary import Vocabulary


def with_include(response: ResponseDict, include: Sequence[str] | None, vocabulary: Vocabulary) -> ResponseDict:
    keep = frozenset(include or [])
    response["output"] = [cast("OutputItem", vocabulary.strip(cast("dict[str, Any]", it), keep))
                          for it in response.get("output", [])]
    return response


def shown_event(event: StreamEvent, include: frozenset[str] | set[str], vocabulary: Vocabulary) -> StreamEvent:
    """A stored or replayed event as a client that asked for `include` sees it."""
    if event["type"] in ("response.output_item.added", "response.output_item.done"):
        item = cast("OutputItemAddedEvent", event)["item"]
        return cast("StreamEvent", {**event, "item": vocabulary.strip(cast("dict[str, Any]", item), include)})
    response = event.get("response")  # a lifecycle event's
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        event = cast("StreamEvent", {**event, "response": {**response, "output": [
            vocabulary.strip(it, include) for it in response["output"]]}})
    return event
