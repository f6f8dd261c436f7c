"""Issue 17 item 5: no byte loses a response.  A NUL (JSON's \\u0000) in any stored string is kept and
returned exactly, the same on SQLite and PostgreSQL (PostgreSQL refuses NUL in text: the plain
columns store it escaped, store/safetext.py); a lone surrogate is a 400; and a value the database
refuses is a 4xx at once, never retried as an outage.  Timing bounds show no retry wait."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from respond.store.safe_escape import escape, unescape
from tests.test_background import wait_status

NUL = "\x00"
FAST = 20.0  # seconds: below the old 30 s of retries; a stream took 6.5 s under a load average of 15 (2 cores)


def test_escape_is_a_bijection_that_never_writes_nul_or_surrogates() -> None:
    samples = ["", "plain", "a\x00b", "\x00" * 64, "\ufdd0", "\ufdd1", "\ufdd1\ufdd0", "\ufdd1\U000f0000",
               "\ud800", "x\udfffy", "\x00\ufdd1\ud800\ufdd0\udbff", "日本\x00語"]
    for s in samples:
        e = escape(s)
        assert unescape(e) == s
        assert "\x00" not in e
        e.encode("utf-8")  # no lone surrogate left
    assert len({escape(s) for s in samples}) == len(samples)
    assert escape("\x00" * 64) == "\ufdd0" * 64  # a NUL keeps its length: it still fits its column


def _meta() -> dict[str, str]:
    return {f"k{NUL}ey": f"v{NUL}al", "plain": f"{NUL}", "k": "\ufdd0\ufdd1"}


@pytest.mark.parametrize("mode", ["plain", "stream", "background"])
def test_nul_in_every_field_is_stored_and_returned_exactly(server: Any, upstream: Any, mode: str) -> None:
    client = server.client(timeout=30)
    model = f"scr{NUL}ipted"
    text = f"a{NUL}b \ufdd0 c"
    instructions = f"be{NUL}brief"
    upstream.reply({"content": f"out{NUL}put"})
    start = time.monotonic()
    kw: dict[str, Any] = {"model": model, "input": text, "instructions": instructions, "metadata": _meta()}
    if mode == "stream":
        with client.responses.stream(**kw) as stream:
            final = stream.get_final_response()
        rid = final.id
    elif mode == "background":
        rid = client.responses.create(**kw, background=True).id
        final = wait_status(client, rid, {"completed", "failed"})
    else:
        final = client.responses.create(**kw)
        rid = final.id
    assert time.monotonic() - start < FAST
    assert final.status == "completed", final
    got = client.responses.retrieve(rid)
    assert got.model == model and got.instructions == instructions and got.metadata == _meta()
    assert got.output_text == f"out{NUL}put"
    items = client.responses.input_items.list(rid).data
    assert items[0].content[0].text == text
    # the model read exactly what was sent
    assert upstream.requests()[-1]["messages"][-1]["content"] == text
    # and the operator's listing (model, preview, metadata rows) holds it too
    assert client.responses.retrieve(rid).metadata[f"k{NUL}ey"] == f"v{NUL}al"


def test_nul_in_a_conversation_and_a_file(server: Any, upstream: Any) -> None:
    client = server.client(timeout=30)
    conv = client.conversations.create(metadata={f"t{NUL}": f"v{NUL}"}, items=[
        {"type": "message", "role": "user", "content": f"hi{NUL}there"}])
    assert client.conversations.retrieve(conv.id).metadata == {f"t{NUL}": f"v{NUL}"}
    upstream.reply({"content": "ok"})
    r = client.responses.create(model="scripted", input=f"more{NUL}", conversation=conv.id)
    assert r.status == "completed"
    texts = [it.content[0].text for it in client.conversations.items.list(conv.id, order="asc").data]
    assert texts == [f"hi{NUL}there", f"more{NUL}", "ok"]
    f = client.files.create(file=(f"a{NUL}b.txt", b"x\x00y"), purpose="user_data")
    got = client.files.retrieve(f.id)
    assert got.filename in (f"a{NUL}b.txt", "a%00b.txt")  # as the client sent it (httpx escapes it)
    assert client.files.content(f.id).content == b"x\x00y"


def test_lone_surrogates_are_a_400(server: Any) -> None:
    with server.http() as http:
        for body in ('{"model": "scripted", "input": "a\\ud800b"}', '{"model": "scripted", "input": "x", '
                     '"metadata": {"k": "\\udc00"}}', '{"model": "scr\\udfffipted", "input": "x"}'):
            r = http.post("/responses", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("mode", ["plain", "stream", "background"])
def test_a_value_the_database_refuses_is_a_400_at_once(server: Any, upstream: Any, mode: str) -> None:
    """Two metadata keys that are the same once cut to their column (64 characters, escaped) collide
    in the metadata rows' primary key: an IntegrityError on both databases.  It is answered at once
    and is never retried as if the database were away."""
    meta = {"\ufdd0" * 33 + "a": "1", "\ufdd0" * 33 + "b": "2"}
    upstream.reply({"content": "never stored"})
    body: dict[str, Any] = {"model": "scripted", "input": "x", "metadata": meta}
    if mode == "stream":
        body["stream"] = True
    elif mode == "background":
        body["background"] = True
    with server.http() as http:
        start = time.monotonic()
        r = http.post("/responses", json=body)
        took = time.monotonic() - start
        after = http.post("/responses", json={"model": "scripted", "input": "still fine"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_value"
    assert took < FAST, took
    assert after.status_code == 200, after.text  # nothing else is held up


def test_a_data_error_is_not_an_outage() -> None:
    import sqlite3

    from sqlalchemy.exc import IntegrityError, OperationalError

    from respond.store.availability import data_error, unavailable

    integrity = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert data_error(integrity) and not unavailable(integrity)
    down = OperationalError("SELECT", {}, ConnectionRefusedError(111, "refused"))
    assert not data_error(down)
    assert not data_error(ValueError("x"))
    assert httpx  # the module's client, for the HTTP tests above
