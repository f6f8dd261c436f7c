"""The request surface of the installed `openai` SDK, walked from its own types.

Every name the SDK lets a client send to an endpoint Respond serves (the keys of the endpoint's params
TypedDict, and one level of the nested option objects), and the SDK's vocabularies: tool types, input item
types, include values and stream event types. `tests/test_sdk_drift.py` compares this with the table in
docs/request-options.md, so that a new SDK release that adds a name turns the suite red until someone
decides what Respond does with it.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any, Literal, Union, get_args, get_origin

from openai._models import BaseModel as SDKModel

# endpoint -> the SDK's params TypedDict(s) ("module:Name"); methods with no body list their query params
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "POST /v1/responses": ("openai.types.responses.response_create_params:ResponseCreateParamsStreaming",),
    "POST /v1/responses/input_tokens": ("openai.types.responses.input_token_count_params:InputTokenCountParams",),
    "POST /v1/responses/compact": ("openai.types.responses.response_compact_params:ResponseCompactParams",),
    "GET /v1/responses/{id}": ("openai.types.responses.response_retrieve_params:ResponseRetrieveParamsStreaming",),
    "GET /v1/responses/{id}/input_items": ("openai.types.responses.input_item_list_params:InputItemListParams",),
    "POST /v1/conversations": ("openai.types.conversations.conversation_create_params:ConversationCreateParams",),
    "POST /v1/conversations/{id}": ("openai.types.conversations.conversation_update_params:ConversationUpdateParams",),
    "POST /v1/conversations/{id}/items": ("openai.types.conversations.item_create_params:ItemCreateParams",),
    "GET /v1/conversations/{id}/items": ("openai.types.conversations.item_list_params:ItemListParams",),
    "POST /v1/files": ("openai.types.file_create_params:FileCreateParams",),
    "GET /v1/files": ("openai.types.file_list_params:FileListParams",),
    "POST /v1/vector_stores": ("openai.types.vector_store_create_params:VectorStoreCreateParams",),
    "POST /v1/vector_stores/{id}": ("openai.types.vector_store_update_params:VectorStoreUpdateParams",),
    "POST /v1/vector_stores/{id}/search": ("openai.types.vector_store_search_params:VectorStoreSearchParams",),
    "POST /v1/vector_stores/{id}/files": ("openai.types.vector_stores.file_create_params:FileCreateParams",),
    "POST /v1/containers": ("openai.types.container_create_params:ContainerCreateParams",),
}

# nested objects not walked key by key: they have their own section (tools, input items) or are free-form
NOT_WALKED = frozenset({"input", "tools", "tool_choice", "include", "metadata", "items", "text.format",
                        "prompt.variables", "conversation", "file", "filters", "attributes", "chunking_strategy",
                        "expires_after", "ranking_options", "network_policy", "skills", "memory_limit",
                        "file_ids"})

VOCABULARIES: dict[str, tuple[str, str]] = {
    "tools[].type": ("openai.types.responses.tool_param", "ToolParam"),
    "input[].type": ("openai.types.responses.response_input_item_param", "ResponseInputItemParam"),
    "include[]": ("openai.types.responses.response_includable", "ResponseIncludable"),
    "stream events": ("openai.types.responses.response_stream_event", "ResponseStreamEvent"),
}


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _members(tp: Any) -> Iterator[Any]:
    """The concrete types inside a (possibly annotated, optional, list-of) annotation."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        yield from _members(get_args(tp)[0])
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _members(arg)
    elif origin is not None and getattr(origin, "__name__", "") in ("Required", "NotRequired", "ReadOnly"):
        yield from _members(get_args(tp)[0])
    elif str(origin) in ("typing.Required", "typing.NotRequired") or repr(tp).startswith(("typing.Required[",
                                                                                          "typing.NotRequired[")):
        yield from _members(get_args(tp)[0])
    else:
        yield tp


def _typeddicts(tp: Any) -> list[tuple[Any, bool]]:
    """The TypedDicts an annotation allows, each with whether it sits in a list."""
    out: list[tuple[Any, bool]] = []
    for member in _members(tp):
        origin = get_origin(member)
        if origin is not None and getattr(origin, "__name__", "") in ("Iterable", "list", "List", "Sequence"):
            out += [(inner, True) for inner, _ in _typeddicts(get_args(member)[0])]
        elif isinstance(member, type) and issubclass(member, dict) and hasattr(member, "__total__"):
            out.append((member, False))
    return out


def _hints(td: Any) -> dict[str, Any]:
    return typing.get_type_hints(td, include_extras=True)


def _names(td: Any, prefix: str = "", depth: int = 0) -> Iterator[str]:
    for key, tp in _hints(td).items():
        name = prefix + key
        yield name
        if depth >= 1 or name in NOT_WALKED:
            continue
        for inner, listed in _typeddicts(tp):
            yield from _names(inner, f"{name}[]." if listed else f"{name}.", depth + 1)


def endpoint_options() -> dict[str, set[str]]:
    """endpoint -> every option name the SDK sends it (nested ones dotted, list entries as `[]`)."""
    return {endpoint: {n for ref in refs for n in _names(_load(ref))} for endpoint, refs in ENDPOINTS.items()}


def _literal_values(tp: Any) -> Iterable[str]:
    for member in _members(tp):
        if get_origin(member) is Literal:
            yield from (str(v) for v in get_args(member))


def _type_literals(union: Any) -> set[str]:
    out: set[str] = set()
    for member in _members(union):
        if isinstance(member, type) and issubclass(member, SDKModel):
            field = member.model_fields.get("type")
            out.update(_literal_values(field.annotation) if field is not None else ())
        elif isinstance(member, type) and hasattr(member, "__total__"):
            out.update(_literal_values(_hints(member).get("type")))
    return out


def vocabularies() -> dict[str, set[str]]:
    """section -> the SDK's names: tool types, input item types, include values, stream event types."""
    out: dict[str, set[str]] = {}
    for section, (module, name) in VOCABULARIES.items():
        value = getattr(importlib.import_module(module), name)
        out[section] = set(_literal_values(value)) if section == "include[]" else _type_literals(value)
    return out
