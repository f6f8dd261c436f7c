"""The JSON bodies of the resource endpoints (vector stores and their files, containers): one pydantic
model each, parsed once in the route (`bodies.parse`), used as parsed by the tool's service.

The SDK's params TypedDicts are the reference (`openai.types.vector_store_create_params`, ...).  What
a model cannot say stays with the service that knows it: the server's own limits (a container's
memory), what this server does not support (a container's network, a store's description), and the
filters and ranking options, which the hosted retrieval tool takes too (its package checks both, for
the endpoint and the tool alike).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from respond.protocol.bodies import parse
from respond.protocol.errors import invalid
from respond.protocol.jsonvalue import ParsedJSON
from respond.protocol.requests import CreateChecks

ATTRIBUTES_MAX = 16
ATTRIBUTE_KEY_MAX = 64
ATTRIBUTE_VALUE_MAX = 512

Attributes = dict[str, str | float | bool]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def check_attributes(attrs: Any) -> Any:
    """A vector store file's attributes: at most 16 keys of at most 64 characters, values strings of at
    most 512 characters, numbers or booleans (the types are the model's; these are the bounds).  The
    error is pydantic's, so that the translator names the field where it sits (`files[2].attributes`)."""
    if not isinstance(attrs, dict):
        return attrs  # None, or a wrong type the field's own type reports
    if len(attrs) > ATTRIBUTES_MAX:
        raise PydanticCustomError("invalid_value", "too many properties. Expected an object with at most "
                                  "{most} properties, but got an object with {got} properties instead",
                                  {"most": ATTRIBUTES_MAX, "got": len(attrs)})
    for k, v in attrs.items():
        if len(k) > ATTRIBUTE_KEY_MAX or (isinstance(v, str) and len(v) > ATTRIBUTE_VALUE_MAX):
            raise PydanticCustomError("invalid_value", "attribute '{key}' is too long: keys are at most {kmax} "
                                      "characters and string values at most {vmax}",
                                      {"key": k[:20], "kmax": ATTRIBUTE_KEY_MAX, "vmax": ATTRIBUTE_VALUE_MAX})
    return attrs


class _WithAttributes(_Strict):
    @field_validator("attributes", mode="before", check_fields=False)
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        return check_attributes(value)


# -- chunking strategies (a discriminated union on `type`) ---------------------------------------------
class AutoChunking(_Strict):
    type: Literal["auto"]


class StaticChunkSizes(_Strict):
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0)  # at most half of the size: checked by the chunker


class StaticChunking(_Strict):
    type: Literal["static"]
    static: StaticChunkSizes


ChunkingStrategyParam = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]


