"""`respond serve --processes N`: N server processes sharing one listening socket.

The supervisor (this process) binds the port, applies the database's migrations once, then forks N
children; each builds its own app (event loop, connections, background workers) and serves the
inherited socket, so the kernel spreads connections over them.  What they share lives in the
database, as it does between replicas on several hosts: responses and their events, the job queue
(claimed with leases), stored keys and their limits, the journal (one file per process).  Metrics:
prometheus-client's multiprocess mode in a directory of the supervisor's (`PROMETHEUS_MULTIPROC_DIR`
when set), so `/metrics` on any child counts all of them.

A child that dies is replaced (after a pause that grows while they keep dying); SIGTERM or SIGINT is
passed on to every child, which stops as a single server does (running background runs get
`--shutdown-grace`), and the supervisor exits once they are gone.  A child dies with its supervisor
(PR_SET_PDEATHSIG), so a killed supervisor leaves nothing serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any

from respond.config import Settings

log = logging.getLogger("respond.processes")
PR_SET_PDEATHSIG = 1
CANNOT_START = 3  # a child's exit code: it could not start (bad settings, the port...): not replaced


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _migrate(url: str) -> None:
    from respond.store.database import Database
    from respond.store.migrations import upgrade

    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()


def _in_child(work: Callable[[], None]) -> bool:
    """Run `work` in a forked child and wait for it: the supervisor stays small (the store's modules
    and connections live and die in that child).  True if it succeeded."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:  # noqa: BLE001 - logged; the exit code tells the supervisor
            log.exception("migrating the database failed")
        finally:
            logging.shutdown()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the child outlives a killed supervisor
        log.debug("PR_SET_PDEATHSIG is not available")


class Supervisor:
    def __init__(self, settings: Settings, serve: Callable[[Settings, socket.socket], None]) -> None:
        self.settings = settings
        self.serve = serve
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.failed = False  # a child could not start: everything stops, the supervisor exits 2
        self._own_metrics_dir: str | None = None

    def run(self) -> int:
        s = self.settings
        sock = bind(s.host, s.port)
        if s.metrics_multiproc_dir is None:
            self._own_metrics_dir = tempfile.mkdtemp(prefix="respond-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._own_metrics_dir  # read by prometheus-client's import
            self.settings = dataclasses.replace(s, metrics_multiproc_dir=self._own_metrics_dir)
        if not _in_child(lambda: asyncio.run(_migrate(s.database))):  # once, before the servers start
            log.error("the database's migrations failed (see above): not starting")
            return 2
        log.info("serving on http://%s:%d with %d processes", s.host, s.port, s.processes)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in range(s.processes):
                self._fork(slot, sock)
            self._watch(sock)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
            if self._own_metrics_dir is not None:
                shutil.rmtree(self._own_metrics_dir, ignore_errors=True)
        return 2 if self.failed else 0

    def _fork(self, slot: int, sock: socket.socket) -> None:
        pid = os.fork()
        if pid == 0:  # the child: serve until told to stop, never return into the supervisor's code
            code = 0
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                _die_with_parent()
                self.serve(self.settings, sock)
            except (ValueError, RuntimeError) as exc:  # the settings cannot make a server: said once, no retry
                log.error("%s", exc)
                code = CANNOT_START
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - logged; the supervisor replaces this process
                log.exception("server process %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = slot
        log.info("server process %d started (slot %d)", pid, slot)

    def _stop(self, signum: int, _frame: Any) -> None:
        if not self.stopping:
            log.info("stopping %d server processes (%s)", len(self.children), signal.Signals(signum).name)
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
                os.kill(pid, signal.SIGTERM)

    def _watch(self, sock: socket.socket) -> None:
        pause = 0.5
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                continue
            slot = self.children.pop(pid, None)
            if slot is None:
                continue
            self._dead(pid)
            if self.stopping:
                continue
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == CANNOT_START:
                log.error("server process %d could not start: stopping the others", pid)
                self.failed = True
                self._stop(signal.SIGTERM, None)
                continue
            log.error("server process %d ended (%s): starting another in %.1fs", pid, _describe(status), pause)
            time.sleep(pause)
            pause = min(pause * 2, 30.0)
            if not self.stopping:
                self._fork(slot, sock)

    def _dead(self, pid: int) -> None:
        if self.settings.metrics_multiproc_dir is None:
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.settings.metrics_multiproc_dir)  # type: ignore[no-untyped-call]


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
