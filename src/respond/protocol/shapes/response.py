"""The Response object: every field of the SDK's `Response` and of Open Responses' ResponseResource.

`ResponseDict` is what `protocol.response.new_response` builds and what every lifecycle event
(`response.created` ... `response.completed`) carries a snapshot of.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from respond.protocol.params import PromptParam
from respond.protocol.shapes.items import OutputItem, ToolItem
from respond.protocol.shapes.values import JSON, JSONObject

ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "incomplete", "cancelled"]


class InputTokensDetails(TypedDict):
    cached_tokens: int
    cache_write_tokens: int


class OutputTokensDetails(TypedDict):
    reasoning_tokens: int


class UsageDict(TypedDict):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ErrorDict(TypedDict):
    code: str
    message: str


class IncompleteDetails(TypedDict):
    reason: str  # max_output_tokens | content_filter | ...


class ConversationRef(TypedDict):
    id: str


class ReasoningConfig(TypedDict):
    effort: str | None
    summary: str | None
    context: NotRequired[str]  # the effective reasoning context, when the request set one
    mode: NotRequired[str]


class TextConfig(TypedDict):
    format: JSONObject  # {type: text} | {type: json_object} | {type: json_schema, name, schema, strict}
    verbosity: str | None  # null when the request sent null


class PromptCacheOptionsConfig(TypedDict):
    """The request's `prompt_cache_options` as applied (the API's defaults for what was not set)."""

    mode: str
    ttl: str
    comparison_response_id: str | None


class ImageConfig(TypedDict):
    context_compression: Literal["enabled", "disabled"]


class ModerationResult(TypedDict):
    """The SDK's `ModerationInputModerationResult` (and `...Output...`: the same fields)."""

    type: Literal["moderation_result"]
    model: str
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[Literal["text", "image"]]]


class ModerationError(TypedDict):
    """The SDK's `ModerationInputError`: a side that could not be (or was not) moderated."""

    type: Literal["error"]
    code: str
    message: str


class ModerationDict(TypedDict):
    """`Response.moderation`: the scores of the response's input and output."""

    input: ModerationResult | ModerationError
    output: ModerationResult | ModerationError


class ResponseDict(TypedDict):
    id: str
    object: Literal["response"]
    created_at: int
    status: ResponseStatus
    background: bool
    completed_at: int | None
    conversation: ConversationRef | None
    error: ErrorDict | None
    incomplete_details: IncompleteDetails | None
    instructions: JSON  # a string, or the input items of a prompt's instructions
    max_output_tokens: int | None
    max_tool_calls: int | None
    metadata: dict[str, str]
    model: str
    output: list[OutputItem | ToolItem]
    parallel_tool_calls: bool
    presence_penalty: float
    frequency_penalty: float
    previous_response_id: str | None
    prompt: PromptParam | None  # the request's, echoed
    prompt_cache_key: str | None
    prompt_cache_retention: str | None
    reasoning: ReasoningConfig
    safety_identifier: str | None
    service_tier: str
    store: bool
    temperature: float
    text: TextConfig
    tool_choice: JSON  # "auto" | "none" | "required" | {type, ...}
    tools: list[JSONObject]
    top_logprobs: int
    top_p: float
    truncation: str
    usage: UsageDict | None
    user: str | None
    # Fields of the SDK's Response that Respond echoes but has no feature behind.
    access_programs: JSONObject | None
    image: ImageConfig | None
    input_transformations: list[JSONObject] | None
    moderation: ModerationDict | None
    prompt_cache_diagnostics: JSONObject | None
    prompt_cache_options: PromptCacheOptionsConfig | None
    tool_usage: JSONObject | None
