"""Stream events of reasoning, client-run calls, compaction, audio and hosted tools (SDK names)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from respond.protocol.shapes.parts import SummaryTextPart
from respond.protocol.shapes.values import JSONObject


class _At(TypedDict):
    sequence_number: int
    item_id: str
    output_index: int


class ReasoningTextDeltaEvent(_At):
    type: Literal["response.reasoning_text.delta"]
    content_index: int
    delta: str


class ReasoningTextDoneEvent(_At):
    type: Literal["response.reasoning_text.done"]
    content_index: int
    text: str


class ReasoningSummaryPartAddedEvent(_At):
    type: Literal["response.reasoning_summary_part.added"]
    summary_index: int
    part: SummaryTextPart


class ReasoningSummaryPartDoneEvent(_At):
    type: Literal["response.reasoning_summary_part.done"]
    summary_index: int
    part: SummaryTextPart


class ReasoningSummaryTextDeltaEvent(_At):
    type: Literal["response.reasoning_summary_text.delta"]
    summary_index: int
    delta: str


class ReasoningSummaryTextDoneEvent(_At):
    type: Literal["response.reasoning_summary_text.done"]
    summary_index: int
    text: str


class FunctionCallArgumentsDeltaEvent(_At):
    type: Literal["response.function_call_arguments.delta"]
    delta: str


class FunctionCallArgumentsDoneEvent(_At):
    type: Literal["response.function_call_arguments.done"]
    arguments: str
    name: NotRequired[str]  # Open Responses carries it; the SDK ignores it


class CustomToolCallInputDeltaEvent(_At):
    type: Literal["response.custom_tool_call_input.delta"]
    delta: str


class CustomToolCallInputDoneEvent(_At):
    type: Literal["response.custom_tool_call_input.done"]
    input: str


class _Command(TypedDict):
    sequence_number: int
    output_index: int
    command_index: int


class ShellCallCommandAddedEvent(_Command):
    type: Literal["response.shell_call_command.added"]
    command: str


class ShellCallCommandDeltaEvent(_Command):
    type: Literal["response.shell_call_command.delta"]
    delta: str


class ShellCallCommandDoneEvent(_Command):
    type: Literal["response.shell_call_command.done"]
    command: str


class ShellCallOutputContentDeltaEvent(_At):
    type: Literal["response.shell_call_output_content.delta"]
    command_index: int
    delta: JSONObject  # {stdout?, stderr?}


class ShellCallOutputContentDoneEvent(_At):
    type: Literal["response.shell_call_output_content.done"]
    command_index: int
    output: list[JSONObject]


class CompactionCompactingEvent(_At):
    type: Literal["response.compaction.compacting"]


class AudioDeltaEvent(TypedDict):
    type: Literal["response.audio.delta", "response.audio.transcript.delta"]
    sequence_number: int
    delta: str


class AudioDoneEvent(TypedDict):
    type: Literal["response.audio.done", "response.audio.transcript.done"]
    sequence_number: int


class ToolProgressEvent(_At):
    """A hosted tool's own event about its item (`response.<tool>_call.searching`, ...): the tool
    declares its event types and their further fields; the engine fills in where the item is."""

    type: str


ReasoningEvent = (ReasoningTextDeltaEvent | ReasoningTextDoneEvent | ReasoningSummaryPartAddedEvent
                  | ReasoningSummaryPartDoneEvent | ReasoningSummaryTextDeltaEvent | ReasoningSummaryTextDoneEvent)
CallEvent = (FunctionCallArgumentsDeltaEvent | FunctionCallArgumentsDoneEvent | CustomToolCallInputDeltaEvent
             | CustomToolCallInputDoneEvent | ShellCallCommandAddedEvent | ShellCallCommandDeltaEvent
             | ShellCallCommandDoneEvent | ShellCallOutputContentDeltaEvent | ShellCallOutputContentDoneEvent)
