"""Runs code in a container: its kernel (one per container in this process) and its files.

The store is the truth for a container's files; a live container has a host directory (the
sandbox's `/mnt/data`) that mirrors them.  Around each call:

- sync in: files added, replaced or deleted through the API (on any replica) since the last call
  are written to (or removed from) the directory;
- execute in the container's kernel (started on first use, restarted after it died: variables
  live as long as the kernel, files as long as the container);
- sync out: regular files the code created or changed (size or mtime) become container files
  (`source: assistant`), their paths in names.py's escaped form (any bytes the filesystem gave;
  `on_disk` turns them back when files are laid out).  The walk never follows a symlink
  (`os.fwalk` + `O_NOFOLLOW`): the sandbox could plant one pointing at a host path.

Calls to one container are serialised by a lock.  At most `max_kernels` kernels live in the
process; starting one more stops the least recently used idle one (its state is lost, its files
are not).  Once code has run, one spare kernel is kept started ahead (`spares`): the next new
container takes it (an empty sandbox with an empty /mnt/data: nothing in it was any container's)
instead of waiting for a kernel to start; it has imported numpy, pandas and matplotlib meanwhile.  A kernel's state is per process: another replica serving the same container starts a
kernel of its own on the same files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from respond.core.containers import ContainerStore
from respond.core.ports import Row
from respond.protocol.ids import token_id
from respond.tools.code_interpreter.kernel import Kernel, Outcome
from respond.tools.code_interpreter.names import MAX_PATH_BYTES, fits, on_disk, stored
from respond.tools.code_interpreter.sandbox import Sandbox

log = logging.getLogger("respond.code_interpreter")

DATA = "/mnt/data/"
MAX_NEW_FILES = 100  # files taken from one call's /mnt/data (the rest are left out, and said so)


@dataclass
class Live:
    kernel: Kernel
    data: Path
    known: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (file id, bytes) as in the store
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # relative path -> (size, mtime_ns) on disk
    used: float = field(default_factory=time.monotonic)


class CodeRunner:
    def __init__(self, store: ContainerStore, sandbox: Sandbox, *, max_kernels: int = 8, spares: int = 1) -> None:
        self.store = store
        self.sandbox = sandbox
        self.max_kernels = max_kernels
        self.spares = spares  # 0 or 1: a kernel started ahead for the next new container
        self._spare: asyncio.Future[Live] | None = None
        self._count = 0
        self.live: dict[str, Live] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:  # short: ipc socket paths must fit in 107 bytes
            self._root = Path(tempfile.mkdtemp(prefix="respond-ci-"))
        return self._root

    async def run(self, container: Row, owner: str, code: str,
                  on_output: Callable[[], Awaitable[None]] | None = None) -> tuple[Outcome, list[Row]]:
        """Execute `code` in the container; the outcome and the container files it wrote."""
        cid = container["id"]
        async with self.locks.setdefault(cid, asyncio.Lock()):
            live = await self._ensure(cid, container.get("memory_mb"))
            live.used = time.monotonic()
            await self._sync_in(live, cid, owner)
            outcome = await live.kernel.execute(code, on_output)
            too_long: list[str] = []
            written, skipped = await self._sync_out(live, cid, owner, too_long)
            if too_long:
                outcome.text(f"\n[{len(too_long)} files in /mnt/data were not kept: a path longer than "
                             f"{MAX_PATH_BYTES} bytes ({', '.join(too_long)})]\n")
            if skipped:
                outcome.text(f"\n[{skipped} more new files in /mnt/data were not kept: at most {MAX_NEW_FILES} "
                             "per call]\n")
            return outcome, written

    async def _ensure(self, cid: str, memory_mb: int | None) -> Live:
        live = self.live.get(cid)
        if live is not None and live.kernel.alive:
            return live
        await self._make_room()
        if live is None:
            live = await self._take_spare(memory_mb) or await self._fresh(memory_mb)
            self.live[cid] = live
        else:  # the kernel died (a limit): a new one on the same files, with new sockets
            old = live.kernel.sock_dir
            self._count += 1
            sock = old.parent / f"s{self._count}"
            sock.mkdir()
            self.sandbox.give(sock)
            shutil.rmtree(old, ignore_errors=True)  # rmtree does not follow links
            live.kernel = Kernel(self.sandbox, live.data, sock, memory_mb)
            await live.kernel.start()
        if self.spares:
            self._spawn_spare()
        return live

    async def _fresh(self, memory_mb: int | None, preload: bool = False) -> Live:
        self._count += 1
        base = self.root / f"k{self._count}"
        (base / "data").mkdir(parents=True)
        (base / "s").mkdir()
        self.sandbox.give(base / "data")
        self.sandbox.give(base / "s")
        kernel = Kernel(self.sandbox, base / "data", base / "s", memory_mb, preload)
        try:
            await kernel.start()
        except BaseException:  # a start cut short (a spare cancelled at shutdown) leaves no sandbox, no channels
            await kernel.stop()
            shutil.rmtree(base, ignore_errors=True)
            raise
        return Live(kernel, base / "data")

    def _spawn_spare(self) -> None:
        """Start a kernel for the next new container (nothing in it is any container's yet)."""
        if self._spare is None:
            self._spare = asyncio.ensure_future(self._fresh(None, preload=True))

    async def _take_spare(self, memory_mb: int | None) -> Live | None:
        spare, self._spare = self._spare, None
        if spare is None or (memory_mb or self.sandbox.limits.memory_mb) < self.sandbox.limits.memory_mb:
            self._spare = spare
            return None
        try:
            live = await spare
        except Exception:  # it failed to start: make one the usual way (which says why)
            return None
        return live if live.kernel.alive else None

    async def _make_room(self) -> None:
        running = [(lv.used, cid) for cid, lv in self.live.items() if lv.kernel.alive]
        for _, cid in sorted(running)[:max(0, len(running) - self.max_kernels + 1)]:
            lock = self.locks.get(cid)
            if lock is None or not lock.locked():
                log.info("stopping the kernel of %s (at most %d kernels)", cid, self.max_kernels)
                await self.live[cid].kernel.stop()

    async def _sync_in(self, live: Live, cid: str, owner: str) -> None:
        rows, _ = await self.store.list_files(cid, owner, after=None, limit=10_000, order="asc")
        current = {r["path"]: (r["id"], r["bytes"]) for r in rows if r["path"].startswith(DATA)}
        for path in set(live.known) - set(current):
            rel = on_disk(path[len(DATA):])
            _in_dir(live.data, rel, None, None)
            live.seen.pop(rel, None)
            del live.known[path]
        for path, (fid, size) in current.items():
            if live.known.get(path) == (fid, size):
                continue
            data = await self.store.file_content(cid, fid, owner)
            rel = on_disk(path[len(DATA):])
            sig = _in_dir(live.data, rel, data or b"", self.sandbox.run_as)
            if sig is None:
                log.warning("container %s: %s not laid out (a link or non-directory is in its way)", cid, path)
                continue
            live.known[path], live.seen[rel] = (fid, size), sig

    async def _sync_out(self, live: Live, cid: str, owner: str, too_long: list[str]) -> tuple[list[Row], int]:
        changed = await asyncio.to_thread(_scan, live.data, live.seen, self.sandbox.limits.file_mb << 20)
        written: list[Row] = []
        for rel, data, sig in changed[:MAX_NEW_FILES]:
            path = DATA + stored(rel)  # the name's bytes, escaped where they are not safe text
            if not fits(path):  # left out (once: it is marked seen), and said so
                live.seen[rel] = sig
                too_long.append(path[:60] + "...")
                continue
            row = await self.store.put_file({"id": token_id("cfile", 32), "container_id": cid, "path": path,
                                             "created_at": int(time.time()), "source": "assistant"}, owner, data)
            live.known[path], live.seen[rel] = (row["id"], len(data)), sig
            written.append(row)
        return written, max(0, len(changed) - MAX_NEW_FILES)

    async def stop(self, cid: str) -> None:
        """Stop the container's kernel and drop its directory (expired or deleted container)."""
        live = self.live.pop(cid, None)
        self.locks.pop(cid, None)
        if live is not None:
            await live.kernel.stop()
            shutil.rmtree(live.data.parent, ignore_errors=True)

    async def close(self) -> None:
        for cid in list(self.live):
            await self.stop(cid)
        if self._spare is not None:
            spare, self._spare = self._spare, None
            spare.cancel()
            live = (await asyncio.gather(spare, return_exceptions=True))[0]
            if isinstance(live, Live):
                await live.kernel.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


def _in_dir(root: Path, rel: str, data: bytes | None, uid: int | None) -> tuple[int, int] | None:
    """Write (or, for None, remove) `root/rel` without following any link the sandbox may have
    planted on the way: each directory is opened with O_NOFOLLOW from its parent's descriptor.
    What is made is given to `uid` (the sandbox's host uid, when not the server's own).
    Returns the written file's (size, mtime_ns), or None when the path is blocked."""
    *dirs, name = rel.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in dirs:
            made = False
            if data is not None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    made = True
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            if made and uid is not None:
                os.fchown(nfd, uid, uid)
            os.close(fd)
            fd = nfd
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)  # a link stays a link: unlink removes the link itself
        if data is None:
            return None
        wfd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        if uid is not None:
            os.fchown(wfd, uid, uid)
        with os.fdopen(wfd, "wb") as f:
            f.write(data)
            f.flush()
            st = os.fstat(f.fileno())
        return st.st_size, st.st_mtime_ns
    except (OSError, ValueError):  # ELOOP / ENOTDIR / EISDIR: something of the sandbox's is in the way; NUL
        return None
    finally:
        os.close(fd)


def _scan(root: Path, seen: dict[str, tuple[int, int]], max_bytes: int) -> list[tuple[str, bytes, tuple[int, int]]]:
    """Regular files under `root` new or changed since `seen`, read without following any link."""
    out = []
    for dirpath, _dirs, files, dfd in os.fwalk(root, follow_symlinks=False):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
                    continue
                sig = (st.st_size, st.st_mtime_ns)
                if seen.get(rel) == sig:
                    continue
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
                with os.fdopen(fd, "rb") as f:
                    data = f.read(max_bytes + 1)
            except OSError:
                continue
            if len(data) <= max_bytes:
                out.append((rel, data, sig))
    return sorted(out)
