"""The upstreams' HTTP/1.1 client (backends/http1.py) against a raw asyncio server that answers each
request with canned bytes: the framings a server may choose, keep-alive, timeouts, broken replies."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from respond.backends import http1
from respond.backends.http1 import ConnectTimeout, HTTPError, Pool

Next = Callable[[], Awaitable[bytes]]  # reads (and records) the next request on the connection
Handler = Callable[[Next, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A server on a free port; yields its URL, the requests it read and one entry per connection."""
    seen: list[bytes] = []
    conns: list[int] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(1)

        async def next_request() -> bytes:
            raw = await _request(reader)
            seen.append(raw)
            return raw

        try:
            await handler(next_request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen, conns
    finally:
        server.close()


def _pool(url: str, idle: float = 2.0) -> Pool:
    return Pool(url, {"Authorization": "Bearer k"}, connect=2.0, idle=idle)


def _deadline(seconds: float = 10.0) -> float:
    return asyncio.get_running_loop().time() + seconds


def test_a_request_as_sent_and_keep_alive_reuse() -> None:
    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        while True:
            await next_request()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n"
                         b"content-length: 7\r\n\r\n{\"a\":1}")

    async def main() -> None:
        async with serving(handler) as (url, seen, conns):
            pool = _pool(url)
            for _ in range(3):
                reply = await pool.request("POST", "/chat/completions", b'{"x":1}', "application/json", _deadline())
                assert (reply.status, reply.content_type) == (200, "application/json")
                assert await reply.read() == b'{"a":1}'
                reply.release()
            assert len(conns) == 1  # one connection, kept alive
            head = seen[0].decode()
            assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
            for line in (f"host: {url.split('/')[2]}", "authorization: Bearer k", "content-type: application/json",
                         "content-length: 7"):
                assert line in head.split("\r\n")
            assert head.endswith('\r\n\r\n{"x":1}')
            pool.close()

    asyncio.run(main())


@pytest.mark.parametrize("framing", ["chunked", "eof", "length"])
def test_lines_across_chunk_boundaries(framing: str) -> None:
    body = [b"data: one\n", b"\nda", b"ta: t", b"wo\r\n\n", b"data: [DONE]\n\ntail"]

    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        await next_request()
        if framing == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in body:
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        else:
            length = b"" if framing == "eof" else b"content-length: %d\r\n" % sum(map(len, body))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" + length + b"\r\n")
            for part in body:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)
            if framing == "eof":
                writer.close()
                return
        await asyncio.sleep(1)

    async def main() -> None:
        async with serving(handler) as (url, _, _):
            pool = _pool(url)
            reply = await pool.request("POST", "/x", b"{}", "application/json", _deadline())
            assert reply.content_type == "text/event-stream"
            lines = [line async for batch in reply.lines() for line in batch]
            assert lines == [b"data: one", b"", b"data: two\r", b"", b"data: [DONE]", b"", b"tail"]
            assert reply.at_eof()
            reply.release()
            assert (len(pool._idle) == 1) is (framing != "eof")  # a body ended by EOF ends its connection
            pool.close()

    asyncio.run(main())


