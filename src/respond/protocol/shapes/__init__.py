"""The wire shapes of the Responses API as `TypedDict`s: Response, items, content parts, stream events.

The names follow the `openai` SDK's (`ResponseTextDeltaEvent` -> `OutputTextDeltaEvent`,
`Response` -> `ResponseDict`, `ResponseOutputMessage` -> `OutputMessage` ...).  Why plain dicts
typed by TypedDicts and not pydantic models or msgspec Structs: building and serializing them is
the cheapest of the three on the hot path (one event per token), see bench/typed_shapes.py and
BENCHMARKS.md; the SDK's pydantic models stay what tests validate the wire against.
"""

from respond.protocol.shapes.events import (
    ContentPartAddedEvent,
    ContentPartDoneEvent,
    ErrorEvent,
    ItemEvent,
    LifecycleType,
    OutputItemAddedEvent,
    OutputItemDoneEvent,
    OutputTextAnnotationAddedEvent,
    OutputTextDeltaEvent,
    OutputTextDoneEvent,
    PartEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ResponseLifecycleEvent,
    StreamEvent,
)
from respond.protocol.shapes.events_calls import (
    AudioDeltaEvent,
    AudioDoneEvent,
    CallEvent,
    CompactionCompactingEvent,
    CustomToolCallInputDeltaEvent,
    CustomToolCallInputDoneEvent,
    FunctionCallArgumentsDeltaEvent,
    FunctionCallArgumentsDoneEvent,
    ReasoningEvent,
    ReasoningSummaryPartAddedEvent,
    ReasoningSummaryPartDoneEvent,
    ReasoningSummaryTextDeltaEvent,
    ReasoningSummaryTextDoneEvent,
    ReasoningTextDeltaEvent,
    ReasoningTextDoneEvent,
    ShellCallCommandAddedEvent,
    ShellCallCommandDeltaEvent,
    ShellCallCommandDoneEvent,
    ShellCallOutputContentDeltaEvent,
    ShellCallOutputContentDoneEvent,
    ToolProgressEvent,
)
from respond.protocol.shapes.items import (
    ApplyPatchCallItem,
    ApplyPatchCallOutputItem,
    CallItem,
    CallOutputItem,
    CompactionItem,
    ComputerCallItem,
    ComputerCallOutputItem,
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    ItemReference,
    LocalShellCallItem,
    LocalShellCallOutputItem,
    MessageItem,
    OutputItem,
    OutputMessage,
    ReasoningItem,
    ShellCallItem,
    ShellCallOutputItem,
    Status,
    ToolItem,
    UpstreamState,
)
from respond.protocol.shapes.objects import (
    CompactedDict,
    ConversationDict,
    Deleted,
    InputTokensCount,
    ListPage,
)
from respond.protocol.shapes.parts import (
    Annotation,
    InputPart,
    Logprob,
    MessagePart,
    OutputPart,
    OutputTextPart,
    ReasoningTextPart,
    RefusalPart,
    StreamedPart,
    SummaryTextPart,
)
from respond.protocol.shapes.response import (
    ErrorDict,
    IncompleteDetails,
    ResponseDict,
    ResponseStatus,
    TextConfig,
    UsageDict,
)
from respond.protocol.shapes.values import JSON, JSONObject

__all__ = [
    "JSON", "Annotation", "ApplyPatchCallItem", "ApplyPatchCallOutputItem", "AudioDeltaEvent", "AudioDoneEvent",
    "CallEvent", "CallItem", "CompactedDict", "InputTokensCount", "CallOutputItem", "CompactionCompactingEvent", "CompactionItem", "ComputerCallItem", "ConversationDict", "Deleted",
    "ComputerCallOutputItem", "ContentPartAddedEvent", "ContentPartDoneEvent", "CustomToolCallInputDeltaEvent",
    "CustomToolCallInputDoneEvent", "CustomToolCallItem", "CustomToolCallOutputItem", "ErrorDict", "ErrorEvent",
    "FunctionCallArgumentsDeltaEvent", "FunctionCallArgumentsDoneEvent", "FunctionCallItem", "FunctionCallOutputItem",
    "IncompleteDetails", "InputItem", "InputPart", "ItemEvent", "ItemReference", "JSONObject", "LifecycleType", "LocalShellCallItem",
    "ListPage", "LocalShellCallOutputItem", "Logprob", "MessageItem", "MessagePart", "OutputItem", "OutputItemAddedEvent",
    "OutputItemDoneEvent", "OutputMessage", "OutputPart", "OutputTextAnnotationAddedEvent", "OutputTextDeltaEvent",
    "OutputTextDoneEvent", "OutputTextPart", "PartEvent", "ReasoningEvent", "ReasoningItem",
    "ReasoningSummaryPartAddedEvent", "ReasoningSummaryPartDoneEvent", "ReasoningSummaryTextDeltaEvent",
    "ReasoningSummaryTextDoneEvent", "ReasoningTextDeltaEvent", "ReasoningTextDoneEvent", "ReasoningTextPart",
    "RefusalDeltaEvent", "RefusalDoneEvent", "RefusalPart", "ResponseDict", "ResponseLifecycleEvent",
    "ResponseStatus", "ShellCallCommandAddedEvent", "ShellCallCommandDeltaEvent", "ShellCallCommandDoneEvent",
    "ShellCallItem", "ShellCallOutputContentDeltaEvent", "ShellCallOutputContentDoneEvent", "ShellCallOutputItem",
    "Status", "StreamEvent", "StreamedPart", "SummaryTextPart", "TextConfig", "ToolItem", "ToolProgressEvent", "UpstreamState",
    "UsageDict",
]
