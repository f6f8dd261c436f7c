"""One container's Python kernel: ipykernel in the sandbox, driven with `jupyter_client` over ipc.

The host writes a connection file (transport `ipc`, a random HMAC key) into the kernel's socket
directory, which the sandbox sees at `/run/kernel`; the kernel binds its five channels there as
Unix sockets and this side connects an `AsyncKernelClient` to the same files.  `execute()` sends
one `execute_request` and reads iopub until the kernel is idle again, keeping stream text,
results, errors and PNG images, cut at the output cap.  Past the wall-time limit it sends an
`interrupt_request` (the code sees KeyboardInterrupt and the kernel lives on); a kernel that does
not come back within `GRACE` seconds is killed with its whole sandbox (pid namespace), and so is
one that dies of a limit (CPU time, processes): the outcome says so and the next call starts a
fresh kernel on the same files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import queue
import re
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

import orjson

from respond.protocol.shapes import JSONObject
from respond.tools.code_interpreter.sandbox import CELL_CPU, ENV, Sandbox

if TYPE_CHECKING:  # jupyter_client (zmq, tornado, traitlets) is imported by the first kernel started
    from jupyter_client.asynchronous.client import AsyncKernelClient

log = logging.getLogger("respond.code_interpreter")

GRACE = 3.0  # seconds an interrupted kernel has to become idle before it is killed
START_TIMEOUT = 60.0
MAX_IMAGES = 8  # images kept from one call
MAX_IMAGE_CHARS = 4 << 20  # base64 characters of one image (~3 MiB of PNG)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A spare kernel imports the heavy libraries (and builds matplotlib's font list) while it waits, into
# sys.modules only: no name is bound in the user's namespace.
PRELOAD = ("[__import__(m) for m in ('numpy', 'pandas', 'matplotlib.pyplot') "
           "if __import__('importlib.util').util.find_spec(m.split('.')[0])] and None")
class Connection(TypedDict):
    """A Jupyter connection file over IPC sockets (the ports are socket name suffixes)."""

    shell_port: int
    iopub_port: int
    stdin_port: int
    control_port: int
    hb_port: int
    transport: str
    key: str
    signature_scheme: str


class KernelError(Exception):
    """The kernel could not be started (the message says why)."""


@dataclass
class Outcome:
    """What one code call produced."""

    logs: str = ""
    images: list[str] = field(default_factory=list)  # data: URLs of PNGs
    error: str | None = None  # a short reason when the call failed (limit, exception, kernel death)
    cap: int = 65536
    _cut: int = 0

    def text(self, s: str) -> None:
        room = self.cap - len(self.logs.encode())
        if room <= 0 or len(s.encode()) > room:
            kept = s.encode()[:max(room, 0)].decode(errors="ignore")
            self.logs += kept
            self._cut += len(s.encode()) - len(kept.encode())
            return
        self.logs += s

    def finish(self) -> None:
        if self._cut:
            self.logs += f"\n[output truncated: {self._cut} more bytes over the {self.cap}-byte limit]\n"


class Kernel:
    def __init__(self, sandbox: Sandbox, data_dir: Path, sock_dir: Path, memory_mb: int | None = None,
                 preload: bool = False) -> None:
        self.sandbox = sandbox
        self.preload = preload
        self.data_dir = data_dir
        self.sock_dir = sock_dir
        self.memory_mb = memory_mb
        self.proc: asyncio.subprocess.Process | None = None
        self.client: AsyncKernelClient | None = None
        self._stderr = b""
        self._drain: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        key = secrets.token_hex(32)
        info: Connection = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5,
                            "transport": "ipc", "key": key, "signature_scheme": "hmac-sha256"}
        # a fresh directory (the sandbox can write in it: never follow what it may have left there)
        fd = os.open(self.sock_dir / "kernel.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            self.sandbox.give(self.sock_dir / "kernel.json", f.fileno())
            f.write(orjson.dumps({**info, "ip": "/run/kernel/k"}))
        with self.sandbox.launch_fds() as sfd:
            cmd = self.sandbox.command(self.data_dir, self.sock_dir, [
                "-m", "ipykernel_launcher", "-f", "/run/kernel/kernel.json", "--IPKernelApp.quiet=True",
                "--HistoryManager.enabled=False",
                f"--IPKernelApp.exec_lines={CELL_CPU.format(n=self.sandbox.limits.cpu_seconds)}",
                *([f"--IPKernelApp.exec_lines={PRELOAD}"] if self.preload else [])], self.memory_mb, sfd)
            self.proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                             stdout=asyncio.subprocess.DEVNULL,
                                                             stderr=asyncio.subprocess.PIPE, env=ENV,
                                                             pass_fds=() if sfd is None else (sfd,))
        self._drain = asyncio.create_task(self._read_stderr())
        from jupyter_client.asynchronous.client import AsyncKernelClient

        client = AsyncKernelClient()
        client.load_connection_info(cast(Any, {**info, "ip": str(self.sock_dir / "k")}))
        self.client = client
        client.start_channels(hb=False)  # liveness is the process itself (hb would call a slow start dead)
        if not await self._ready(client):
            await self.stop()
            tail = self._stderr.decode(errors="replace").strip().splitlines()
            raise KernelError(f"the sandboxed kernel did not start: {tail[-1] if tail else 'no reply'}")

    async def _ready(self, client: AsyncKernelClient) -> bool:
        """Ask for kernel_info until it answers on shell AND its status reaches us on IOPub (the kernel is
        up and our IOPub subscription is live), or the sandbox exits.

        The IOPub check matters: a ZMQ subscriber that is still joining silently misses what is
        published, so an execute sent after only the shell reply could lose its output and its final
        `idle` status, and wait until the wall-time limit (jupyter_client's wait_for_ready checks the same)."""
        assert self.proc is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while self.proc.returncode is None and asyncio.get_running_loop().time() < deadline:
            msg_id = client.kernel_info()
            try:
                while True:
                    reply = await client.get_shell_msg(timeout=0.5)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                while True:
                    status = await client.get_iopub_msg(timeout=0.5)
                    if status["parent_header"].get("msg_id") == msg_id:
                        return True
            except queue.Empty:
                continue
        return False

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self._stderr = (self._stderr + chunk)[-4096:]

    async def execute(self, code: str, on_output: Any = None) -> Outcome:
        """Run `code`; `on_output()` is awaited at the first output (time-to-first-output probes)."""
        assert self.client is not None and self.proc is not None
        lim = self.sandbox.limits
        out = Outcome(cap=lim.output_bytes)
        loop = asyncio.get_running_loop()
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        deadline, interrupted = loop.time() + lim.wall_seconds, None
        while True:
            if self.proc.returncode is not None:
                out.error = self._death(self.proc.returncode)
                out.text(f"\n[{out.error}]\n")
                break
            now = loop.time()
            if interrupted is None and now > deadline:
                interrupted = now
                self._interrupt()
            elif interrupted is not None and now > interrupted + GRACE:
                await self.stop()
                out.error = f"The code ran past the {lim.wall_seconds:g}-second wall-time limit and was killed; " \
                            "the container's variables are lost (its files are kept)."
                out.text(f"\n[{out.error}]\n")
                break
            try:
                msg = await self.client.get_iopub_msg(timeout=0.25)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if _collect(out, msg["msg_type"], msg["content"]) and on_output is not None:
                await on_output()
                on_output = None
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                break
        if interrupted is not None and self.alive:
            out.error = f"The code ran past the {lim.wall_seconds:g}-second wall-time limit and was interrupted."
            out.text(f"\n[{out.error}]\n")
        out.finish()
        return out

    def _interrupt(self) -> None:
        assert self.client is not None
        self.client.control_channel.send(self.client.session.msg("interrupt_request", content={}))

    def _death(self, status: int) -> str:
        lim = self.sandbox.limits
        why = {128 + signal.SIGXCPU: f"it used up its CPU time ({lim.cpu_seconds} s per call)",
               128 + signal.SIGKILL: "it was killed (a hard limit: CPU time over its life, memory)"}.get(
            status, f"the kernel exited with status {status}")
        return f"The sandbox stopped: {why}; the container's variables are lost (its files are kept)."

    async def stop(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # the whole sandbox: bwrap's children die with it (--die-with-parent, pid ns)
            await self.proc.wait()
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
            self._drain = None


def _collect(out: Outcome, kind: str, content: JSONObject) -> bool:
    """Add one iopub message to the outcome; True when it was output.  The kernel runs the model's
    code, so what it says is checked, never trusted (a field of the wrong type is left out)."""
    if kind == "stream":
        text = content.get("text")
        out.text(text if isinstance(text, str) else "")
    elif kind in ("display_data", "execute_result"):
        found = content.get("data")
        data = found if isinstance(found, dict) else {}
        png = data.get("image/png")
        if isinstance(png, str) and len(out.images) >= MAX_IMAGES:
            out.text(f"[image not kept: at most {MAX_IMAGES} per call]\n")
        elif isinstance(png, str) and len(png) > MAX_IMAGE_CHARS:
            out.text(f"[image not kept: {len(png)} base64 characters, over {MAX_IMAGE_CHARS}]\n")
        elif isinstance(png, str) and _is_base64(png):
            out.images.append("data:image/png;base64," + png.replace("\n", ""))
        elif "text/plain" in data:
            out.text(str(data["text/plain"]) + "\n")
    elif kind == "error":
        traceback = content.get("traceback")
        lines = [line for line in traceback if isinstance(line, str)] if isinstance(traceback, list) else []
        out.text(_ANSI.sub("", "\n".join(lines)) + "\n")
        out.error = f"{content.get('ename')}: {content.get('evalue')}"
    else:
        return False
    return True


def _is_base64(s: str) -> bool:
    try:
        base64.b64decode(s[:64].ljust(64, "=")[:64] if len(s) > 64 else s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        return False
    return True
