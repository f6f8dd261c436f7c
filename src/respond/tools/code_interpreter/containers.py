"""The Containers API use cases, shaped as OpenAI's objects (`client.containers` in the SDK).

A container is a named workspace for code_interpreter: its files (uploaded, copied from the
Files API, or written by code under /mnt/data) live in the store; its kernel lives in the
process that runs its code (runner.py).  It expires after `expires_after.minutes` (default 20)
without use: code calls and file operations move `last_active_at`.  An expired container keeps
its row (`status: "expired"`), its files are discarded by the sweeper and it can no longer be
used.  Every read is owner scoped: another owner's container is a 404.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from respond.core.containers import ContainerStore
from respond.core.ports import Row
from respond.core.storage import FileStore
from respond.protocol.errors import APIError, invalid, not_found
from respond.protocol.ids import token_id
from respond.protocol.pagination import page
from respond.protocol.shapes import ListPage

if TYPE_CHECKING:  # parsed by the route (api/containers.py), which loads the model on first use
    from respond.protocol.resource_bodies import CreateContainer
from respond.tools.code_interpreter.names import fit
from respond.tools.code_interpreter.runner import DATA, CodeRunner
from respond.tools.code_interpreter.sandbox import MEMORY_LIMITS, Sandbox

log = logging.getLogger("respond.code_interpreter")

DEFAULT_MINUTES = 20
_NO_NETWORK = ("'{param}': this server's containers have no network; only {{\"type\": \"disabled\"}} is "
               "supported.")


def container_object(c: Row, now: float | None = None) -> Row:
    expired = c["last_active_at"] + c["expires_minutes"] * 60 < (now or time.time())
    return {"id": c["id"], "object": "container", "created_at": c["created_at"], "name": c["name"],
            "status": "expired" if expired else "running",
            "expires_after": {"anchor": "last_active_at", "minutes": c["expires_minutes"]},
            "last_active_at": c["last_active_at"], "memory_limit": c.get("memory_limit") or "1g",
            "network_policy": {"type": "disabled"}}


def file_object(f: Row) -> Row:
    return {"id": f["id"], "object": "container.file", "bytes": f["bytes"], "container_id": f["container_id"],
            "created_at": f["created_at"], "path": f["path"], "source": f["source"]}


def safe_path(filename: str) -> str:
    """/mnt/data/<the name's last part>, in the stored form of names.py (no NUL: no file name holds one;
    cut to fit the longest stored path)."""
    name = PurePosixPath(filename.replace("\\", "/").replace("\x00", "")).name.strip()
    if name in ("", ".", ".."):
        name = "upload"
    return fit(DATA, name)


class Containers:
    def __init__(self, store: ContainerStore, files: FileStore, sandbox: Sandbox, *, max_file_bytes: int,
                 max_kernels: int = 8, spares: int = 1, sweep_seconds: float = 30.0) -> None:
        self.store = store
        self.files = files
        self.sandbox = sandbox
        self.runner = CodeRunner(self.store, sandbox, max_kernels=max_kernels, spares=spares)
        self.max_file_bytes = max_file_bytes
        self.sweep_seconds = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.runner.close()

    async def _sweep_forever(self) -> None:
        while True:  # at start-up, then every `sweep_seconds`
            try:
                await self.sweep()
            except Exception:  # the next sweep tries again
                log.exception("container sweep failed")
            await asyncio.sleep(self.sweep_seconds)

    async def sweep(self) -> None:
        """Discard the data of expired containers: their kernels here, their files everywhere."""
        now = int(time.time())
        for cid in await self.store.expired(now):
            await self.runner.stop(cid)
            await self.store.purge_files(cid)
            log.info("container %s expired: its files were discarded", cid)
        for cid in list(self.runner.live):
            if cid not in self.runner.locks or not self.runner.locks[cid].locked():
                row = await self.store.get_by_id(cid)
                if row is None or row["last_active_at"] + row["expires_minutes"] * 60 < now:
                    await self.runner.stop(cid)

    # -- containers --------------------------------------------------------------------------------
    async def create(self, owner: str, body: CreateContainer) -> Row:
        _no_nul(body.name, "name")
        minutes = body.expires_after.minutes if body.expires_after else DEFAULT_MINUTES
        memory = check_memory(body.memory_limit, self.sandbox.limits.memory_mb, "memory_limit")
        from respond.protocol.resource_bodies import NetworkAllowlist  # loaded with `body`'s model

        if isinstance(body.network_policy, NetworkAllowlist):
            raise invalid(_NO_NETWORK.format(param="network_policy"), "network_policy", "unsupported_parameter")
        if body.skills:
            raise invalid("Skills are not supported by this server's containers.", "skills", "unsupported_parameter")
        return container_object(await self.new(owner, body.name, body.file_ids, "file_ids", memory, minutes))

    async def new(self, owner: str, name: str, file_ids: Any, param: str, memory: str = "1g",
                  minutes: int = DEFAULT_MINUTES) -> Row:
        """Make a container with copies of `file_ids` (all checked first; a 404 names `param`)."""
        file_ids = file_ids or []
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise invalid(f"'{param}' must be an array of file ids.", param, "invalid_type")
        for fid in file_ids:
            if await self.files.get_file(fid, owner) is None:
                raise not_found("File", fid, param)
        now = int(time.time())
        c: Row = {"id": token_id("cntr", 32), "name": name, "created_at": now, "last_active_at": now,
             "expires_minutes": minutes, "memory_limit": memory}
        await self.store.add(c, owner)
        for fid in file_ids:
            await self._copy(owner, c["id"], fid)
        return {**c, "memory_mb": MEMORY_LIMITS[memory]}

    async def get(self, owner: str, cid: str) -> Row:
        c = await self.store.get(cid, owner)
        if c is None:
            raise not_found("Container", cid)
        return c

    async def retrieve(self, owner: str, cid: str) -> Row:
        return container_object(await self.get(owner, cid))

    async def use(self, owner: str, cid: str, param: str | None = None) -> Row:
        """A container about to be used: it must exist for the owner and not have expired; touched."""
        c = await self.store.get(cid, owner)
        if c is None:
            raise not_found("Container", cid, param)
        if container_object(c)["status"] == "expired":
            raise invalid(f"Container '{cid}' has expired; create a new one.", param, "container_expired")
        now = int(time.time())
        await self.store.touch(cid, now)
        mb = MEMORY_LIMITS.get(c.get("memory_limit") or "1g")
        return {**c, "last_active_at": now, "memory_mb": mb}

    async def list_containers(self, owner: str, *, name: str | None, after: str | None, limit: int, order: str) -> ListPage[Row]:
        if name is not None:
            _no_nul(name, "name")
        rows, more = await self.store.list_containers(owner, name=name, after=after, limit=limit, order=order)
        now = time.time()
        return page([container_object(r, now) for r in rows], more)

    async def delete(self, owner: str, cid: str) -> Row:
        if not await self.store.delete(cid, owner):
            raise not_found("Container", cid)
        await self.runner.stop(cid)
        return {"id": cid, "object": "container.deleted", "deleted": True}

    # -- files -------------------------------------------------------------------------------------
    async def upload(self, owner: str, cid: str, filename: str, data: bytes) -> Row:
        await self.use(owner, cid)
        if len(data) > self.max_file_bytes:
            raise APIError(413, f"File is too large: {len(data)} bytes; the limit is {self.max_file_bytes} bytes.",
                           param="file", code="file_too_large")
        return file_object(await self._put(owner, cid, safe_path(filename), data, "user"))

    async def copy(self, owner: str, cid: str, file_id: Any) -> Row:
        await self.use(owner, cid)
        if not isinstance(file_id, str) or not file_id:
            raise invalid("Send a multipart 'file' or a JSON 'file_id'.", "file_id", "missing_required_parameter")
        if await self.files.get_file(file_id, owner) is None:
            raise not_found("File", file_id, "file_id")
        return file_object(await self._copy(owner, cid, file_id))

    async def _copy(self, owner: str, cid: str, file_id: str) -> Row:
        meta = await self.files.get_file(file_id, owner)
        data = await self.files.file_content(file_id, owner)
        assert meta is not None
        return await self._put(owner, cid, safe_path(meta["filename"]), data or b"", "user")

    async def _put(self, owner: str, cid: str, path: str, data: bytes, source: str) -> Row:
        return await self.store.put_file({"id": token_id("cfile", 32), "container_id": cid, "path": path,
                                          "created_at": int(time.time()), "source": source}, owner, data)

    async def list_files(self, owner: str, cid: str, *, after: str | None, limit: int, order: str) -> ListPage[Row]:
        await self.get(owner, cid)
        rows, more = await self.store.list_files(cid, owner, after=after, limit=limit, order=order)
        return page([file_object(r) for r in rows], more)

    async def get_file(self, owner: str, cid: str, file_id: str) -> Row:
        await self.get(owner, cid)
        row = await self.store.get_file(cid, file_id, owner)
        if row is None:
            raise not_found("Container file", file_id)
        return file_object(row)

    async def content(self, owner: str, cid: str, file_id: str) -> tuple[Row, bytes]:
        meta = await self.get_file(owner, cid, file_id)
        return meta, await self.store.file_content(cid, file_id, owner) or b""

    async def delete_file(self, owner: str, cid: str, file_id: str) -> Row:
        await self.get(owner, cid)
        if not await self.store.delete_file(cid, file_id, owner):
            raise not_found("Container file", file_id)
        return {"id": file_id, "object": "container.file.deleted", "deleted": True}


def _no_nul(value: str, param: str) -> None:
    """A NUL is refused alike on every database (PostgreSQL text cannot hold one)."""
    if "\x00" in value:
        raise invalid(f"Invalid '{param}': it contains a NUL character.", param, "invalid_value")


def check_memory(raw: Any, max_mb: int, param: str) -> str:
    if raw is None:
        raw = "1g"
    if raw not in MEMORY_LIMITS:
        raise invalid(f"Invalid value for '{param}': '{raw}'. Supported values are: "
                      f"{', '.join(MEMORY_LIMITS)}.", param, "invalid_value")
    if MEMORY_LIMITS[raw] > max_mb and raw != "1g":
        raise invalid(f"'{param}' {raw} is more than this server allows ({max_mb} MiB).", param, "invalid_value")
    return str(raw)


def check_network(raw: Any, param: str) -> None:
    if raw is None or (isinstance(raw, dict) and raw.get("type") == "disabled"):
        return
    raise invalid(_NO_NETWORK.format(param=param), param, "unsupported_parameter")