# -- vector stores -------------------------------------------------------------------------------------
class StoreExpiresAfter(_Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class UpdateVectorStore(CreateChecks):
    """`POST /vector_stores/{id}` (`VectorStoreUpdateParams`): only the fields sent change; null clears."""

    name: str | None = None
    metadata: dict[str, str] | None = None  # CreateChecks: the create's metadata rules
    expires_after: StoreExpiresAfter | None = None


class CreateVectorStore(UpdateVectorStore):
    """`POST /vector_stores` (`VectorStoreCreateParams`); `description` is refused by the service."""

    file_ids: list[str] | None = None
    chunking_strategy: ChunkingStrategyParam | None = None
    description: str | None = None


class CreateVectorStoreFile(_WithAttributes):
    """`POST /vector_stores/{id}/files` (`vector_stores.FileCreateParams`)."""

    file_id: str = Field(min_length=1)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyParam | None = None


class UpdateVectorStoreFile(_WithAttributes):
    """`POST /vector_stores/{id}/files/{file_id}` (`FileUpdateParams`): `attributes` is required."""

    attributes: Attributes | None


class BatchFile(_WithAttributes):
    file_id: str = Field(min_length=1)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyParam | None = None


class CreateFileBatch(_WithAttributes):
    """`POST /vector_stores/{id}/file_batches` (`FileBatchCreateParams`): `files`, or `file_ids` with the
    attributes and chunking strategy they share."""

    file_ids: list[str] | None = None
    files: list[BatchFile] | None = None
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategyParam | None = None

    @model_validator(mode="after")
    def _some_files(self) -> CreateFileBatch:
        if self.files is None and not self.file_ids:
            raise invalid("Missing required parameter: 'file_ids' (or 'files').", "file_ids",
                          "missing_required_parameter")
        return self

    def entries(self) -> list[BatchFile]:
        """One entry per file: `files` as sent, or each of `file_ids` with the shared values."""
        if self.files is not None:
            return self.files
        return [BatchFile(file_id=f, attributes=self.attributes, chunking_strategy=self.chunking_strategy)
                for f in self.file_ids or ()]


class SearchVectorStore(_Strict):
    """`POST /vector_stores/{id}/search` (`VectorStoreSearchParams`)."""

    query: str | list[str]
    filters: dict[str, ParsedJSON] | None = None  # checked by the retrieval tool's filters (its own too)
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: dict[str, ParsedJSON] | None = None  # checked by the retrieval tool's `check_ranking`
    rewrite_query: bool = False

    @model_validator(mode="after")
    def _some_query(self) -> SearchVectorStore:
        if not self.queries() or not all(self.queries()):
            raise invalid("Missing required parameter: 'query' (a non-empty string or array of them).", "query",
                          "missing_required_parameter")
        return self

    def queries(self) -> list[str]:
        return [self.query] if isinstance(self.query, str) else self.query


# -- containers ----------------------------------------------------------------------------------------
class ContainerExpiresAfter(_Strict):
    anchor: Literal["last_active_at"]
    minutes: int = Field(ge=1, le=10080)


class NetworkDisabled(_Strict):
    type: Literal["disabled"]


class NetworkAllowlist(_Strict):
    type: Literal["allowlist"]
    allowed_domains: list[str]
    domain_secrets: list[dict[str, ParsedJSON]] | None = None


NetworkPolicy = Annotated[NetworkDisabled | NetworkAllowlist, Field(discriminator="type")]


class CreateContainer(_Strict):
    """`POST /containers` (`ContainerCreateParams`); the service refuses what it does not support (a
    network, skills) and a memory limit above the server's."""

    name: str = Field(min_length=1)
    expires_after: ContainerExpiresAfter | None = None
    file_ids: list[str] | None = None
    memory_limit: Literal["1g", "4g", "16g", "64g"] | None = None
    network_policy: NetworkPolicy | None = None
    skills: list[dict[str, ParsedJSON]] | None = None


class CreateContainerFile(_Strict):
    """`POST /containers/{id}/files` as JSON (`containers.FileCreateParams`: a multipart `file` otherwise)."""

    file_id: str = Field(min_length=1)


# -- files -----------------------------------------------------------------------------------------------
FilePurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
EXPIRY_SECONDS = (3600, 2_592_000)  # one hour to thirty days, as the hosted API allows


class UploadExpiresAfter(_Strict):
    anchor: Literal["created_at"]
    seconds: Annotated[int, Field(ge=EXPIRY_SECONDS[0], le=EXPIRY_SECONDS[1], strict=False)]  # a form's text


class FileUpload(_Strict):
    """`POST /files`'s text fields (`FileCreateParams`; the `file` part is read beside them): multipart
    names `expires_after[anchor]` what JSON names `expires_after.anchor`."""

    purpose: FilePurpose
    expires_after: UploadExpiresAfter | None = None

    @classmethod
    def from_form(cls, fields: dict[str, str]) -> FileUpload:
        """The form's fields, nested as their names say, as this model (or the 400 naming the field)."""
        body: dict[str, Any] = {}
        for name, value in fields.items():
            outer, _, inner = name.partition("[")
            if inner.endswith("]") and "[" not in inner:
                body.setdefault(outer, {})[inner[:-1]] = value
            else:
                body[name] = value
        return parse(cls, body)

    def expires_in(self) -> int | None:
        """The file's lifetime in seconds from its creation, or None."""
        return self.expires_after.seconds if self.expires_after else None