def test_idle_timeout_connection_lost_and_garbage() -> None:
    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        raw = await next_request()
        if b"/stall" in raw:
            await asyncio.sleep(5)
        elif b"/cut" in raw:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await writer.drain()
        else:
            writer.write(b"<html>not http</html>\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(1)

    async def main() -> None:
        async with serving(handler) as (url, _, _):
            pool = _pool(url, idle=0.3)
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(TimeoutError):
                await pool.request("GET", "/stall", None, None, _deadline())
            assert loop.time() - start < 2
            reply = await pool.request("GET", "/cut", None, None, _deadline())
            with pytest.raises(HTTPError):
                await reply.read()
            reply.close()
            with pytest.raises(HTTPError):
                await pool.request("GET", "/garbage", None, None, _deadline())
            with pytest.raises(TimeoutError):  # the deadline, before the idle limit
                await pool.request("GET", "/stall", None, None, _deadline(0.1))
            pool.idle = 5.0
            start = loop.time()
            with pytest.raises(TimeoutError):  # headers_by (the first-byte limit), before idle and the deadline
                await pool.request("GET", "/stall", None, None, _deadline(), headers_by=loop.time() + 0.1)
            assert loop.time() - start < 2
            pool.close()

    asyncio.run(main())


def test_connect_failures() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(HTTPError):  # nothing listens there
            await _pool(f"http://127.0.0.1:{port}").request("GET", "/", None, None, _deadline())
        async def never(*args: object, **kwargs: object) -> None:  # a SYN that gets no answer
            await asyncio.sleep(60)

        loop = asyncio.get_running_loop()
        loop.create_connection = never  # type: ignore[method-assign,assignment]
        with pytest.raises(ConnectTimeout):
            await Pool(f"http://127.0.0.1:{port}/v1", {}, connect=0.2, idle=1.0).request("GET", "/", None, None,
                                                                                    _deadline())
        with pytest.raises(ValueError):
            Pool("ftp://example.com", {}, connect=1.0, idle=1.0)

    asyncio.run(main())


def test_a_peer_closing_an_idle_connection_drops_it_from_the_pool() -> None:
    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        await next_request()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)  # then the server closes it (its keep-alive timeout)

    async def main() -> None:
        async with serving(handler) as (url, _, conns):
            pool = _pool(url)
            reply = await pool.request("GET", "/a", None, None, _deadline())
            assert await reply.read() == b"ok"
            reply.release()
            assert len(pool._idle) == 1
            await asyncio.sleep(0.3)
            assert pool._idle == []
            reply = await pool.request("GET", "/b", None, None, _deadline())
            assert await reply.read() == b"ok"
            assert len(conns) == 2
            pool.close()

    asyncio.run(main())


def test_reading_pauses_while_the_reader_lags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_BUFFER", 1000)
    total = 200_000

    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        await next_request()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        for _ in range(total // 1000):
            writer.write(b"x" * 999 + b"\n")
            await writer.drain()

    async def main() -> None:
        async with serving(handler) as (url, _, _):
            pool = _pool(url)
            reply = await pool.request("GET", "/big", None, None, _deadline())
            await asyncio.sleep(0.2)
            assert reply._paused and reply._buffered < 200_000
            n = 0
            async for batch in reply.lines():
                n += sum(len(line) + 1 for line in batch)
            assert n == total and not reply._paused
            reply.release()
            pool.close()

    asyncio.run(main())


def test_https_verifies_the_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS with the default context (the system's CAs, or SSL_CERT_FILE): a trusted certificate works,
    an untrusted one is refused."""
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        writer.close()

    async def main(trusted: bool) -> None:
        server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        pool = _pool(f"https://127.0.0.1:{port}/v1")
        try:
            if trusted:
                reply = await pool.request("GET", "/models", None, None, _deadline())
                assert await reply.read() == b"ok"
                reply.release()
            else:
                with pytest.raises(HTTPError):
                    await pool.request("GET", "/models", None, None, _deadline())
        finally:
            pool.close()
            server.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    asyncio.run(main(trusted=False))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    asyncio.run(main(trusted=True))


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_get_on_a_connection_that_died_idle_is_sent_again() -> None:
    """The peer closed a kept connection and the loop has not seen it yet: a GET goes again on a new
    connection, a POST fails (the upstream may have received it)."""
    async def handler(next_request: Next, writer: asyncio.StreamWriter) -> None:
        while True:
            await next_request()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    async def stale(pool: Pool) -> None:
        reply = await pool.request("GET", "/a", None, None, _deadline())
        assert await reply.read() == b"ok"
        reply.release()
        (kept,) = pool._idle
        assert kept.transport is not None
        kept.transport.abort()  # its connection_lost runs on the loop's next turn: after the next request is sent

    async def main() -> None:
        async with serving(handler) as (url, _, conns):
            pool = _pool(url)
            await stale(pool)
            reply = await pool.request("GET", "/b", None, None, _deadline())
            assert await reply.read() == b"ok" and len(conns) == 2
            reply.release()
            await stale(pool)
            with pytest.raises(HTTPError):
                await pool.request("POST", "/c", b"{}", "application/json", _deadline())
            pool.close()

    asyncio.run(main())


@pytest.mark.parametrize("headers", [{"authorization": "Bearer k\r\nx-injected: 1"}, {"authorization": "Bearer k\n"},
                                     {"x-a\r\nx-b": "v"}, {"x-a:b": "v"}, {"authorization": "Bearer \0"}])
def test_a_header_that_would_split_the_request_is_refused(headers: dict[str, str]) -> None:
    # an API key read with its line break (or written to smuggle a header) must not reach the wire
    with pytest.raises(ValueError, match="line break"):
        Pool("http://127.0.0.1:9/v1", headers, connect=1, idle=1)
