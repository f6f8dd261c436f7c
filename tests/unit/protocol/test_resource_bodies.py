"""The vector store and container body models: the 400 each bad body gets, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from respond.protocol.bodies import parse
from respond.protocol.errors import APIError, ErrorBody
from respond.protocol.resource_bodies import (
    CreateContainer,
    CreateContainerFile,
    CreateFileBatch,
    CreateVectorStore,
    CreateVectorStoreFile,
    FileUpload,
    NetworkAllowlist,
    SearchVectorStore,
    StaticChunking,
    UpdateVectorStore,
    UpdateVectorStoreFile,
)


def _error(model: type[BaseModel], body: Any) -> ErrorBody:
    with pytest.raises(APIError) as exc:
        parse(model, body)
    assert exc.value.status == 400
    return exc.value.envelope()["error"]


def test_chunking_strategy_is_a_discriminated_union() -> None:
    body = parse(CreateVectorStoreFile, {"file_id": "f", "chunking_strategy": {
        "type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}})
    assert isinstance(body.chunking_strategy, StaticChunking) and body.chunking_strategy.static.chunk_overlap_tokens == 50
    # the member pydantic chose (its tag) is not in the path the client reads
    err = _error(CreateVectorStoreFile, {"file_id": "f", "chunking_strategy": {
        "type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 10}}})
    assert (err["param"], err["code"]) == ("chunking_strategy.static.max_chunk_size_tokens", "integer_below_min_value")
    err = _error(CreateVectorStoreFile, {"file_id": "f", "chunking_strategy": {"type": "static"}})
    assert (err["param"], err["code"]) == ("chunking_strategy.static", "missing_required_parameter")
    err = _error(CreateVectorStore, {"chunking_strategy": {"type": "fixed"}})
    assert (err["param"], err["code"]) == ("chunking_strategy.type", "invalid_value")
    assert err["message"] == "Invalid value: 'fixed'. Supported values are: 'auto', 'static'."
    err = _error(CreateVectorStore, {"chunking_strategy": {}})
    assert (err["param"], err["code"]) == ("chunking_strategy.type", "missing_required_parameter")
    err = _error(CreateVectorStore, {"chunking_strategy": {"type": "auto", "size": 3}})
    assert (err["param"], err["code"]) == ("chunking_strategy.size", "unknown_parameter")


def test_vector_store_bodies() -> None:
    update = parse(UpdateVectorStore, {"name": None})
    assert update.model_fields_set == {"name"}  # only what is sent changes
    assert _error(UpdateVectorStore, {"colour": "red"})["code"] == "unknown_parameter"
    assert _error(UpdateVectorStore, {"description": "x"})["code"] == "unknown_parameter"  # the SDK's update has none
    err = _error(CreateVectorStore, {"expires_after": {"anchor": "created_at", "days": 3}})
    assert (err["param"], err["code"]) == ("expires_after.anchor", "invalid_value")
    assert _error(CreateVectorStore, {"expires_after": {"anchor": "last_active_at", "days": 400}})["param"] == \
        "expires_after.days"
    assert _error(CreateVectorStore, {"metadata": {"k": 1}})["param"] == "metadata.k"
    assert _error(CreateVectorStore, {"file_ids": "file-1"})["param"] == "file_ids"
    assert _error(UpdateVectorStoreFile, {})["code"] == "missing_required_parameter"
    assert parse(UpdateVectorStoreFile, {"attributes": None}).attributes is None
    err = _error(UpdateVectorStoreFile, {"attributes": {f"k{i}": 1 for i in range(17)}})
    assert err["param"] == "attributes" and "too many properties" in err["message"]
    assert str(_error(UpdateVectorStoreFile, {"attributes": {"k": [1]}})["param"]).startswith("attributes.k")


def test_file_batches_take_files_or_file_ids() -> None:
    batch = parse(CreateFileBatch, {"file_ids": ["a", "b"], "attributes": {"k": "v"}})
    assert [(e.file_id, e.attributes) for e in batch.entries()] == [("a", {"k": "v"}), ("b", {"k": "v"})]
    assert [e.file_id for e in parse(CreateFileBatch, {"files": [{"file_id": "c"}]}).entries()] == ["c"]
    assert _error(CreateFileBatch, {})["param"] == "file_ids"
    assert _error(CreateFileBatch, {"files": [{"attributes": {}}]})["param"] == "files[0].file_id"
    err = _error(CreateFileBatch, {"files": [{"file_id": "c", "attributes": {"k" * 65: "v"}}]})
    assert err["param"] == "files[0].attributes" and "at most 64 characters" in err["message"]


def test_search_body() -> None:
    assert parse(SearchVectorStore, {"query": ["a", "b"]}).queries() == ["a", "b"]
    assert parse(SearchVectorStore, {"query": "a"}).max_num_results == 10
    bad: dict[str, Any]
    for bad in ({}, {"query": ""}, {"query": []}, {"query": ["a", ""]}):
        assert _error(SearchVectorStore, bad)["param"] == "query", bad
    assert _error(SearchVectorStore, {"query": "a", "max_num_results": 51})["param"] == "max_num_results"
    assert _error(SearchVectorStore, {"query": "a", "rewrite_query": "yes"})["param"] == "rewrite_query"
    err = _error(SearchVectorStore, {"query": "a", "top_k": 3})
    assert (err["param"], err["code"]) == ("top_k", "unknown_parameter")


def test_container_bodies() -> None:
    body = parse(CreateContainer, {"name": "x", "network_policy": {"type": "allowlist", "allowed_domains": ["a.b"]}})
    assert isinstance(body.network_policy, NetworkAllowlist)  # the service refuses it: no network here
    assert _error(CreateContainer, {})["param"] == "name"
    assert _error(CreateContainer, {"name": ""})["code"] == "empty_string"
    err = _error(CreateContainer, {"name": "x", "network_policy": {"type": "allowlist"}})
    assert (err["param"], err["code"]) == ("network_policy.allowed_domains", "missing_required_parameter")
    assert _error(CreateContainer, {"name": "x", "network_policy": {"type": "open"}})["param"] == \
        "network_policy.type"
    err = _error(CreateContainer, {"name": "x", "memory_limit": "2g"})
    assert (err["param"], err["code"]) == ("memory_limit", "invalid_value")
    assert _error(CreateContainer, {"name": "x", "expires_after": {"anchor": "last_active_at", "minutes": 0}})[
        "param"] == "expires_after.minutes"
    assert _error(CreateContainerFile, {"file_id": "f", "path": "/x"})["code"] == "unknown_parameter"
    assert _error(CreateContainerFile, {})["param"] == "file_id"


def test_file_upload_fields_nest_as_their_names_say() -> None:
    form = FileUpload.from_form({"purpose": "user_data", "expires_after[anchor]": "created_at",
                                 "expires_after[seconds]": "7200"})
    assert (form.purpose, form.expires_in()) == ("user_data", 7200)
    assert FileUpload.from_form({"purpose": "assistants"}).expires_in() is None

    def error(fields: dict[str, str]) -> ErrorBody:
        with pytest.raises(APIError) as exc:
            FileUpload.from_form(fields)
        return exc.value.envelope()["error"]

    err = error({"purpose": "assistants", "expires_after[anchor]": "created_at", "expires_after[seconds]": "60"})
    assert (err["param"], err["code"]) == ("expires_after.seconds", "integer_below_min_value")
    err = error({"purpose": "assistants", "expires_after[anchor]": "created_at", "expires_after[seconds]": "x"})
    assert (err["param"], err["code"]) == ("expires_after.seconds", "invalid_type")
    assert error({})["param"] == "purpose"
    err = error({"purpose": "nonsense"})
    assert err["param"] == "purpose" and "'user_data'" in err["message"]
