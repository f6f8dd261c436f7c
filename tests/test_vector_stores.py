"""Vector stores through the SDK: stores, files (ingestion of each kind), batches, search, errors."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests._kb import CODE_PY, GARDEN_HTML, MANUAL_MD, PLANETS_JSON, make_store, pdf_bytes, wait_files
from tests.spec import body_of

DOCS: dict[str, tuple[bytes, dict[str, Any] | None]] = {
    "manual.md": (MANUAL_MD, {"kind": "manual", "year": 2024}),
    "garden.html": (GARDEN_HTML, {"kind": "guide", "year": 2021}),
    "planets.json": (PLANETS_JSON, {"kind": "data", "year": 2023}),
    "fib.py": (CODE_PY, {"kind": "code", "year": 2022}),
    "otters.pdf": (pdf_bytes("Sea otters hold hands while they sleep so they do not drift apart."),
                   {"kind": "guide", "year": 2020}),
}


@pytest.fixture(scope="module")
def kb(server):
    client = server.client()
    store, files = make_store(client, DOCS, metadata={"team": "qa"})
    return client, store, files


def top_file(client, store, query, **kw):
    page = client.vector_stores.search(vector_store_id=store.id, query=query, **kw)
    return [r.filename for r in page.data]


def test_store_lifecycle(kb, server):
    client, store, files = kb
    got = client.vector_stores.retrieve(store.id)
    assert got.object == "vector_store" and got.name == "kb" and got.metadata == {"team": "qa"}
    assert got.status == "completed" and got.file_counts.completed == len(DOCS) and got.file_counts.total == len(DOCS)
    assert got.usage_bytes > 0
    listed = wait_files(client, store.id)
    assert {f.id for f in listed} == {f.id for f in files.values()}
    assert all(f.status == "completed" and f.last_error is None for f in listed)
    vf = client.vector_stores.files.retrieve(vector_store_id=store.id, file_id=files["manual.md"].id)
    assert vf.attributes == {"kind": "manual", "year": 2024}
    assert vf.chunking_strategy.type == "static" and vf.chunking_strategy.static.max_chunk_size_tokens == 800
    upd = client.vector_stores.update(store.id, name="renamed", expires_after={"anchor": "last_active_at", "days": 7})
    assert upd.name == "renamed" and upd.expires_after.days == 7 and upd.expires_at == upd.last_active_at + 7 * 86400
    server.clock.advance(61)  # searching touches a store at most once a minute
    client.vector_stores.search(vector_store_id=store.id, query="anything")
    used = client.vector_stores.retrieve(store.id)
    assert used.last_active_at > upd.last_active_at and used.expires_at == used.last_active_at + 7 * 86400
    assert store.id in [s.id for s in client.vector_stores.list()]


@pytest.mark.parametrize("query,expected", [
    ("how long is the warranty", "manual.md"),
    ("watering tomatoes", "garden.html"),
    ("moons of Mars", "planets.json"),
    ("fibonacci number function", "fib.py"),
    ("otters sleeping", "otters.pdf"),
])
def test_search_each_kind(kb, query, expected):
    client, store, _ = kb
    names = top_file(client, store, query)
    assert names and names[0] == expected


def test_search_semantic_without_shared_words(kb):
    client, store, _ = kb
    # no word in common with the PDF's text: only the dense side can find it
    assert top_file(client, store, "marine mammals resting", max_num_results=2)[0] == "otters.pdf"


def test_search_filters_threshold_limits(kb):
    client, store, _ = kb
    assert set(top_file(client, store, "water", filters={"type": "eq", "key": "kind", "value": "guide"})) <= {
        "garden.html", "otters.pdf"}
    compound = {"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2022},
                                           {"type": "nin", "key": "kind", "value": ["code"]}]}
    assert set(top_file(client, store, "water moons warranty", filters=compound)) <= {"manual.md", "planets.json"}
    assert len(top_file(client, store, "water", max_num_results=1)) == 1
    page = client.vector_stores.search(vector_store_id=store.id, query="warranty years",
                                       ranking_options={"score_threshold": 0.99}, rewrite_query=True)
    assert all(r.score >= 0.99 for r in page.data)
    assert page.data[0].content[0].type == "text" and "warranty" in page.data[0].content[0].text


def test_search_rewrite_query(kb):
    """rewrite_query is applied: the page's search_query shows the terms searched (function words and
    question phrasing dropped, order kept), and they find the chunk; without it the query is as sent."""
    client, store, _ = kb
    asked = "Could you please tell me: how long does the warranty of the Kettle last?"
    page = client.vector_stores.search(vector_store_id=store.id, query=asked, rewrite_query=True)
    assert page.search_query == ["long warranty kettle last"]
    assert page.data[0].filename == "manual.md" and "warranty" in page.data[0].content[0].text
    plain = client.vector_stores.search(vector_store_id=store.id, query=asked)
    assert plain.search_query == [asked]
    many = client.vector_stores.search(vector_store_id=store.id, query=["what are the moons", "of Mars?"],
                                       rewrite_query=True)
    assert many.search_query == ["moons", "mars"] and many.data[0].filename == "planets.json"
    only_stop = client.vector_stores.search(vector_store_id=store.id, query="what is it", rewrite_query=True)
    assert only_stop.search_query == ["what is it"]  # nothing left to search: kept as sent
    with pytest.raises(openai.BadRequestError) as err:
        client.vector_stores.search(vector_store_id=store.id, query="x", rewrite_query="yes")
    assert body_of(err)["param"] == "rewrite_query"


def test_search_bad_input(kb):
    client, store, _ = kb
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search(vector_store_id="vs_nope", query="x")
    with pytest.raises(openai.BadRequestError) as err:
        client.vector_stores.search(vector_store_id=store.id, query="x", filters={"type": "like", "key": "a",
                                                                                   "value": 1})
    assert body_of(err)["param"] == "filters.type"
    with pytest.raises(openai.BadRequestError) as err:
        client.vector_stores.search(vector_store_id=store.id, query="x", max_num_results=500)
    assert body_of(err)["param"] == "max_num_results"
    with pytest.raises(openai.BadRequestError) as err:  # an unknown key is named, not ignored
        client.vector_stores.search(vector_store_id=store.id, query="x", extra_body={"top_k": 3})
    assert body_of(err)["param"] == "top_k" and body_of(err)["code"] == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as err:
        client.vector_stores.search(vector_store_id=store.id, query=[])
    assert body_of(err)["param"] == "query"


def test_batches_static_chunking_and_detach(server):
    client = server.client()
    store = client.vector_stores.create(name="batch")
    long_text = " ".join(f"sentence{i} about topic{i % 7}." for i in range(300)).encode()
    a = client.files.create(file=("long.txt", long_text), purpose="assistants")
    b = client.files.create(file=("manual.md", MANUAL_MD), purpose="assistants")
    batch = client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=[a.id, b.id],
        chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}})
    assert batch.object == "vector_store.files_batch" and batch.file_counts.total == 2
    wait_files(client, store.id)
    done = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert done.status == "completed" and done.file_counts.completed == 2
    in_batch = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert {f.id for f in in_batch} == {a.id, b.id}
    hits = client.vector_stores.search(vector_store_id=store.id, query="sentence123", max_num_results=3).data
    assert hits[0].file_id == a.id and "sentence123" in hits[0].content[0].text and len(hits[0].content[0].text) < 900
    upd = client.vector_stores.files.update(file_id=a.id, vector_store_id=store.id, attributes={"tier": "gold"})
    assert upd.attributes == {"tier": "gold"}
    hits = client.vector_stores.search(vector_store_id=store.id, query="sentence123",
                                       filters={"type": "eq", "key": "tier", "value": "gold"}).data
    assert hits and all(h.file_id == a.id for h in hits)
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "completed"  # nothing left to cancel
    client.vector_stores.files.delete(file_id=a.id, vector_store_id=store.id)
    hits = client.vector_stores.search(vector_store_id=store.id, query="sentence123").data
    assert all(h.file_id != a.id for h in hits)
    client.files.delete(b.id)  # deleting the file detaches it everywhere
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0
    assert client.vector_stores.delete(store.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_bad_files_fail_with_last_error(server):
    client = server.client()
    store = client.vector_stores.create(name="bad")
    img = client.files.create(file=("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00"), purpose="assistants")
    blank = client.files.create(file=("blank.txt", b"   \n\n "), purpose="assistants")
    broken = client.files.create(file=("broken.json", b"{not json"), purpose="assistants")
    for f in (img, blank, broken):
        client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id)
    by_id = {f.id: f for f in wait_files(client, store.id)}
    assert by_id[img.id].status == "failed" and by_id[img.id].last_error.code == "unsupported_file"
    assert by_id[blank.id].last_error.code == "invalid_file"
    assert by_id[broken.id].last_error.code == "invalid_file"
    assert client.vector_stores.retrieve(store.id).file_counts.failed == 3
    failed = client.vector_stores.files.list(vector_store_id=store.id, filter="failed")
    assert len(list(failed)) == 3


def test_store_bad_input(server):
    client = server.client()
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_nope")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.create(vector_store_id="vs_nope", file_id="file-x")
    store = client.vector_stores.create(name="x")
    with pytest.raises(openai.NotFoundError) as err:
        client.vector_stores.files.create(vector_store_id=store.id, file_id="file-missing")
    assert body_of(err)["message"] == "File with id 'file-missing' not found."
    f = client.files.create(file=("a.md", MANUAL_MD), purpose="assistants")
    with pytest.raises(openai.BadRequestError) as bad:
        client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id, chunking_strategy={
            "type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 10}})
    assert body_of(bad)["param"] == "chunking_strategy.static.max_chunk_size_tokens"
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.create(name="y", expires_after={"anchor": "created_at", "days": 3})
    with pytest.raises(openai.BadRequestError) as bad:  # accepted and ignored before: a 400 naming it
        client.vector_stores.create(name="y", description="what is in it")
    assert body_of(bad)["param"] == "description"
    with pytest.raises(openai.BadRequestError) as bad:
        client.vector_stores.update(store.id, extra_body={"colour": "red"})
    assert body_of(bad)["param"] == "colour" and body_of(bad)["code"] == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as bad:  # the member of the union is not in the path
        client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[f.id], chunking_strategy={
            "type": "static", "static": {"max_chunk_size_tokens": 200}})
    assert body_of(bad)["param"] == "chunking_strategy.static.chunk_overlap_tokens"
    with pytest.raises(openai.BadRequestError) as bad:
        client.vector_stores.file_batches.create(vector_store_id=store.id, files=[
            {"file_id": f.id, "attributes": {f"k{i}": i for i in range(17)}}])
    assert body_of(bad)["param"] == "files[0].attributes"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.retrieve("vsfb_nope", vector_store_id=store.id)


def test_restart_mid_ingest_resumes(server_factory, upstream, tmp_path):
    args = ("--upstream", upstream.base_url, "--embedded", "off")
    s = server_factory(*args)
    client = s.client()
    store = client.vector_stores.create(name="durable")
    text = " ".join(f"fact{i} is about item{i}." for i in range(800)).encode()
    f = client.files.create(file=("facts.txt", text), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}})
    s.kill()  # SIGKILL while the file is being ingested
    s2 = server_factory(*args, database=s.database)
    c2 = s2.client()
    files = wait_files(c2, store.id, timeout=120)
    assert files[0].status == "completed", files[0]
    assert "resuming ingestion" in s2.log_path.read_text()
    hits = c2.vector_stores.search(vector_store_id=store.id, query="fact799").data
    assert "fact799" in hits[0].content[0].text


@pytest.mark.slow  # embeds 1,600 sentences
def test_cancel_batch(server):
    client = server.client()
    store = client.vector_stores.create(name="cancel")
    text = " ".join(f"fact{i} is about item{i}." for i in range(800)).encode()
    ids = [client.files.create(file=(f"f{n}.txt", text), purpose="assistants").id for n in range(2)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}})
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled" and cancelled.file_counts.cancelled >= 1
    files = wait_files(client, store.id)
    assert all(f.status in ("cancelled", "completed") for f in files)
    done = {f.id for f in files if f.status == "completed"}
    hits = client.vector_stores.search(vector_store_id=store.id, query="fact5").data
    assert all(h.file_id in done for h in hits)
