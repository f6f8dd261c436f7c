"""`image.context_compression` (issue 19): what reaches the model, read back from the scripted upstream.

`disabled` sends images as given, `enabled` downsizes them (Pillow), `auto` picks by size; the
Response's `image` names the effective policy in the shape the SDK's `Response` accepts.
"""

from __future__ import annotations

import base64
import io
import random
import zlib
from typing import Any

import pytest
from openai.types.responses import Response
from PIL import Image

from respond.engine.resolve import images


def data_url(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB", noisy: bool = False) -> str:
    img = Image.new(mode, size, (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    if noisy:  # incompressible pixels: a large file for its size
        img = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    img.save(out, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(out.getvalue()).decode()}"


def opened(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))


def _send(server: Any, upstream: Any, url: str, policy: str | None) -> tuple[dict[str, Any], str]:
    body: dict[str, Any] = {"model": "scripted", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url}]}]}
    if policy is not None:
        body["image"] = {"context_compression": policy}
    resp = server.http().post("/responses", json=body)
    assert resp.status_code == 200, resp.text
    sent = upstream.requests()[-1]["messages"][-1]["content"][1]["image_url"]["url"]
    return resp.json(), sent


@pytest.fixture
def server(app_factory: Any, upstream: Any) -> Any:
    return app_factory("--upstream", upstream.base_url, "--embedded", "off", "--image-url-allow", "https://images.test/*")


def test_enabled_downsizes_disabled_sends_as_given(server: Any, upstream: Any) -> None:
    big = data_url((1200, 800))
    r, sent = _send(server, upstream, big, "enabled")
    assert opened(sent).size == (512, 341) and sent.startswith("data:image/jpeg;base64,")
    Response.model_validate(r, strict=True)
    assert r["image"] == {"context_compression": "enabled"}
    r, sent = _send(server, upstream, big, "disabled")
    assert sent == big and r["image"] == {"context_compression": "disabled"}
    r, sent = _send(server, upstream, big, None)  # no `image`: as given, as before the option existed
    assert sent == big and r["image"] is None
    small = data_url((300, 200))
    r, sent = _send(server, upstream, small, "enabled")  # already within the size: nothing to gain
    assert sent == small and r["image"] == {"context_compression": "enabled"}


def test_auto_picks_by_size(server: Any, upstream: Any) -> None:
    small = data_url((800, 600))
    r, sent = _send(server, upstream, small, "auto")
    assert sent == small and r["image"] == {"context_compression": "disabled"}
    Response.model_validate(r, strict=True)
    large = data_url((2000, 1000))
    r, sent = _send(server, upstream, large, "auto")
    assert opened(sent).size == (512, 256) and r["image"] == {"context_compression": "enabled"}
    heavy = data_url((700, 700), noisy=True)  # under the side limit, over the byte limit
    assert len(heavy) > images.AUTO_BYTES
    r, sent = _send(server, upstream, heavy, "auto")
    assert len(sent) < len(heavy) and opened(sent).size == (512, 512)
    # a later turn sends the earlier image compressed again (the chain's history is what the model reads)
    nxt = server.http().post("/responses", json={"model": "scripted", "input": "And now?", "previous_response_id":
                                                 r["id"], "image": {"context_compression": "auto"}})
    assert nxt.status_code == 200
    history = upstream.requests()[-1]["messages"]
    assert opened(history[0]["content"][1]["image_url"]["url"]).size == (512, 512)


def test_transparency_is_kept(server: Any, upstream: Any) -> None:
    _, sent = _send(server, upstream, data_url((1000, 1000), mode="RGBA"), "enabled")
    assert sent.startswith("data:image/png;base64,") and opened(sent).mode == "RGBA"


def test_enabled_needs_the_image_bytes(server: Any, upstream: Any) -> None:
    body = {"model": "scripted", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://images.test/cat.png"}]}]}
    resp = server.http().post("/responses", json={**body, "image": {"context_compression": "enabled"}})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "image.context_compression"
    auto = server.http().post("/responses", json={**body, "image": {"context_compression": "auto"}})
    assert auto.status_code == 200  # auto sends an image given by URL as given
    assert upstream.requests()[-1]["messages"][-1]["content"][0]["image_url"]["url"] == "https://images.test/cat.png"


def _bomb(side: int) -> str:
    """A valid PNG header claiming side x side pixels in a few hundred bytes of zeros."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    rows = zlib.compress(b"\0" * (side + 1) * 64)  # a few rows only: the rest is never decoded
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_attack_decompression_bomb_is_refused_unread(server: Any, upstream: Any) -> None:
    """A hostile client sends a tiny image claiming a huge canvas: refused before Pillow decodes it."""
    # 900 M pixels (Pillow's own guard), 100 M (where Pillow only warns), 49 M (over Respond's limit)
    for side, policy in ((30000, "enabled"), (10000, "auto"), (7000, "enabled")):
        resp = server.http().post("/responses", json={"model": "scripted", "image": {"context_compression": policy},
                                                      "input": [{"role": "user", "content": [
                                                          {"type": "input_image", "image_url": _bomb(side)}]}]})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "image_too_large"
    garbage = server.http().post("/responses", json={"model": "scripted", "image": {"context_compression": "enabled"},
                                                     "input": [{"role": "user", "content": [
                                                         {"type": "input_image",
                                                          "image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}]}]})
    assert garbage.status_code == 400 and garbage.json()["error"]["param"] == "image.context_compression"
    assert upstream.requests() == []
