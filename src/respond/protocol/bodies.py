"""The request bodies of the endpoints other than `POST /responses`: one pydantic model each.

Each model is strict and forbids unknown keys, like `CreateResponse`, and is parsed once where the
body enters (`parse`): a bad body is a 400 from the same error translator (`to_api_error`), whose
`param` names the field.  The models of the endpoints that take a subset of the create parameters
declare those fields with the create model's types and inherit its checks (`CreateChecks`), so a
bad value gets the same message everywhere; `create()` then gives the `CreateResponse` the engine
reads, without validating it a second time.  The same models give `/openapi.json` its request
schemas (api/openapi.py).  The SDK's params TypedDicts are the reference for each.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict  # pydantic validates only typing_extensions' on 3.11

from respond.protocol.errors import invalid
from respond.protocol.jsonvalue import ParsedJSON
from respond.protocol.params import NESTED, ImageParam, ReasoningParam, TextParam
from respond.protocol.requests import CreateChecks, CreateResponse, to_api_error

B = TypeVar("B", bound=BaseModel)
MAX_CONVERSATION_ITEMS = 20  # items of one conversation create or items add (the hosted API's limit)

Items = list[dict[str, ParsedJSON]]  # input items, checked by the server's vocabulary (normalize_item)


def parse(model: type[B], body: Any) -> B:
    """`body` (the parsed JSON of a request) as `model`, or the 400 that says what to fix."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", None, "invalid_json")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise to_api_error(exc, body=body) from None


class _CreateSubset(CreateChecks):
    """A body that takes some of the create parameters (`CreateChecks` checks them as a create does)."""

    EXCLUDED: ClassVar[frozenset[str]] = frozenset()  # accepted fields a create has no use for

    def create(self) -> CreateResponse:
        """The request as the engine reads it: these fields as set, the create defaults for the rest.
        The values passed every check of the create model already (same types, same validators)."""
        values = {k: getattr(self, k) for k in self.model_fields_set if k not in self.EXCLUDED}
        return CreateResponse.model_construct(set(values), **values)


class CountInputTokens(_CreateSubset):
    """`POST /responses/input_tokens` (the SDK's `InputTokenCountParams`); `personality` is accepted
    and has no effect on a count."""

    EXCLUDED: ClassVar[frozenset[str]] = frozenset({"personality"})

    conversation: str | dict[str, ParsedJSON] | None = None
    input: str | Items | None = None
    instructions: str | None = None
    model: str | None = None
    parallel_tool_calls: bool | None = True
    personality: str | None = None
    previous_response_id: str | None = None
    reasoning: ReasoningParam | None = None
    text: TextParam | None = None
    tool_choice: str | dict[str, ParsedJSON] | None = None
    tools: list[dict[str, ParsedJSON]] | None = None
    truncation: Literal["auto", "disabled"] | None = "disabled"


class CompactCacheOptions(BaseModel):
    """The compact params' `prompt_cache_options`: narrower than a create's (no prewarm, one ttl)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["implicit", "explicit"] | None = None
    ttl: Literal["30m"] | None = None


class CompactCacheOptionsParam(TypedDict, total=False):
    """The same, as the field keeps it once `CompactCacheOptions` has checked it."""

    mode: Literal["implicit", "explicit"] | None
    ttl: Literal["30m"] | None


class CompactResponse(_CreateSubset):
    """`POST /responses/compact` (the SDK's `ResponseCompactParams`): `model` is required; every option
    is validated as on a create (and to the compact params' narrower values), then applied (input,
    instructions, previous_response_id, image) or passed on to the model (prompt_cache_key,
    safety_identifier, service_tier, the prompt caching options: a backend that cannot take one
    answers a 400 naming it, backends/options.py)."""

    NESTED_MODELS: ClassVar[dict[str, type[BaseModel]]] = {**NESTED, "prompt_cache_options": CompactCacheOptions}

    model: str = Field(min_length=1)
    input: str | Items | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: CompactCacheOptionsParam | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    safety_identifier: str | None = Field(default=None, max_length=128)
    service_tier: Literal["auto", "default", "fast", "flex", "priority"] | None = None
    image: ImageParam | None = None


class CreateConversation(CreateChecks):
    """`POST /conversations` (the SDK's `ConversationCreateParams`; its `safety_identifier` is an
    unknown parameter here: a conversation has no use for one)."""

    items: Items | None = Field(default=None, max_length=MAX_CONVERSATION_ITEMS)
    metadata: dict[str, str] | None = None  # CreateChecks: the create's metadata rules


class UpdateConversation(CreateChecks):
    """`POST /conversations/{id}` (`ConversationUpdateParams`): `metadata` is required (null clears it)."""

    metadata: dict[str, str] | None


class AddConversationItems(CreateChecks):
    """`POST /conversations/{id}/items` (`ItemCreateParams`; `include` is a query parameter)."""

    items: Items = Field(max_length=MAX_CONVERSATION_ITEMS)
