"""The outbound URL policy over HTTP (issue 17): every trick that got a host wildcard to reach a private
address, tried against input_file.file_url, MCP server_url and web_search's open_page; image URLs.

A canary HTTP server on 127.0.0.1 records every request it gets: an attack is refused when the request
fails with a 400 naming the field (or the tool call fails) *and* the canary saw nothing.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.spec import body_of

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


class Canary:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.seen.append((self.command, self.path))
                if self.path.startswith("/ok/redirect"):
                    self.send_response(302)
                    self.send_header("location", f"http://127.0.0.1:{outer.port}/secret")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                body = b"<html><title>secret</title><body>SECRET-CANARY</body></html>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815 - the stdlib's names

            def log_message(self, *args: object) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def hits(self, *, but: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        return [s for s in self.seen if not s[1].startswith(but)]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.srv.shutdown()


def tricks(port: int) -> list[str]:
    """URLs that must not pass `http://*.corp.example` (the first ones did before issue 17)."""
    return [
        f"http://127.0.0.1:{port}/x.corp.example",
        f"http://127.0.0.1:{port}/?x.corp.example",
        f"http://127.0.0.1:{port}/#x.corp.example",
        "http://169.254.169.254/latest/meta-data/x.corp.example",
        f"http://a.corp.example@127.0.0.1:{port}/",
        f"http://a.corp.example:pw@127.0.0.1:{port}/x.corp.example",
        f"http://2130706433:{port}/x.corp.example",
        f"http://0x7f.1:{port}/x.corp.example",
        f"http://0177.0.0.1:{port}/x.corp.example",
        f"http://[::ffff:127.0.0.1]:{port}/x.corp.example",
        f"http://LOCALHOST.:{port}/x.corp.example",
        f"http://%31%32%37.0.0.1:{port}/x.corp.example",
        f"http://127。0。0。1:{port}/x.corp.example",
        f"http://a.corp.example:{port}/",  # the pattern has no port: only 80
        f"http://127.0.0.1:{port}\\@a.corp.example/",
    ]


@pytest.fixture(scope="module")
def wild(module_server_factory, upstream_server, canary, tmp_path_factory):
    """Every outbound flag given the same host wildcard, plus one narrow path on the canary."""
    ok = f"http://127.0.0.1:{canary.port}/ok/*"
    db = f"sqlite:///{tmp_path_factory.mktemp('wild') / 'r.db'}"
    flags = [a for flag in ("--fetch-allow", "--mcp-allow", "--web-allow")
             for a in (flag, "http://*.corp.example", flag, ok)]
    return module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off", *flags,
                                 "--web-search-provider", "searxng", "--web-search-url", "http://127.0.0.1:9",
                                 "--mcp-timeout", "3", database=db)


def file_part(url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "input_file", "file_url": url}, {"type": "input_text", "text": "?"}]}]


def test_file_url_tricks_are_refused(wild, upstream, canary):
    before = len(canary.seen)
    for url in tricks(canary.port):
        with pytest.raises(openai.BadRequestError) as err:
            wild.client().responses.create(model="scripted", input=file_part(url))
        assert body_of(err)["param"] == "input[0].content[0].file_url", url
    assert canary.seen[before:] == []


def test_file_url_redirect_out_of_the_allowed_path_is_refused(wild, upstream, canary):
    before = len(canary.seen)
    with pytest.raises(openai.BadRequestError) as err:
        wild.client().responses.create(model="scripted", input=file_part(f"http://127.0.0.1:{canary.port}/ok/redirect"))
    assert "not allowed" in body_of(err)["message"]
    assert canary.seen[before:] == [("GET", "/ok/redirect")]  # never /secret


def test_file_url_that_does_not_resolve_is_refused(wild, upstream):
    with pytest.raises(openai.BadRequestError) as err:  # matches the pattern; its DNS fails: refused, not tried
        wild.client().responses.create(model="scripted", input=file_part("http://nope.corp.example/a.txt"))
    assert "did not resolve" in body_of(err)["message"]


def test_mcp_server_url_tricks_are_refused(wild, upstream, canary):
    before = len(canary.seen)
    for url in tricks(canary.port):
        with pytest.raises(openai.BadRequestError) as err:
            wild.client().responses.create(
                model="scripted", input="x",
                tools=[{"type": "mcp", "server_label": "x", "server_url": url, "headers": {"X-Secret": "s3"}}])
        assert body_of(err)["param"] == "tools[0].server_url", url
    assert canary.seen[before:] == []  # no POST carrying the request's MCP headers


def test_open_page_tricks_are_refused(wild, upstream, canary):
    before = len(canary.seen)
    urls = tricks(canary.port)
    for i in range(0, len(urls), 5):  # a few calls per response (the tool loop caps its rounds)
        chunk = urls[i:i + 5]
        upstream.reply(*[{"tool_calls": [{"name": "web_open_page", "arguments": json.dumps({"url": u})}]}
                         for u in chunk], {"content": "done"})
        r = wild.client().responses.create(model="scripted", input="x", tools=[{"type": "web_search"}])
        calls = [o for o in r.output if o.type == "web_search_call"]
        assert len(calls) == len(chunk) and all(c.status == "failed" for c in calls)
        said = [m["content"] for m in upstream.requests()[-1]["messages"] if m["role"] == "tool"]
        assert len(said) == len(chunk) and not any("SECRET-CANARY" in s for s in said)
    assert canary.seen[before:] == []


# -- input_image.image_url -------------------------------------------------------------------------------

def image(url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "input_text", "text": "what is it?"},
                                         {"type": "input_image", "image_url": url}]}]


def bad_images(port: int) -> list[str]:
    return ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/iam/", f"http://127.0.0.1:{port}/a.png",
            "http://localhost/a.png", "http://[::1]/a.png", "http://2130706433/a.png", "http://0x7f.1/a.png",
            "http://[::ffff:169.254.169.254]/", "http://10.0.0.1/a.png", "ftp://8.8.8.8/a.png", "gopher://8.8.8.8/",
            "javascript:alert(1)", "//169.254.169.254/", "a.png", "HTTP://127.0.0.1/a.png", "file:/etc/shadow",
            " http://127.0.0.1/", "http://user@8.8.8.8/a.png", "http://does-not-exist.invalid/a.png"]


@pytest.fixture(scope="module")
def plain(module_server_factory, upstream_server, tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('img') / 'r.db'}"
    return module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off", database=db)


def test_image_urls_that_are_not_public_are_400s(plain, upstream, canary):
    sent = len(upstream.requests())
    for url in bad_images(canary.port):
        with pytest.raises(openai.BadRequestError) as err:
            plain.client().responses.create(model="scripted", input=image(url))
        assert body_of(err)["param"] == "input[0].content[1].image_url", url
        assert body_of(err)["code"] == "invalid_image_url"
    with pytest.raises(openai.BadRequestError) as err:  # background: refused before it is queued
        plain.client().responses.create(model="scripted", input=image("http://169.254.169.254/"), background=True)
    assert body_of(err)["param"] == "input[0].content[1].image_url"
    with pytest.raises(openai.BadRequestError) as err:  # a tool's output carries images too
        plain.client().responses.create(model="scripted", input=[
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1",
             "output": [{"type": "input_image", "image_url": "http://127.0.0.1/x.png"}]}])
    assert body_of(err)["param"] == "input[1].output[0].image_url"
    assert len(upstream.requests()) == sent  # nothing reached the upstream


def test_data_and_public_image_urls_pass(plain, upstream):
    upstream.reply({"content": "a picture"}, {"content": "a picture"})
    plain.client().responses.create(model="scripted", input=image(PNG))
    plain.client().responses.create(model="scripted", input=image("https://8.8.8.8/cat.png"))
    got = [m["content"][1]["image_url"]["url"] for m in
           (r["messages"][-1] for r in upstream.requests()[-2:])]
    assert got == [PNG, "https://8.8.8.8/cat.png"]


def test_image_url_allow_names_private_ones(server_factory, upstream, canary):
    srv = server_factory("--upstream", upstream.base_url, "--embedded", "off",
                         "--image-url-allow", f"http://127.0.0.1:{canary.port}/images/*")
    upstream.reply({"content": "a picture"})
    allowed = f"http://127.0.0.1:{canary.port}/images/a.png"
    srv.client().responses.create(model="scripted", input=image(allowed))
    assert upstream.requests()[-1]["messages"][-1]["content"][1]["image_url"]["url"] == allowed
    for url in (f"http://127.0.0.1:{canary.port}/other.png", f"http://127.0.0.1:{canary.port}/images/../x",
                "http://169.254.169.254/", "file:///etc/passwd"):
        with pytest.raises(openai.BadRequestError) as err:
            srv.client().responses.create(model="scripted", input=image(url))
        assert body_of(err)["param"] == "input[0].content[1].image_url", url
    srv.client().responses.create(model="scripted", input=image(PNG))  # data: URLs as ever
