"""Items: what `input`, `output`, `input_items` and conversations hold (the SDK's item types as reference).

`OutputItem` is every item the engine itself writes into `output`; a hosted tool's items are
`ToolItem`s, typed by the tool that makes them (protocol names no hosted tool).  The private
`_upstream` key of a reasoning item (protocol.items.UPSTREAM_STATE) never reaches a client:
`strip_for_include` removes it.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from respond.protocol.shapes.parts import (
    InputPart,
    MessagePart,
    OutputPart,
    ReasoningTextPart,
    SummaryTextPart,
)
from respond.protocol.shapes.values import JSONObject

Status = Literal["in_progress", "completed", "incomplete"]
Role = Literal["user", "assistant", "system", "developer"]


class OutputMessage(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    status: Status
    content: list[OutputPart]


class MessageItem(TypedDict):
    """Any message, as stored and listed: an input message, or an output one read back."""

    id: str
    type: Literal["message"]
    role: Role
    status: Status
    content: list[MessagePart]


class FunctionCallItem(TypedDict):
    id: str
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    status: Status
    namespace: NotRequired[str]


class FunctionCallOutputItem(TypedDict):
    id: str
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[InputPart]
    status: Status


class CustomToolCallItem(TypedDict):
    id: str
    type: Literal["custom_tool_call"]
    call_id: str
    name: str
    input: str
    status: Status
    namespace: NotRequired[str]


class CustomToolCallOutputItem(TypedDict):
    id: str
    type: Literal["custom_tool_call_output"]
    call_id: str
    output: str | list[InputPart]
    status: Status


class UpstreamState(TypedDict):
    """What a /v1/responses upstream gave its reasoning item, sent back to it on later turns."""

    id: str | None
    encrypted_content: str


class ReasoningItem(TypedDict):
    id: str
    type: Literal["reasoning"]
    summary: list[SummaryTextPart]
    content: NotRequired[list[ReasoningTextPart]]
    encrypted_content: NotRequired[str | None]  # only with include reasoning.encrypted_content
    status: NotRequired[Status]
    _upstream: NotRequired[UpstreamState]  # private: never shown, never taken from a client


class CompactionItem(TypedDict):
    id: str
    type: Literal["compaction"]
    encrypted_content: str
    created_by: NotRequired[str]


class ShellAction(TypedDict):
    commands: list[str]
    timeout_ms: NotRequired[int]
    max_output_length: NotRequired[int]


class ShellCallItem(TypedDict):
    id: str
    type: Literal["shell_call"]
    call_id: str
    action: ShellAction
    status: Status


class ShellCallOutputItem(TypedDict):
    id: str
    type: Literal["shell_call_output"]
    call_id: str
    output: list[JSONObject]  # {stdout, stderr, outcome}
    status: Status
    max_output_length: NotRequired[int | None]


class LocalShellAction(TypedDict):
    type: Literal["exec"]
    command: list[str]
    env: dict[str, str]
    working_directory: NotRequired[str]
    timeout_ms: NotRequired[int]
    user: NotRequired[str]


class LocalShellCallItem(TypedDict):
    id: str
    type: Literal["local_shell_call"]
    call_id: str
    action: LocalShellAction
    status: Status


class LocalShellCallOutputItem(TypedDict):
    id: str
    type: Literal["local_shell_call_output"]
    output: str
    status: NotRequired[Status]


class PatchOperation(TypedDict):
    type: Literal["create_file", "update_file", "delete_file"]
    path: str
    diff: NotRequired[str]  # not on delete_file


class ApplyPatchCallItem(TypedDict):
    id: str
    type: Literal["apply_patch_call"]
    call_id: str
    operation: PatchOperation
    status: Status


class ApplyPatchCallOutputItem(TypedDict):
    id: str
    type: Literal["apply_patch_call_output"]
    call_id: str
    status: Literal["completed", "failed"]
    output: NotRequired[str | None]


class ComputerCallItem(TypedDict):
    id: str
    type: Literal["computer_call"]
    call_id: str
    action: JSONObject  # click, type, screenshot...: passed to the client as the model wrote it
    pending_safety_checks: list[JSONObject]
    status: Status


class ComputerCallOutputItem(TypedDict):
    id: str
    type: Literal["computer_call_output"]
    call_id: str
    output: JSONObject  # {type: computer_screenshot, image_url?, file_id?}
    status: Status
    acknowledged_safety_checks: NotRequired[list[JSONObject]]


class ItemReference(TypedDict):
    type: Literal["item_reference"]
    id: str


class ToolItem(TypedDict):
    """A hosted tool's item, as the engine sees it: the tool that made it knows the rest."""

    id: str
    type: str
    status: NotRequired[str]


CallItem = (FunctionCallItem | CustomToolCallItem | ShellCallItem | LocalShellCallItem | ApplyPatchCallItem
            | ComputerCallItem)
"""A call the model made to a tool the client runs."""
CallOutputItem = (FunctionCallOutputItem | CustomToolCallOutputItem | ShellCallOutputItem | LocalShellCallOutputItem
                  | ApplyPatchCallOutputItem | ComputerCallOutputItem)
"""What the client ran for a call."""
OutputItem = OutputMessage | ReasoningItem | CallItem | CompactionItem
"""An item the engine writes into `output` itself."""
InputItem = MessageItem | ReasoningItem | CallItem | CallOutputItem | CompactionItem | ItemReference
"""An item a client may send (item references are resolved before they are stored)."""
