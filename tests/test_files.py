"""The Files API through the SDK: upload, list, retrieve, content, delete; OpenAI-shaped errors."""

from __future__ import annotations

import openai
import pytest

from tests._kb import MANUAL_MD, wait_files
from tests.spec import body_of


def test_file_roundtrip(server):
    client = server.client()
    f = client.files.create(file=("manual.md", MANUAL_MD), purpose="assistants")
    assert f.id.startswith("file-") and len(f.id) == 29
    assert f.object == "file" and f.bytes == len(MANUAL_MD) and f.filename == "manual.md"
    assert f.purpose == "assistants" and f.status == "processed" and f.created_at > 0
    assert client.files.retrieve(f.id) == f
    assert client.files.content(f.id).content == MANUAL_MD
    listed = [x.id for x in client.files.list()]
    assert f.id in listed
    assert f.id not in [x.id for x in client.files.list(purpose="batch")]
    deleted = client.files.delete(f.id)
    assert deleted.id == f.id and deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as err:
        client.files.retrieve(f.id)
    assert body_of(err)["message"] == f"File with id '{f.id}' not found."
    with pytest.raises(openai.NotFoundError):
        client.files.content(f.id)


def test_file_bad_input(server):
    client = server.client()
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("empty.txt", b""), purpose="assistants")
    assert body_of(err)["param"] == "file" and body_of(err)["code"] == "empty_file"
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(file=("a.txt", b"x"), purpose="nonsense")
    assert body_of(err)["param"] == "purpose"
    r = server.http().post("/files", json={"purpose": "assistants"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = server.http().post("/files", data={"purpose": "assistants"}, files={"other": ("a.txt", b"x")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"
    with pytest.raises(openai.NotFoundError):
        client.files.delete("file-nope")


def test_file_size_limit_and_owners(app_factory, upstream):
    s = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--api-key", "k1", "--api-key", "k2",
                       "--max-file-mb", "0.001")
    a, b = s.client("k1"), s.client("k2")
    f = a.files.create(file=("m.md", MANUAL_MD), purpose="assistants")
    with pytest.raises(openai.NotFoundError):
        b.files.retrieve(f.id)
    assert f.id not in [x.id for x in b.files.list()]
    with pytest.raises(openai.APIStatusError) as err:
        a.files.create(file=("big.txt", b"x" * 1100), purpose="assistants")
    assert err.value.status_code == 413 and body_of(err)["code"] == "file_too_large"


def test_expires_after_deletes_the_file_and_its_chunks(app_factory, upstream):
    """`expires_after` is applied: past its lifetime the file is gone from the Files API and from the
    vector stores it was in (its chunks with it), on the test's clock."""
    from tests.inprocess import Clock

    clock = Clock()
    s = app_factory("--upstream", upstream.base_url, "--embedded", "off", clock=clock)
    client = s.client()
    keep = client.files.create(file=("keep.md", MANUAL_MD), purpose="assistants")
    f = client.files.create(file=("manual.md", MANUAL_MD), purpose="assistants",
                            expires_after={"anchor": "created_at", "seconds": 3600})
    assert f.expires_at == f.created_at + 3600 and keep.expires_at is None
    store = client.vector_stores.create(name="kb", file_ids=[f.id])
    wait_files(client, store.id)
    assert client.vector_stores.search(vector_store_id=store.id, query="warranty").data  # found while alive
    clock.advance(3000)  # (seconds pass for real too: ingestion on a loaded machine)
    assert client.files.retrieve(f.id).id == f.id
    clock.advance(700)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(f.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(f.id)
    assert [x.id for x in client.files.list()] == [keep.id]
    assert client.vector_stores.search(vector_store_id=store.id, query="warranty").data == []
    assert list(client.vector_stores.files.list(vector_store_id=store.id)) == []


@pytest.mark.parametrize(("fields", "param"), [
    ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"}, "expires_after.anchor"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "60"}, "expires_after.seconds"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "soon"}, "expires_after.seconds"),
    ({"expires_after[anchor]": "created_at"}, "expires_after.seconds"),
    ({"expires_after[seconds]": "3600"}, "expires_after.anchor"),
    ({"colour": "red"}, "colour"),
    ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600", "expires_after[days]": "1"},
     "expires_after.days"),
])
def test_upload_fields_are_applied_or_refused(server, fields, param):
    r = server.http().post("/files", data={"purpose": "assistants", **fields}, files={"file": ("a.txt", b"x")})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
