"""`image.context_compression`: images downsized before they reach the model (Pillow).

- `disabled`: every image is sent as given.
- `enabled`: every image larger than `SIDE` pixels on its longer side is scaled down to fit it and
  re-encoded (JPEG, or PNG when it has transparency), which is what costs a vision model fewer image
  tokens; an image given by http(s) URL cannot be (the upstream fetches it), so `enabled` with one is a
  400 naming `image.context_compression` (send it as a data: URL or a file).
- `auto`: picks by size: an image over `AUTO_SIDE` pixels or `AUTO_BYTES` bytes is compressed as
  `enabled` does, a smaller one (or one given by URL) is sent as given.

A request without `image` sends images as given.  The Response's `image` names the effective policy:
`disabled`, or `enabled` for `enabled`, and for `auto` whichever it turned out to be (`enabled` once
an image was compressed).  The work runs in a thread; results are kept in a small LRU (a chain sends
its earlier images again every turn).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import warnings
from collections import OrderedDict
from typing import Any

from respond.core.types import Message
from respond.protocol.errors import invalid
from respond.protocol.params import ImageParam

SIDE = 512  # enabled: the longer side an image is scaled down to
AUTO_SIDE = 1536  # auto: images beyond this longer side (or AUTO_BYTES) are compressed
AUTO_BYTES = 1024 * 1024
JPEG_QUALITY = 85
MAX_PIXELS = 40_000_000  # below Pillow's own bomb guard (89M, a warning) and well within memory
_CACHE: OrderedDict[tuple[str, str], str] = OrderedDict()
_CACHE_SIZE = 64
PARAM = "image.context_compression"


def policy(image: ImageParam | None) -> str:
    return str((image or {}).get("context_compression") or "auto") if image is not None else "disabled"


async def compress_messages(messages: list[Message], mode: str) -> tuple[list[Message], bool]:
    """`messages` with their image parts compressed under `mode` (new message dicts where a part changed,
    the others shared), and whether any image was."""
    if mode == "disabled":
        return messages, False
    out: list[Message] = []
    changed = False
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list) or not any(p.get("type") == "image_url" for p in content):
            out.append(message)
            continue
        parts = []
        for part in content:
            url = (part.get("image_url") or {}).get("url") if part.get("type") == "image_url" else None
            new = await _compressed(url, mode) if isinstance(url, str) else None
            if new is not None and new != url:
                part = {**part, "image_url": {**part["image_url"], "url": new}}
                changed = True
            parts.append(part)
        out.append({**message, "content": parts})
    return out, changed


async def _compressed(url: str, mode: str) -> str | None:
    if not url.startswith("data:"):
        if mode == "enabled":
            raise invalid("'image.context_compression': 'enabled' compresses images before they reach the model, "
                          "which needs their bytes: send this image as a data: URL or a file_id (or use 'auto', "
                          "which sends an image given by URL as given).", PARAM, "unsupported_value")
        return None
    key = (hashlib.sha256(url.encode()).hexdigest(), mode)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    result = await asyncio.to_thread(_compress, url, mode)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def _too_large(size: tuple[int, int] | None = None) -> Exception:
    said = f" is {size[0]}x{size[1]} pixels" if size else " claims more pixels than Pillow decodes"
    return invalid(f"An input image{said}; image compression reads images of at most {MAX_PIXELS:,} pixels.",
                   PARAM, "image_too_large")


def _unreadable(exc: Exception) -> Exception:
    return invalid(f"An input image could not be read for compression ({exc}); send a PNG, JPEG, GIF or WebP "
                   "image, or set image.context_compression to 'disabled'.", PARAM, "invalid_image")


def _transparent(rgba: Any) -> bool:
    """Whether any pixel is not fully opaque (then PNG keeps it; JPEG would not)."""
    low = rgba.getchannel("A").getextrema()[0]
    return bool(low < 255)


def _compress(url: str, mode: str) -> str:
    """The data: URL of the image compressed under `mode` (`url` itself when it needs nothing)."""
    from PIL import Image, UnidentifiedImageError

    head, _, payload = url.partition(",")
    if ";base64" not in head:
        return url  # a percent-encoded image (SVG text): nothing to downsize
    try:
        data = base64.b64decode(payload, validate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, by MAX_PIXELS
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_large() from None
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise _unreadable(exc) from None
    try:
        with img:
            if img.width * img.height > MAX_PIXELS:  # read before decoding: a small file can claim a huge canvas
                raise _too_large(img.size)
            longer = max(img.size)
            if (mode == "auto" and longer <= AUTO_SIDE and len(data) <= AUTO_BYTES) or (
                    mode == "enabled" and longer <= SIDE):
                return url
            img.thumbnail((SIDE, SIDE))
            rgba = img.convert("RGBA")
            out = io.BytesIO()
            if _transparent(rgba):  # transparent pixels: PNG keeps them
                rgba.save(out, "PNG", optimize=True)
                kind = "image/png"
            else:
                rgba.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
                kind = "image/jpeg"
    except (OSError, ValueError) as exc:
        raise _unreadable(exc) from None
    return f"data:{kind};base64,{base64.b64encode(out.getvalue()).decode()}"
