"""`FileSource`: the files that input parts name (`input_file`, `input_image` by id or URL).

Stored uploads come from the file store; text is extracted with file_search's own extractors
(`extract.py`); URLs are fetched under the outbound policy (`core.netpolicy.NetworkPolicy` with
the `--fetch-allow` patterns) by the guarded client of `tools/netguard.py`: a size cap, a timeout,
redirects followed by hand (each hop checked again), every connection made to an address the
policy checked.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from respond.core.netpolicy import BlockedURL, NetworkPolicy
from respond.core.storage import FileStore
from respond.tools.file_search.extract import InvalidFile, UnsupportedFile, extract_text

if TYPE_CHECKING:  # imported on the first fetch: an upstream-only server never loads httpx2
    import httpx2

MAX_REDIRECTS = 3


class StoredFiles:
    def __init__(self, files: FileStore, policy: NetworkPolicy, *, max_bytes: int = 32 * 2**20,
                 timeout: float = 20.0) -> None:
        self.files = files
        self.policy = policy
        self.max_bytes = max_bytes
        self.timeout = timeout

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
        """The file at `url` (name, bytes).  The policy is checked for the URL and each redirect,
        and again at connect time by the guarded client (no DNS-rebinding window)."""
        import httpx2

        from respond.tools.netguard import guarded_client

        async with guarded_client(self.policy, timeout=httpx2.Timeout(self.timeout)) as client:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    await self.policy.check(url)
                    async with client.stream("GET", url) as resp:
                        if resp.is_redirect and resp.headers.get("location"):
                            url = urljoin(url, resp.headers["location"])
                            continue
                        if resp.status_code >= 400:
                            raise ValueError(f"Fetching '{url[:200]}' failed with HTTP {resp.status_code}.")
                        data = await self._read(resp)
                except (httpx2.HTTPError, BlockedURL) as exc:
                    raise ValueError(f"Fetching '{url[:200]}' failed: {exc}") from None
                return PurePosixPath(urlsplit(url).path).name or "download", data
        raise ValueError(f"Fetching '{url[:200]}' was redirected more than {MAX_REDIRECTS} times.")

    async def _read(self, resp: httpx2.Response) -> bytes:
        too_big = f"The file at '{str(resp.url)[:200]}' is larger than {self.max_bytes} bytes."
        if int(resp.headers.get("content-length") or 0) > self.max_bytes:
            raise ValueError(too_big)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes(65536):
            size += len(chunk)
            if size > self.max_bytes:
                raise ValueError(too_big)
            chunks.append(chunk)
        return b"".join(chunks)
