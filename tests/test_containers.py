"""The Containers API through the official SDK (`client.containers`), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time

import openai
import pytest


def test_container_lifecycle(server):
    client = server.client()
    f = client.files.create(file=("data.csv", b"x,y\n1,2\n3,4\n"), purpose="user_data")
    c = client.containers.create(name="analysis", file_ids=[f.id],
                                 expires_after={"anchor": "last_active_at", "minutes": 5})
    assert c.id.startswith("cntr_") and c.object == "container" and c.name == "analysis"
    assert c.status == "running" and c.expires_after.minutes == 5 and c.expires_after.anchor == "last_active_at"
    assert abs(c.last_active_at - time.time()) < 30
    got = client.containers.retrieve(c.id)
    assert got.id == c.id and got.status == "running"
    files = client.containers.files.list(c.id).data
    assert [x.path for x in files] == ["/mnt/data/data.csv"] and files[0].source == "user"
    assert files[0].bytes == 12 and files[0].container_id == c.id
    assert client.containers.files.content.retrieve(files[0].id, container_id=c.id).read() == b"x,y\n1,2\n3,4\n"
    # default expiry: 20 minutes
    d = client.containers.create(name="other")
    assert d.expires_after.minutes == 20
    listed = client.containers.list(name="analysis")
    assert c.id in [x.id for x in listed.data] and d.id not in [x.id for x in listed.data]
    first = client.containers.list(limit=1, order="asc")
    assert len(first.data) == 1 and first.has_more
    second = client.containers.list(limit=1, order="asc", after=first.data[0].id)
    assert second.data[0].id != first.data[0].id
    client.containers.delete(d.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.retrieve(d.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.list(d.id)


def test_container_with_a_network_is_refused(server):
    # the body's model is loaded by the first request (api/containers.py): its allowlist is still refused
    with pytest.raises(openai.BadRequestError) as exc:
        server.client().containers.create(name="net", extra_body={
            "network_policy": {"type": "allowlist", "allowed_domains": ["example.com"]}})
    error = exc.value.body
    assert isinstance(error, dict) and error["param"] == "network_policy" and "no network" in error["message"]


def test_container_files(server):
    client = server.client()
    c = client.containers.create(name="files")
    up = client.containers.files.create(c.id, file=("notes.txt", b"hello"))
    assert up.object == "container.file" and up.path == "/mnt/data/notes.txt" and up.bytes == 5
    src = client.files.create(file=("table.csv", b"a\n1\n"), purpose="user_data")
    copied = client.containers.files.create(c.id, file_id=src.id)
    assert copied.path == "/mnt/data/table.csv" and copied.source == "user"
    assert client.containers.files.retrieve(up.id, container_id=c.id).path == "/mnt/data/notes.txt"
    assert {x.id for x in client.containers.files.list(c.id).data} == {up.id, copied.id}
    assert client.containers.files.content.retrieve(copied.id, container_id=c.id).read() == b"a\n1\n"
    # a path-like name cannot leave /mnt/data
    sneaky = client.containers.files.create(c.id, file=("../../etc/passwd", b"x"))
    assert sneaky.path == "/mnt/data/passwd"
    client.containers.files.delete(up.id, container_id=c.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.retrieve(up.id, container_id=c.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.create(c.id, file_id="file-nope")


def test_container_validation(server):
    http = server.http()
    r = http.post("/containers", json={})
    assert r.status_code == 400 and r.json()["error"]["param"] == "name"
    r = http.post("/containers", json={"name": "x", "expires_after": {"anchor": "created_at", "minutes": 5}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "expires_after.anchor"
    r = http.post("/containers", json={"name": "x", "expires_after": {"anchor": "last_active_at", "minutes": 0}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "expires_after.minutes"
    r = http.post("/containers", json={"name": "x", "network_policy": {"type": "allowlist",
                                                                       "allowed_domains": ["example.com"]}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "network_policy"
    r = http.post("/containers", json={"name": "x", "memory_limit": "64g"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "memory_limit"
    r = http.post("/containers", json={"name": "x", "file_ids": ["file-missing"]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "file_ids"
    r = http.post("/containers", json={"name": "x", "colour": "red"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "colour"
    r = http.post("/containers", json={"name": "x", "network_policy": {"type": "open"}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "network_policy.type"
    cid = http.post("/containers", json={"name": "x"}).json()["id"]
    r = http.post(f"/containers/{cid}/files", json={"file_id": "file-1", "path": "/etc/passwd"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"
    assert r.json()["error"]["param"] == "path"
    assert http.get("/containers/cntr_nope").status_code == 404


def test_containers_are_owner_scoped_and_durable(app_factory, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    s = app_factory("--embedded", "off", "--api-key", "alice", "--api-key", "bob", database=db)
    alice, bob = s.client(api_key="alice"), s.client(api_key="bob")
    c = alice.containers.create(name="mine")
    f = alice.containers.files.create(c.id, file=("a.txt", b"secret"))
    kept = alice.containers.create(name="kept")
    kf = alice.containers.files.create(kept.id, file=("k.txt", b"kept"))
    with pytest.raises(openai.NotFoundError):
        bob.containers.retrieve(c.id)
    with pytest.raises(openai.NotFoundError):
        bob.containers.files.content.retrieve(f.id, container_id=c.id)
    assert bob.containers.list().data == []
    # survives a restart; an idle container expires: status "expired", its files discarded, unusable
    s.stop()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        conn.execute("UPDATE containers SET last_active_at = last_active_at - 21 * 60 WHERE id = ?", (c.id,))
    s.start()
    assert alice.containers.files.content.retrieve(kf.id, container_id=kept.id).read() == b"kept"
    got = alice.containers.retrieve(c.id)
    assert got.status == "expired"
    with pytest.raises(openai.BadRequestError):
        alice.containers.files.create(c.id, file=("b.txt", b"more"))
    deadline = time.time() + 10
    while alice.containers.files.list(c.id).data and time.time() < deadline:
        time.sleep(0.2)
    assert alice.containers.files.list(c.id).data == []
