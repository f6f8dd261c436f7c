"""Stream events: what `POST /v1/responses` with `stream: true` sends, each a `TypedDict` (SDK names).

Every event carries `type` and `sequence_number` (numbered in one place: engine/stream/events.py).
`StreamEvent` is the union of every event Respond sends; a hosted tool's own events are
`ToolProgressEvent`s (their types are declared by the tool, not here).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from respond.protocol.shapes.events_calls import (
    AudioDeltaEvent,
    AudioDoneEvent,
    CallEvent,
    CompactionCompactingEvent,
    ReasoningEvent,
    ToolProgressEvent,
)
from respond.protocol.shapes.items import OutputItem, ToolItem
from respond.protocol.shapes.parts import Annotation, Logprob, StreamedPart
from respond.protocol.shapes.response import ResponseDict

LifecycleType = Literal["response.queued", "response.created", "response.in_progress", "response.completed",
                        "response.failed", "response.incomplete"]


class ResponseLifecycleEvent(TypedDict):
    """`response.created`, `.in_progress`, `.queued` and the terminal ones: a snapshot of the response."""

    type: LifecycleType
    sequence_number: int
    response: ResponseDict


class OutputItemAddedEvent(TypedDict):
    type: Literal["response.output_item.added"]
    sequence_number: int
    output_index: int
    item: OutputItem | ToolItem


class OutputItemDoneEvent(TypedDict):
    type: Literal["response.output_item.done"]
    sequence_number: int
    output_index: int
    item: OutputItem | ToolItem


class _Part(TypedDict):
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int


class ContentPartAddedEvent(_Part):
    type: Literal["response.content_part.added"]
    part: StreamedPart


class ContentPartDoneEvent(_Part):
    type: Literal["response.content_part.done"]
    part: StreamedPart


class OutputTextDeltaEvent(_Part):
    type: Literal["response.output_text.delta"]
    delta: str
    logprobs: list[Logprob]


class OutputTextDoneEvent(_Part):
    type: Literal["response.output_text.done"]
    text: str
    logprobs: list[Logprob]


class OutputTextAnnotationAddedEvent(_Part):
    type: Literal["response.output_text.annotation.added"]
    annotation_index: int
    annotation: Annotation


class RefusalDeltaEvent(_Part):
    type: Literal["response.refusal.delta"]
    delta: str


class RefusalDoneEvent(_Part):
    type: Literal["response.refusal.done"]
    refusal: str


class ErrorEvent(TypedDict):
    type: Literal["error"]
    sequence_number: int
    message: str
    code: NotRequired[str | None]
    param: NotRequired[str | None]


ItemEvent = OutputItemAddedEvent | OutputItemDoneEvent
PartEvent = (ContentPartAddedEvent | ContentPartDoneEvent | OutputTextDeltaEvent | OutputTextDoneEvent
             | OutputTextAnnotationAddedEvent | RefusalDeltaEvent | RefusalDoneEvent)
StreamEvent = (ResponseLifecycleEvent | ItemEvent | PartEvent | ReasoningEvent | CallEvent | CompactionCompactingEvent
               | AudioDeltaEvent | AudioDoneEvent | ErrorEvent | ToolProgressEvent)
"""Every event of a response stream."""
