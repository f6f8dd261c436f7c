"""Validation against both contracts: the Open Responses OpenAPI schema and the SDK's types."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from referencing import Registry, Resource

SPEC = Path(__file__).resolve().parent / "data" / "spec" / "openresponses-openapi.json"


@cache
def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SPEC.read_text())
    return doc


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource("urn:spec", Resource.opaque(_doc()))
    return registry


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:spec#/components/schemas/{name}"}, registry=_registry())


@cache
def _event_schemas() -> dict[str, str]:
    out = {}
    for name, schema in _doc()["components"]["schemas"].items():
        if name.endswith("StreamingEvent"):
            enum = schema.get("properties", {}).get("type", {}).get("enum")
            if enum:
                out[enum[0]] = name
    return out


def _check(name: str, obj: Any) -> None:
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        detail = "\n".join(f"  {list(e.path)}: {e.message[:300]}" for e in errors[:8])
        raise AssertionError(f"{name} does not satisfy the Open Responses schema:\n{detail}")


def check_resource_schema(obj: dict[str, Any]) -> None:
    """Only the Open Responses `ResponseResource` schema (where it and the SDK disagree, each is checked apart)."""
    _check("ResponseResource", obj)


def check_response(obj: dict[str, Any]) -> Response:
    """A Response JSON satisfies ResponseResource and parses as the SDK's Response."""
    _check("ResponseResource", obj)
    return Response.model_validate(obj)


_EVENT = TypeAdapter(ResponseStreamEvent)


def check_event(obj: dict[str, Any]) -> None:
    name = _event_schemas().get(obj["type"])
    if name is not None:
        _check(name, obj)
    _EVENT.validate_python(obj)


def body_of(caught: Any) -> dict[str, Any]:
    """The error object of an `openai.APIStatusError` caught by `pytest.raises` (the SDK types `body`
    as `object`; the server's error envelope makes it a dict)."""
    body = caught.value.body
    assert isinstance(body, dict), body
    return body
