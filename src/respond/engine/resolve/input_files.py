"""Files and images in input parts, made into what the chosen backend can read.

Stored items keep what the client sent (`input_file` with its `file_id`, ...); the model gets
copies in which every part that names a file is resolved:

- `input_image` by `file_id` -> an `image_url` data URL of the stored bytes; a backend that
  does not take images (`vision = False`, the embedded model) answers 400 naming the part;
- `input_file` by `file_id`, `file_url` (http/https under the outbound policy, size-capped) or
  `file_data` -> for a backend that takes file parts (`file_parts = True`) the file itself (a
  data URL and its name), otherwise its extracted text in the prompt, between `<file>` tags.

`input_image.image_url` is passed on, not fetched (the upstream fetches it: vLLM and others do, from
their own network), so it is checked here like every URL Respond fetches itself: a `data:` URL, or an
http(s) URL whose host resolves only to public addresses (`core.netpolicy`), unless it matches an
operator's `--image-url-allow` pattern; anything else (`file:`, loopback, cloud metadata, the LAN) is a
400 naming the part's `image_url`.

A part of the new input that cannot be resolved is a 400 (404 for an unknown file id) naming it;
in history (an earlier turn's file since deleted) it becomes a short note instead.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

from respond.core.netpolicy import BlockedURL, NetworkPolicy
from respond.core.ports import FileSource
from respond.protocol.errors import APIError, invalid

Item = dict[str, Any]
IMAGE_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
               (b"RIFF", "image/webp"))


def _mime(filename: str, data: bytes) -> str:
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    return mimetypes.guess_type(filename)[0] or ("application/pdf" if data[:5] == b"%PDF-" else
                                                 "application/octet-stream")


def _data_url(filename: str, data: bytes) -> str:
    return f"data:{_mime(filename, data)};base64,{base64.b64encode(data).decode()}"


def _decode_data(value: object, param: str) -> bytes:
    if not isinstance(value, str):  # a fuzzed `file_data: true` was a 500
        raise invalid(f"Invalid type for '{param}.file_data': expected a string.", f"{param}.file_data",
                      "invalid_type")
    raw = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"'{param}.file_data' is not valid base64 (or a base64 data URL).", f"{param}.file_data",
                      "invalid_value") from None


def _has_files(item: Item) -> bool:
    parts = item.get("content") if item.get("type") == "message" else item.get("output")
    if isinstance(parts, dict):
        return bool(parts.get("file_id"))
    return isinstance(parts, list) and any(
        isinstance(p, dict) and (p.get("type") == "input_file" or (p.get("type") == "input_image"))
        for p in parts)


class InputFiles:
    def __init__(self, source: FileSource | None = None, image_allow: NetworkPolicy | None = None) -> None:
        self.source = source
        self.image_allow = image_allow or NetworkPolicy(flag="--image-url-allow")  # patterns allowed besides
        self.public = NetworkPolicy(flag="--image-url-allow")  # no patterns: public addresses only

    async def for_context(self, items: list[Item], owner: str, backend: Any, *, strict: bool = False,
                          param: str = "input") -> list[Item]:
        """Copies of `items` with their file and image parts resolved for `backend`."""
        if not any(_has_files(it) for it in items):
            return items
        out = []
        for i, item in enumerate(items):
            if not _has_files(item):
                out.append(item)
                continue
            key = "content" if item.get("type") == "message" else "output"
            p = f"{param}[{i}].{key}" if strict else param
            value = item[key]
            if isinstance(value, dict):  # a computer screenshot
                resolved = (await self._part({"type": "input_image", **value}, owner, backend, strict, p))
                out.append({**item, key: {**value, **{k: v for k, v in resolved.items() if k == "image_url"},
                                          "file_id": None}})
                continue
            parts = [await self._part(part, owner, backend, strict, f"{p}[{j}]" if strict else p)
                     for j, part in enumerate(value)]
            out.append({**item, key: parts})
        return out

    async def _part(self, part: Item, owner: str, backend: Any, strict: bool, param: str) -> Item:
        kind = part.get("type")
        if kind not in ("input_image", "input_file"):
            return part
        try:
            if kind == "input_image":
                return await self._image(part, owner, backend, param)
            return await self._file(part, owner, backend, param)
        except APIError as exc:
            if strict:
                raise
            return {"type": "input_text", "text": f"[an earlier {kind} is no longer available: {exc.message}]"}

    async def _image(self, part: Item, owner: str, backend: Any, param: str) -> Item:
        if not getattr(backend, "vision", True):
            raise invalid(f"The model does not accept images; remove '{param}' or use a model that does.",
                          param, "unsupported_value")
        if part.get("image_url") or not part.get("file_id"):
            await self._check_image_url(part.get("image_url"), f"{param}.image_url")
            return part
        name, data = await self._stored(part["file_id"], owner, param)
        return {"type": "input_image", "image_url": _data_url(name, data), "detail": part.get("detail", "auto")}

    async def _file(self, part: Item, owner: str, backend: Any, param: str) -> Item:
        if part.get("filename") is not None and not isinstance(part["filename"], str):
            raise invalid(f"Invalid type for '{param}.filename': expected a string.", f"{param}.filename",
                          "invalid_type")
        if part.get("file_id"):
            name, data = await self._stored(part["file_id"], owner, param)
        elif part.get("file_data"):
            name, data = part.get("filename") or "file", _decode_data(part["file_data"], param)
        else:
            name, data = await self._fetch(str(part.get("file_url")), param)
        name = part.get("filename") or name
        if getattr(backend, "file_parts", False):
            return {"type": "input_file", "filename": name, "file_data": _data_url(name, data)}
        try:
            text = self._require().extract_text(name, data)
        except ValueError as exc:
            raise invalid(f"'{param}' ({name}) has no text this model can read: {exc}", param,
                          "unsupported_value") from None
        return {"type": "input_text", "text": f'<file name="{name}">\n{text}\n</file>'}

    async def _check_image_url(self, url: object, param: str) -> None:
        if not isinstance(url, str):
            raise invalid(f"Invalid type for '{param}': expected a string.", param, "invalid_type")
        if url[:5].lower() == "data:":
            return
        try:
            if not (self.image_allow.patterns and self.image_allow.matches(url)):
                await self.public.check(url)
        except BlockedURL as exc:
            raise invalid(f"'{param}' may not be used: {exc} It must be a data: URL or an http(s) URL of a public "
                          "address.", param, "invalid_image_url") from None

    def _require(self) -> FileSource:
        if self.source is None:
            raise invalid("Files are not enabled on this server.", None, "unsupported_value")
        return self.source

    async def _stored(self, file_id: str, owner: str, param: str) -> tuple[str, bytes]:
        found = await self._require().read_file(file_id, owner)
        if found is None:
            raise APIError(404, f"No file with id '{file_id}' was found.", param=f"{param}.file_id",
                           code="file_not_found")
        return found

    async def _fetch(self, url: str, param: str) -> tuple[str, bytes]:
        try:
            return await self._require().fetch_url(url)
        except ValueError as exc:
            raise invalid(f"'{param}.file_url' could not be used: {exc}", f"{param}.file_url",
                          "invalid_value") from None
