"""What a scripted reply holds (queued with ``POST /_control/replies`` or ``ScriptedUpstream.replies``).

One shape serves both modes of the scripted upstream: chat completions (upstream.py) and the
stateless Responses server (responses_upstream.py); each reads the keys it knows.
"""

from __future__ import annotations

from typing import TypedDict

from respond.protocol.shapes.values import JSON, JSONObject

# A usage object as an upstream returns it: token counts and their detail objects
# (`prompt_tokens_details`, `input_tokens_details`, ...).
Usage = dict[str, int | dict[str, int]]


class ScriptedCall(TypedDict, total=False):
    """A function call: chat `tool_calls`, or a Responses `function_call` item."""

    name: str
    arguments: str  # default "{}"
    id: str  # the call id; default call_<n>_<i>


class ScriptedCustomCall(TypedDict, total=False):
    """A Responses `custom_tool_call` item."""

    name: str
    input: str
    id: str


class ScriptedError(TypedDict, total=False):
    """An HTTP error answered instead of the reply."""

    status: int  # default 500
    message: str
    code: str | None


class ScriptedFailure(TypedDict, total=False):
    """A Responses stream that ends with `response.failed` after the content."""

    message: str
    code: str


class Reply(TypedDict, total=False):
    content: str
    refusal: str
    tool_calls: list[ScriptedCall]
    custom_calls: list[ScriptedCustomCall]
    reasoning: str
    reasoning_field: str  # chat: "reasoning_content" (vLLM, DeepSeek) or "reasoning" (Ollama)
    reasoning_summary: str
    encrypted_content: str
    finish_reason: str
    usage: Usage
    cached_tokens: int
    no_usage: bool
    error: ScriptedError
    fail: ScriptedFailure
    cut: bool
    chunks: int
    chunk_delay: float
    no_deltas: bool
    max_messages: int


class TokenAlternative(TypedDict):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(TokenAlternative):
    top_logprobs: list[TokenAlternative]


class ChoiceLogprobs(TypedDict):
    content: list[TokenLogprob]


class LogprobsField(TypedDict):
    """What a chat-completions chunk's choice carries when the request asked for logprobs."""

    logprobs: ChoiceLogprobs


# What the scripted upstream reads of the requests it receives (it records them whole).
class ChatMessageIn(TypedDict, total=False):
    role: str
    content: str | list[JSONObject] | None  # parts are recorded, never read


class ChatStreamOptions(TypedDict, total=False):
    include_usage: bool


class ChatRequest(TypedDict, total=False):
    model: str
    messages: list[ChatMessageIn]
    stream: bool
    stream_options: ChatStreamOptions | None
    logprobs: bool
    top_logprobs: int | None


class CacheOptionsIn(TypedDict, total=False):
    prewarm: bool


class ResponsesRequest(TypedDict, total=False):
    model: str
    input: str | list[JSONObject] | None  # items are recorded, never read
    stream: bool
    store: bool
    previous_response_id: str | None
    conversation: JSON
    include: list[str] | None
    prompt_cache_options: CacheOptionsIn | None


class ChunkBase(TypedDict):
    """The keys every chat-completions answer (and chunk) of one request shares."""

    id: str
    created: int
    model: str
