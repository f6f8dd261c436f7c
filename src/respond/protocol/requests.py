"""`POST /v1/responses` parameters: one pydantic model, errors in the API's own words.

The model is strict (no string-to-number coercion) and forbids unknown keys, so every bad
request becomes a 400 whose `param` names the field and whose message says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from respond.protocol.errors import APIError, invalid
from respond.protocol.jsonvalue import ParsedJSON
from respond.protocol.params import (
    NESTED,
    AccessProgramsParam,
    BackgroundOptionsParam,
    ContextManagementParam,
    ImageParam,
    ModerationParam,
    PromptCacheOptionsParam,
    PromptParam,
    ReasoningParam,
    StreamOptionsParam,
    TextParam,
    check_background_options,
    check_nested,
)
from respond.protocol.vocabulary import IncludeError, Vocabulary

METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    """The metadata rules shared by responses and conversations."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for '{param}': expected an object, but got {_kind(value)} instead.",
                      param, "invalid_type")
    if len(value) > METADATA_MAX_PAIRS:
        raise invalid(f"Invalid '{param}': too many properties. Expected an object with at most "
                      f"{METADATA_MAX_PAIRS} properties, but got an object with {len(value)} properties instead.",
                      param, "object_above_max_properties")
    for key, val in value.items():
        if len(key) > METADATA_KEY_MAX:
            raise invalid(f"Invalid '{param}': key '{key[:20]}...' is {len(key)} characters long; keys can be "
                          f"at most {METADATA_KEY_MAX} characters.", param, "string_above_max_length")
        if not isinstance(val, str):
            raise invalid(f"Invalid type for '{param}.{key}': expected a string, but got {_kind(val)} instead.",
                          f"{param}.{key}", "invalid_type")
        if len(val) > METADATA_VALUE_MAX:
            raise invalid(f"Invalid '{param}.{key}': string too long. Expected a string with maximum length "
                          f"{METADATA_VALUE_MAX}, but got a string with length {len(val)} instead.",
                          f"{param}.{key}", "string_above_max_length")
    return value


class CreateChecks(BaseModel):
    """The checks of the create parameters, shared by every body that takes some of them
    (protocol/bodies.py): metadata's rules, and each nested object through its strict model
    (`NESTED_MODELS`, which a narrower body may override) so that a bad value gets the same
    400 everywhere."""

    model_config = ConfigDict(extra="forbid", strict=True)
    NESTED_MODELS: ClassVar[Mapping[str, type[BaseModel]]] = NESTED

    @field_validator("metadata", mode="before", check_fields=False)
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        return check_metadata(value)

    @field_validator(*(n for n in NESTED if not n.endswith("[]")), mode="before", check_fields=False)
    @classmethod
    def _nested(cls, value: Any, info: ValidationInfo) -> Any:
        # Only objects: a value of the wrong type is reported by the field's own type.
        name = info.field_name or ""
        exc = check_nested(name, value, cls.NESTED_MODELS) if isinstance(value, dict) else None
        if exc is not None:
            raise to_api_error(exc, (name,))
        return value


