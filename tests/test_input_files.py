"""Files and images in input parts: by file_id, file_data and file_url, as the model reads them.

A real HTTP server on 127.0.0.1 serves the file_url tests: a loopback address, so it is refused
unless the server was started with `--fetch-allow http://127.0.0.1:*`.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator

import openai
import pytest

from tests.spec import body_of, check_response

DOC = b"# Returns\n\nItems can be returned within 45 days with the receipt.\n"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = DOC if self.path == "/policy.md" else b"x" * 5_000_000
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def user_text(upstream) -> str:
    content = upstream.requests()[-1]["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_input_file_by_id_reaches_the_model_as_text(server, upstream):
    client = server.client()
    f = client.files.create(file=("policy.md", DOC), purpose="user_data")
    r = client.responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_file", "file_id": f.id}, {"type": "input_text", "text": "How long can I return?"}]}])
    check_response(server.http().get(f"/responses/{r.id}").json())
    text = user_text(upstream)
    assert '<file name="policy.md">' in text and "45 days" in text and text.endswith("How long can I return?")
    listed = client.responses.input_items.list(r.id).data[0]
    assert listed.content[0].type == "input_file" and listed.content[0].file_id == f.id  # stored as sent


def test_input_file_data(server, upstream):
    data = "data:text/markdown;base64," + base64.b64encode(DOC).decode()
    server.client().responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_file", "filename": "p.md", "file_data": data}]}])
    assert "45 days" in user_text(upstream)
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_file", "filename": "p.md", "file_data": "%%% not base64"}]}])
    assert body_of(err)["param"] == "input[0].content[0].file_data"


def test_input_file_errors_name_the_part(server, upstream):
    client = server.client()
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "x"}, {"type": "input_file", "file_id": "file-missing"}]}])
    assert body_of(err)["param"] == "input[0].content[1].file_id"
    zipped = client.files.create(file=("a.zip", b"PK\x03\x04\x00\x00"), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as err2:
        client.responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_file", "file_id": zipped.id}]}])
    assert body_of(err2)["param"] == "input[0].content[0]" and "a.zip" in body_of(err2)["message"]


def test_input_image_by_file_id_becomes_a_data_url(server, upstream):
    client = server.client()
    f = client.files.create(file=("dot.png", PNG), purpose="vision")
    client.responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is it?"}, {"type": "input_image", "file_id": f.id, "detail": "low"}]}])
    part = upstream.requests()[-1]["messages"][-1]["content"][1]
    assert part == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode(), "detail": "low"}}


def test_file_url_private_address_refused(server, upstream, web):
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_file", "file_url": f"{web}/policy.md"}]}])
    assert body_of(err)["param"] == "input[0].content[0].file_url"
    assert "private, loopback" in body_of(err)["message"] and "--fetch-allow" in body_of(err)["message"]
    with pytest.raises(openai.BadRequestError):
        server.client().responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_file", "file_url": "file:///etc/passwd"}]}])


def test_file_url_allowed_and_capped(app_factory, upstream, web):
    s = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--fetch-allow", "http://127.0.0.1:*",
                       "--max-file-mb", "1")
    s.client().responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_file", "file_url": f"{web}/policy.md"}]}])
    assert "45 days" in user_text(upstream) and '<file name="policy.md">' in user_text(upstream)
    with pytest.raises(openai.BadRequestError) as err:
        s.client().responses.create(model="scripted", input=[{"role": "user", "content": [
            {"type": "input_file", "file_url": f"{web}/big.txt"}]}])
    assert "larger than" in body_of(err)["message"]


def test_upstream_file_parts(app_factory, upstream):
    s = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--upstream-file-parts", "on")
    f = s.client().files.create(file=("policy.md", DOC), purpose="user_data")
    s.client().responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_file", "file_id": f.id}, {"type": "input_text", "text": "?"}]}])
    part = upstream.requests()[-1]["messages"][-1]["content"][0]
    assert part["type"] == "file" and part["file"]["filename"] == "policy.md"
    assert base64.b64decode(part["file"]["file_data"].split(",", 1)[1]) == DOC


def test_background_request_checks_its_files_first(server, upstream):
    with pytest.raises(openai.NotFoundError) as err:
        server.client().responses.create(model="scripted", background=True, input=[{"role": "user", "content": [
            {"type": "input_file", "file_id": "file-gone"}]}])
    assert body_of(err)["param"] == "input[0].content[0].file_id"
