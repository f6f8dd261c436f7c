"""`FileSource`: the files that input parts name (`input_file`, `input_image` by id or URL).

Stored uploads come from the file store; text is extracted with file_search's own extractors
(`extract.py`); URLs are fetched with aiohttp under the outbound policy (`core.netpolicy.NetworkPolicy`, given
by bootstrap with the `--fetch-allow` patterns): a
size cap, a total timeout, no redirects to unchecked hosts (each hop is checked again).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp

from respond.core.storage import FileStore
from respond.tools.file_search.extract import InvalidFile, UnsupportedFile, extract_text

MAX_REDIRECTS = 3


class UrlPolicy(Protocol):
    """May a request made for a model reach `url`?  Raises (any exception, its message says why)
    if not: `core.netpolicy.NetworkPolicy`, or any policy with the same `check`."""

    async def check(self, url: str) -> None: ...


class StoredFiles:
    def __init__(self, files: FileStore, policy: UrlPolicy, *, max_bytes: int = 32 * 2**20,
                 timeout: float = 20.0) -> None:
        self.files = files
        self.policy = policy
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))

    async def read_file(self, file_id: str, owner: str) -> tuple[str, bytes] | None:
        meta = await self.files.get_file(file_id, owner)
        if meta is None:
            return None
        data = await self.files.file_content(file_id, owner)
        return (str(meta["filename"]), data) if data is not None else None

    def extract_text(self, filename: str, data: bytes) -> str:
        try:
            return extract_text(filename, data)
        except (UnsupportedFile, InvalidFile) as exc:
            raise ValueError(str(exc).replace("for file search", "as text")) from None

    async def fetch_url(self, url: str) -> tuple[str, bytes]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    await self.policy.check(url)
                except Exception as exc:  # a policy's refusal, whatever its exception type
                    raise ValueError(str(exc)) from None
                try:
                    async with session.get(url, allow_redirects=False) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                            url = urljoin(url, resp.headers["location"])
                            continue
                        if resp.status >= 400:
                            raise ValueError(f"Fetching '{url[:200]}' failed with HTTP {resp.status}.")
                        data = await self._read(resp)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise ValueError(f"Fetching '{url[:200]}' failed: {exc!r}.") from None
                name = PurePosixPath(urlsplit(url).path).name or "download"
                return name, data
        raise ValueError(f"Fetching '{url[:200]}' was redirected more than {MAX_REDIRECTS} times.")

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        if (resp.content_length or 0) > self.max_bytes:
            raise ValueError(f"The file at '{str(resp.url)[:200]}' is larger than {self.max_bytes} bytes.")
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > self.max_bytes:
                raise ValueError(f"The file at '{str(resp.url)[:200]}' is larger than {self.max_bytes} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)
