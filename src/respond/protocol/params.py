"""The nested create parameters of SURFACE.md §2, each a strict pydantic model.

`CreateResponse` keeps these fields as plain dicts (the engine reads them so); its validators run
them through these models first, so every enum is checked and an unknown nested key or a bad
value is a 400 whose `param` names the full path (`reasoning.effort`, `text.verbosity`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic validates only typing_extensions' on 3.11
)

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict

from respond.protocol.errors import invalid
from respond.protocol.jsonvalue import ParsedJSON

CONTINUATION_ID_MAX = 128
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Reasoning(_Strict):
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # deprecated name of summary
    context: Literal["auto", "current_turn", "all_turns"] | None = None
    mode: str | None = None  # standard | pro | any string


class Text(_Strict):
    format: dict[str, ParsedJSON] | None = None  # checked where it is used (engine.generation.response_format)
    verbosity: Literal["low", "medium", "high"] | None = None


class StreamOptions(_Strict):
    include_obfuscation: bool | None = None


class BackgroundOptions(_Strict):
    completion_window: Literal["soonest", "2h", "8h"] | None = None
    # bounded: it is stored with the queued job (the SDK documents no limit)
    continuation_id: str | None = Field(default=None, min_length=1, max_length=CONTINUATION_ID_MAX)


class ContextManagement(_Strict):
    type: Literal["compaction"]
    compact_threshold: int | None = Field(default=None, ge=0)


class Image(_Strict):
    context_compression: Literal["auto", "enabled", "disabled"] | None = None


class ModerationMode(_Strict):
    mode: Literal["score", "block"] | None = None


class ModerationPolicy(_Strict):
    input: ModerationMode | None = None
    output: ModerationMode | None = None


class Moderation(_Strict):
    model: str
    policy: ModerationPolicy | None = None


class Prompt(_Strict):
    id: str = Field(min_length=1)
    version: str | None = None
    variables: dict[str, str | dict[str, ParsedJSON]] | None = None


class PromptCacheOptions(_Strict):
    comparison_response_id: str | None = None
    mode: Literal["implicit", "explicit"] | None = None
    prewarm: bool | None = None
    ttl: Literal["30m", "12h"] | None = None


class AccessPrograms(_Strict):
    cyber: Literal["standard", "daybreak_blue", "daybreak_red"] | None = None


# The same parameters as `CreateResponse` keeps them once validated: dicts, typed.  The models above
# check them first (an unknown key or a bad value is a 400), so these only say what a valid one holds.
class ReasoningParam(TypedDict, total=False):
    effort: Effort | None
    summary: Literal["auto", "concise", "detailed"] | None
    generate_summary: Literal["auto", "concise", "detailed"] | None
    context: Literal["auto", "current_turn", "all_turns"] | None
    mode: str | None


class TextParam(TypedDict, total=False):
    format: dict[str, ParsedJSON] | None  # checked where it is used (engine.generation.response_format)
    verbosity: Literal["low", "medium", "high"] | None


class StreamOptionsParam(TypedDict, total=False):
    include_obfuscation: bool | None


class BackgroundOptionsParam(TypedDict, total=False):
    completion_window: Literal["soonest", "2h", "8h"] | None
    continuation_id: str | None


class ContextManagementParam(TypedDict):
    type: Literal["compaction"]
    compact_threshold: NotRequired[int | None]


class ImageParam(TypedDict, total=False):
    context_compression: Literal["auto", "enabled", "disabled"] | None


class ModerationModeParam(TypedDict, total=False):
    mode: Literal["score", "block"] | None


class ModerationPolicyParam(TypedDict, total=False):
    input: ModerationModeParam | None
    output: ModerationModeParam | None


class ModerationParam(TypedDict):
    model: str
    policy: NotRequired[ModerationPolicyParam | None]


class PromptParam(TypedDict):  # the SDK's order (ResponsePrompt): a validated value's keys come in this order
    id: str
    variables: NotRequired[dict[str, str | dict[str, ParsedJSON]] | None]
    version: NotRequired[str | None]


class PromptCacheOptionsParam(TypedDict, total=False):
    comparison_response_id: str | None
    mode: Literal["implicit", "explicit"] | None
    prewarm: bool | None
    ttl: Literal["30m", "12h"] | None


class AccessProgramsParam(TypedDict, total=False):
    cyber: Literal["standard", "daybreak_blue", "daybreak_red"] | None


NESTED: dict[str, type[BaseModel]] = {
    "reasoning": Reasoning, "text": Text, "stream_options": StreamOptions,
    "background_options": BackgroundOptions, "image": Image, "moderation": Moderation, "prompt": Prompt,
    "prompt_cache_options": PromptCacheOptions, "access_programs": AccessPrograms,
    "context_management[]": ContextManagement,
}


def check_nested(name: str, value: Any, models: Mapping[str, type[BaseModel]] = NESTED) -> ValidationError | None:
    """The validation error of one nested parameter, if any (None when it is valid or absent)."""
    if value is None:
        return None
    try:
        models[name].model_validate(value)
    except ValidationError as exc:
        return exc
    return None


# The service tiers that are "Standard processing" (the SDK: the 2h and 8h windows require it).
STANDARD_TIERS = (None, "auto", "default")


def check_background_options(options: BackgroundOptionsParam | None, background: bool | None, stream: bool | None,
                             service_tier: str | None) -> None:
    """The rules the SDK documents for `background_options` (its shape is checked by `BackgroundOptions`):
    the `2h` and `8h` windows require `background: true`, Standard processing and no `stream`; a
    `continuation_id` orders background runs, so it too requires `background: true`.  `soonest` is
    what every response gets."""
    options = options or {}
    window, continuation = options.get("completion_window"), options.get("continuation_id")
    if window in ("2h", "8h"):
        param = "background_options.completion_window"
        if not background:
            raise invalid(f"The '{window}' completion window requires 'background' to be true.", param,
                          "invalid_value")
        if stream:
            raise invalid(f"The '{window}' completion window cannot be used with 'stream': true.", param,
                          "invalid_value")
        if service_tier not in STANDARD_TIERS:
            raise invalid(f"The '{window}' completion window requires Standard processing: 'service_tier' "
                          f"'{service_tier}' cannot be used with it (use 'auto' or 'default').", param,
                          "invalid_value")
    if continuation is not None and not background:
        raise invalid("'background_options.continuation_id' orders background runs: it requires 'background' "
                      "to be true.", "background_options.continuation_id", "invalid_value")
