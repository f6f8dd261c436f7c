"""`GET /openapi.json` and `GET /docs`: the API description, generated, never written by hand.

Paths and methods come from the app's own routes; path parameters from their templates; request
bodies from the pydantic models that validate them (`REQUEST_MODELS`, JSON Schema 2020-12 as
OpenAPI 3.1 takes it, `$defs` hoisted into `components/schemas`); errors from `ErrorEnvelope`.
The other endpoints' bodies are the models of protocol/bodies.py, which validate them too; an
endpoint with no body model (a multipart upload, a container file) is described as a JSON object.  `/docs`
renders the same document as one self-contained HTML page (no script, no CDN).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import TYPE_CHECKING, Literal, TypedDict

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from respond.engine.tenants.key_admin import KeyBody
from respond.protocol import bodies
from respond.protocol.requests import CreateResponse
from respond.protocol.response import TERMINAL
from respond.protocol.shapes.values import JSON, JSONObject

if TYPE_CHECKING:
    from jinja2 import Environment

VERSION = "0.1.0"
HIDDEN = {"/openapi.json", "/docs", "/metrics"}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")

Schema = JSONObject  # a JSON Schema (2020-12), as pydantic writes it


class MediaType(TypedDict):
    schema: Schema


class RequestBody(TypedDict):
    required: bool
    content: dict[str, MediaType]


class ResponseSpec(TypedDict):
    description: str
    content: dict[str, MediaType]


# (an OpenAPI parameter's `in` is a Python keyword: the functional form)
Parameter = TypedDict("Parameter", {"name": str, "in": Literal["path"], "required": bool, "schema": Schema})


class _OperationBase(TypedDict):
    operationId: str
    summary: str
    tags: list[str]
    responses: dict[str, ResponseSpec]


class Operation(_OperationBase, total=False):
    parameters: list[Parameter]
    requestBody: RequestBody


class Info(TypedDict):
    title: str
    version: str
    description: str


class Components(TypedDict):
    schemas: dict[str, Schema]
    securitySchemes: dict[str, Schema]


class Document(TypedDict):
    openapi: str
    info: Info
    servers: list[dict[str, str]]
    paths: dict[str, dict[str, Operation]]
    components: Components
    security: list[dict[str, list[str]]]


class DocField(TypedDict):
    name: str
    type: str
    default: JSON


class DocEntry(TypedDict):
    """One operation as the docs page lists it."""

    method: str
    path: str
    op: Operation
    body: str
    fields: list[DocField]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """Every error: the OpenAI error envelope."""

    error: ErrorBody


def request_models() -> dict[tuple[str, str], type[BaseModel]]:
    """The model that validates each endpoint's JSON body (protocol/requests.py, bodies.py, resource_bodies.py)."""
    from respond.protocol import resource_bodies as rb  # the resources' models: on first use

    conv, vs = "/v1/conversations", "/v1/vector_stores"
    return {("POST", "/v1/responses"): CreateResponse,
            ("POST", "/v1/responses/input_tokens"): bodies.CountInputTokens,
            ("POST", "/v1/responses/compact"): bodies.CompactResponse,
            ("POST", conv): bodies.CreateConversation,
            ("POST", conv + "/{conversation_id}"): bodies.UpdateConversation,
            ("POST", conv + "/{conversation_id}/items"): bodies.AddConversationItems,
            ("POST", vs): rb.CreateVectorStore,
            ("POST", vs + "/{vector_store_id}"): rb.UpdateVectorStore,
            ("POST", vs + "/{vector_store_id}/files"): rb.CreateVectorStoreFile,
            ("POST", vs + "/{vector_store_id}/files/{file_id}"): rb.UpdateVectorStoreFile,
            ("POST", vs + "/{vector_store_id}/file_batches"): rb.CreateFileBatch,
            ("POST", vs + "/{vector_store_id}/search"): rb.SearchVectorStore,
            ("POST", "/v1/containers"): rb.CreateContainer,
            ("POST", "/admin/v1/keys"): KeyBody,
            ("POST", "/admin/v1/keys/{key_id}"): KeyBody}


def _schema(model: type[BaseModel], components: dict[str, Schema]) -> Schema:
    schema: Schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    if isinstance(defs, dict):
        for name, sub in defs.items():
            if isinstance(sub, dict):
                components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: Route, method: str, models: dict[tuple[str, str], type[BaseModel]],
               components: dict[str, Schema], seen: set[str]) -> Operation:
    name = getattr(route.endpoint, "__name__", "operation")
    op_id, n = name, 1
    while op_id in seen:  # operationIds must be unique
        n += 1
        op_id = f"{name}_{n}"
    seen.add(op_id)
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    op: Operation = {
        "operationId": op_id, "summary": doc[0] if doc else name.replace("_", " ").capitalize(),
        "tags": [route.path.split("/")[2] if route.path.startswith("/v1/") else "server"],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "4XX": {"description": "A bad request: the error says what to fix",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}},
        },
    }
    params: list[Parameter] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                               for p in _PARAM.findall(route.path)]
    if params:
        op["parameters"] = params
    model = models.get((method, route.path))
    if model is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _schema(model, components)}}}
    elif method == "POST" and route.path.startswith("/v1/"):
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    return op


def build(routes: list[BaseRoute]) -> Document:
    components: dict[str, Schema] = {}
    _schema(ErrorEnvelope, components)
    models = request_models()
    paths: dict[str, dict[str, Operation]] = {}
    seen: set[str] = set()
    for route in routes:
        if not isinstance(route, Route) or route.path in HIDDEN or not route.methods:
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, method, models, components, seen)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Respond", "version": VERSION,
                 "description": "A self-hosted OpenAI Responses API. Terminal statuses: "
                                + ", ".join(sorted(TERMINAL)) + "."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
    }


def document(request: Request) -> Document:
    cached: Document | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = request.app.state.openapi = build(request.app.routes)
    return cached


async def openapi_json(request: Request) -> Response:
    from respond.api.routes import JSON

    return JSON(document(request))


@functools.cache
def _environment() -> Environment:
    """jinja2, imported by the first /docs page (not at the server's start)."""
    from jinja2 import Environment, select_autoescape

    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _type(schema: JSON) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        return " | ".join(_type(s) for s in any_of)
    enum = schema.get("enum")
    if isinstance(enum, list):
        return " | ".join(repr(v) for v in enum)
    if "const" in schema:
        return repr(schema["const"])
    kind = str(schema.get("type", "any"))
    return f"{kind}[{_type(schema['items'])}]" if kind == "array" and "items" in schema else kind


def operations(doc: Document) -> list[DocEntry]:
    """The document, flattened for the docs page: one entry per operation with its body fields."""
    schemas = doc["components"]["schemas"]
    out: list[DocEntry] = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op["requestBody"]["content"]["application/json"]["schema"] if "requestBody" in op else {}
            ref = str(body.get("$ref", "")).rsplit("/", 1)[-1]
            props = schemas.get(ref, {}).get("properties") if ref else None
            fields: list[DocField] = [
                {"name": n, "type": _type(s), "default": s.get("default") if isinstance(s, dict) else None}
                for n, s in (props.items() if isinstance(props, dict) else ())]
            out.append({"method": method.upper(), "path": path, "op": op, "body": ref, "fields": fields})
    return out


async def docs_page(request: Request) -> Response:
    source = resources.files("respond.api").joinpath("templates/docs.html").read_text(encoding="utf-8")
    doc = document(request)
    html = _environment().from_string(source).render(doc=doc, operations=operations(doc))
    return HTMLResponse(html)