class CreateResponse(CreateChecks):

    model: str | None = None
    input: str | list[dict[str, ParsedJSON]] | None = None  # items, checked by protocol.items
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, ParsedJSON] | None = None
    store: bool | None = True
    stream: bool | None = False
    stream_options: StreamOptionsParam | None = None
    background: bool | None = False
    background_options: BackgroundOptionsParam | None = None
    include: list[str] | None = None
    metadata: dict[str, str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_tool_calls: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    parallel_tool_calls: bool | None = True
    tools: list[dict[str, ParsedJSON]] | None = None  # checked by engine.client_tools and the hosted tools
    tool_choice: str | dict[str, ParsedJSON] | None = None  # checked by engine.tool_choice
    text: TextParam | None = None
    reasoning: ReasoningParam | None = None
    truncation: Literal["auto", "disabled"] | None = "disabled"
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=128)
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: PromptCacheOptionsParam | None = None
    prompt: PromptParam | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None = None
    context_management: list[ContextManagementParam] | None = None
    image: ImageParam | None = None
    moderation: ModerationParam | None = None
    access_programs: AccessProgramsParam | None = None
    # Client extensions: accepted and logged, never sent on (Codex CLI sends client_metadata).
    client_metadata: dict[str, ParsedJSON] | None = None

    @field_validator("include")
    @classmethod
    def _include(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        vocabulary = (info.context or {}).get("vocabulary")
        if not isinstance(vocabulary, Vocabulary):  # parse_create always gives it
            raise TypeError("CreateResponse is validated with the server's vocabulary: use parse_create")
        vocabulary.check_include(value)
        return value

    @model_validator(mode="after")
    def _background_options(self) -> CreateResponse:
        check_background_options(self.background_options, self.background, self.stream, self.service_tier)
        return self

    @field_validator("context_management", mode="before")
    @classmethod
    def _context_management(cls, value: Any) -> Any:
        for i, entry in enumerate(value if isinstance(value, list) else []):
            exc = check_nested("context_management[]", entry) if isinstance(entry, dict) else None
            if exc is not None:
                raise to_api_error(exc, ("context_management", i))
        return value


def _kind(value: Any) -> str:
    return {
        str: "a string", bool: "a boolean", int: "an integer", float: "a decimal", list: "an array",
        dict: "an object", type(None): "null",
    }.get(type(value), type(value).__name__)


_EXPECT = {
    "string_type": "a string", "bool_type": "a boolean", "int_type": "an integer", "float_type": "a number",
    "list_type": "an array", "dict_type": "an object", "model_type": "an object",
}


def _param(loc: tuple[Any, ...], body: Any = None) -> str:
    """The client's name of the field at `loc`.  With the `body` the error came from, a part that
    is that object's `type` and names none of its keys (or is followed by the key it names) is a
    discriminated union's tag (pydantic puts the member it chose in the path): it is left out too."""
    out, tag = "", None  # tag: the object whose tag was left out (what follows is one of its keys)
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            body = body[part] if isinstance(body, list) and 0 <= part < len(body) else None
        elif part in ("str", "list[dict[str,any]]", "dict[str,any]", "int", "float", "bool"):
            continue  # pydantic names the union member it tried; the client named only the field
        elif isinstance(body, dict) and body is not tag and body.get("type") == part and (
                part not in body or loc[i + 1:i + 2] == (part,)):  # {"type": "static", "static": ...}
            tag = body
            continue
        else:
            out += ("." if out else "") + str(part)
            body = body.get(part) if isinstance(body, dict) else None
    return out


def _shown(value: Any) -> str:
    """A rejected value as the client wrote it: a string as is, anything else as JSON (`true`, not `True`)."""
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def to_api_error(exc: ValidationError, prefix: tuple[Any, ...] = (), body: Any = None) -> APIError:
    """The first validation error, phrased as the API phrases it (`prefix`: where a nested
    model sits in the request; `body`: the value validated, which names the tags of the
    discriminated unions in an error's path)."""
    errors = exc.errors(include_url=False)
    # Prefer a non-type error on a union (e.g. a bad metadata value over "not a string").
    err = errors[0]
    param = _param(prefix + tuple(err["loc"]), body)
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
    if kind == "missing":
        return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
    if kind in ("greater_than_equal", "greater_than"):
        bound = f">= {ctx['ge']}" if "ge" in ctx else f"> {ctx.get('gt')}"
        return invalid(f"Invalid '{param}': {_num(value)} below minimum value. Expected a value {bound}, but got "
                       f"{value} instead.", param, f"{_num(value)}_below_min_value")
    if kind in ("less_than_equal", "less_than"):
        bound = f"<= {ctx['le']}" if "le" in ctx else f"< {ctx.get('lt')}"
        return invalid(f"Invalid '{param}': {_num(value)} above maximum value. Expected a value {bound}, but got "
                       f"{value} instead.", param, f"{_num(value)}_above_max_value")
    if kind == "literal_error":
        return invalid(f"Invalid value: '{_shown(value)}'. Supported values are: {ctx.get('expected')}.", param,
                       "invalid_value")
    if kind == "string_too_long":
        return invalid(f"Invalid '{param}': string too long. Expected a string with maximum length "
                       f"{ctx.get('max_length')}, but got a string with length {len(str(value))} instead.",
                       param, "string_above_max_length")
    if kind == "union_tag_invalid":
        return invalid(f"Invalid value: {ctx.get('tag')!r}. Supported values are: {ctx.get('expected_tags')}.",
                       f"{param}.type", "invalid_value")
    if kind == "union_tag_not_found":
        return invalid(f"Missing required parameter: '{param}.type'.", f"{param}.type", "missing_required_parameter")
    if kind == "string_too_short" and value == "":
        return invalid(f"Invalid '{param}': empty string. Expected a string with minimum length "
                       f"{ctx.get('min_length')}, but got an empty string instead.", param, "empty_string")
    if kind == "too_long" and isinstance(value, list):
        return invalid(f"Invalid '{param}': array too long. Expected an array with maximum length "
                       f"{ctx.get('max_length')}, but got an array with length {ctx.get('actual_length')} instead.",
                       param, "array_above_max_length")
    if kind == "int_parsing":  # a form's text that is no integer
        return invalid(f"Invalid type for '{param}': expected an integer, but got {value!r} instead.", param,
                       "invalid_type")
    if kind in _EXPECT or kind.endswith("_type"):
        expected = _EXPECT.get(kind, kind.removesuffix("_type"))
        # For unions pydantic reports every member; name them all.
        members = sorted({_EXPECT.get(e["type"], e["type"]) for e in errors
                          if _param(prefix + tuple(e["loc"]), body) == param})
        if len(members) > 1:
            expected = " or ".join(members)
        return invalid(f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
                       param, "invalid_type")
    return invalid(f"Invalid '{param}': {err['msg']}.", param, "invalid_value")


def _num(value: Any) -> str:
    whole = isinstance(value, int) or (isinstance(value, str) and value.removeprefix("-").isdigit())  # a form's
    return "integer" if whole else "decimal"


def parse_create(body: Any, vocabulary: Vocabulary) -> CreateResponse:
    """The request, validated against the server's `vocabulary` (its include values)."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", None, "invalid_json")
    try:
        return CreateResponse.model_validate(body, context={"vocabulary": vocabulary})
    except ValidationError as exc:
        cause = exc.errors(include_url=False)[0].get("ctx", {}).get("error")
        if isinstance(cause, IncludeError):
            raise invalid(cause.message, cause.param, "invalid_value") from None
        raise to_api_error(exc) from None
