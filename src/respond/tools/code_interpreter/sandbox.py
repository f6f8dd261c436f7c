"""The sandbox the model's code runs in: bubblewrap (Linux namespaces, no setuid, no daemon).

`Sandbox.command(data_dir, sock_dir, argv)` wraps a command so that it runs

- with nothing of the server's environment: bwrap itself is started with an empty environment
  (it is PID 1 in the sandbox, so its `/proc/1/environ` is readable there) and gives its child
  only a fixed list of harmless variables;
- in new user, PID, network, IPC, UTS and cgroup namespaces (`--unshare-all`): no network at all
  (only a loopback nobody listens on), no view of the host's processes, as uid 1000 with every
  capability dropped, unable to make user namespaces of its own (`--disable-userns`);
- as an unprivileged host uid even when the server runs as root (`RUN_AS`, nobody): the
  per-user process limit does not bind host root, so a sandbox mapped onto root could fork
  without bound.  Started as root, the command is a short chain: `unshare` a private mount
  namespace, bind the interpreter's directories and the container's two directories onto a
  world-traversable staging directory (the interpreter may live under a home only root can
  enter), `setpriv` to `RUN_AS`, then bwrap, which binds them from there.  Directories the
  sandbox writes are handed to `RUN_AS` (`Sandbox.give`);
- on a root made of read-only binds of the system (`/usr` and its merged-/usr links, the loader
  cache) and of the Python environment it runs (prefix and base prefix), a fresh `/proc` and
  `/dev`, a private size-capped tmpfs `/tmp` mounted *before* the interpreter's binds (so an
  interpreter that lives under /tmp stays visible); nothing else of the host's tree (no
  `/etc/shadow`, no home, no other container);
- with exactly two writable host directories: the container's own files at `/mnt/data` and the
  kernel's ZMQ `ipc` socket directory at `/run/kernel` (a kernel in a network namespace cannot
  reach TCP on the host's loopback, so the Jupyter channels are Unix sockets in a bind-mounted dir);
- under resource limits set by the launcher inside the sandbox (so that they count there):
  RLIMIT_CPU (10x the per-call CPU seconds over a process's life; the per-call soft limit is
  reset before each cell by `CELL_CPU`), RLIMIT_AS (memory), RLIMIT_NPROC (processes and threads,
  per user namespace), RLIMIT_FSIZE (largest file written); wall time and output size are
  enforced by the host side (kernel.py);
- killed with its parent (`--die-with-parent`), in its own session (`--new-session`: no TIOCSTI).

The sandbox's own root is read-only once it is laid out (`--remount-ro /`: it is a tmpfs with no
size cap), and `/dev/shm` is a size-capped tmpfs like `/tmp`.  A seccomp filter (seccomp.py,
passed as `--seccomp FD`; `launch_fds()`) refuses system calls the code has no use for.

`probe()` checks once, at start-up, that bwrap runs and that the sandboxed Python imports the
kernel; without it the tool is refused (never run unsandboxed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from respond.tools.code_interpreter.seccomp import compile_filter, program_fd

log = logging.getLogger("respond.code_interpreter")

# Runs inside the sandbox: set the limits, then become the program.
# argv: cpu mem nproc fsize, then "-m" module args... or "-c" code args...
LAUNCHER = """import resource as r, runpy, sys
cpu, mem, nproc, fsize = (int(v) for v in sys.argv[1:5])
r.setrlimit(r.RLIMIT_CPU, (cpu * LIFE, cpu * LIFE))
for lim, v in ((r.RLIMIT_AS, mem), (r.RLIMIT_NPROC, nproc), (r.RLIMIT_FSIZE, fsize), (r.RLIMIT_CORE, 0)):
    r.setrlimit(lim, (v, v))
mode, target, sys.argv = sys.argv[5], sys.argv[6], sys.argv[6:]
if mode == "-c":
    r.setrlimit(r.RLIMIT_CPU, (cpu, cpu * LIFE))
if mode == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
""".replace("LIFE", "10")

# Each cell may use `n` more CPU seconds than the kernel has used so far (the soft limit: SIGXCPU
# ends the kernel); run by the kernel at start-up (IPKernelApp.exec_lines), leaving no names behind.
CELL_CPU = ("get_ipython().events.register('pre_run_cell', (lambda r, n: lambda *a: r.setrlimit(r.RLIMIT_CPU, "
            "(min(int(sum(r.getrusage(r.RUSAGE_SELF)[:2])) + n, r.getrlimit(r.RLIMIT_CPU)[1]), "
            "r.getrlimit(r.RLIMIT_CPU)[1])))(__import__('resource'), {n}))")

# Cheap (no heavy import): the sandbox runs Python, and the kernel's packages are there.
PROBE = """import importlib.util as u, sys
missing = [m for m in ("ipykernel", "matplotlib", "numpy") if u.find_spec(m) is None]
sys.exit("missing in the sandbox's Python: " + ", ".join(missing) if missing else 0)
"""

RUN_AS = 65534  # the host uid (and gid) of sandboxed code when the server runs as root: nobody
# Run as root, before bwrap: bind each source onto the staging directory's numbered mountpoint in a
# private mount namespace (never the host's), then become the rest of the arguments.
STAGE = 'set -e; m=$1 d=$2 n=$3; shift 3; i=0; while [ $i -lt $n ]; do "$m" --bind "$1" "$d/$i"; shift; ' \
        'i=$((i+1)); done; exec "$@"'
ENV: dict[str, str] = {}  # bwrap's own environment (PID 1 in the sandbox: readable there)

MEMORY_LIMITS = {"1g": 1024, "4g": 4096, "16g": 16384, "64g": 65536}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one container's code may use (all configurable by `respond serve` flags)."""

    cpu_seconds: int = 60  # CPU time of one call (soft RLIMIT_CPU); 10x that over a process's life (hard)
    wall_seconds: float = 60.0  # one code call, from start to last output
    memory_mb: int = 1024  # address space of each process (a container's memory_limit may ask less)
    processes: int = 64  # processes and threads in the container's user namespace
    output_bytes: int = 65536  # logs kept from one call (the rest is cut, and said so)
    file_mb: int = 64  # largest file the code may write
    tmp_mb: int = 256  # the private /tmp


@dataclass
class Sandbox:
    bwrap: str | None = None  # the bwrap binary; None: found on PATH
    python: str = field(default_factory=lambda: sys.executable)
    limits: Limits = field(default_factory=Limits)
    available: bool = False
    reason: str = "not probed"
    run_as: int | None = field(default_factory=lambda: RUN_AS if os.geteuid() == 0 else None)

    def __post_init__(self) -> None:
        self.seccomp, self.seccomp_note = compile_filter()
        self.bwrap = self.bwrap or shutil.which("bwrap")
        self._py = Path(self.python)
        prefix = Path(sys.prefix) if Path(self.python).resolve() == Path(sys.executable).resolve() else None
        self.mounts = _python_mounts(self._py, prefix)
        self._stage: Path | None = None

    def give(self, path: Path, fd: int | None = None) -> None:
        """Hand a directory or file the sandbox writes (by path, or open as `fd`) to its host uid."""
        if self.run_as is not None:
            if fd is not None:
                os.fchown(fd, self.run_as, self.run_as)
            else:
                os.chown(path, self.run_as, self.run_as, follow_symlinks=False)

    def _staging(self, count: int) -> Path:
        """Empty world-traversable mountpoints 0..count-1, mounted only in each launch's own namespace, so
        one directory serves every process: `<tmp>/respond-sandbox-stage`, if it is root's own directory
        that nobody else may write (else a private one, removed at exit)."""
        if self._stage is None:
            shared = Path(tempfile.gettempdir()) / "respond-sandbox-stage"
            with contextlib.suppress(FileExistsError):
                shared.mkdir(0o755)
            st = os.lstat(shared)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                self._stage = shared
            else:
                self._stage = Path(tempfile.mkdtemp(prefix="respond-sbx-"))
                os.chmod(self._stage, 0o755)
                weakref.finalize(self, shutil.rmtree, str(self._stage), True)
        for i in range(count):
            with contextlib.suppress(FileExistsError):
                (self._stage / str(i)).mkdir(0o755)
        return self._stage

    def launch_fds(self) -> contextlib.AbstractContextManager[int | None]:
        """The seccomp program's descriptor for one launch (None: no filter): pass it to `command()`
        and to the process (`pass_fds`); it is closed when the block ends."""
        return program_fd(self.seccomp)

    def command(self, data_dir: Path, sock_dir: Path | None, argv: list[str], memory_mb: int | None = None,
                seccomp_fd: int | None = None) -> list[str]:
        """bwrap + the launcher + `argv` (["-m", module, *args] or ["-c", code, *args])."""
        assert self.bwrap is not None
        lim = self.limits
        mem = min(memory_mb or lim.memory_mb, lim.memory_mb)
        cmd = [self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
               "--cap-drop", "ALL", "--uid", "1000", "--gid", "1000", "--hostname", "sandbox"]
        cmd += _system_mounts()
        # /tmp first: an interpreter that lives under /tmp is bound over it, not hidden by it
        cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(lim.tmp_mb << 20), "--tmpfs", "/tmp",
                "--size", str(lim.tmp_mb << 20), "--tmpfs", "/dev/shm"]
        sources = [*self.mounts, data_dir, *([sock_dir] if sock_dir is not None else [])]
        prefix: list[str] = []
        if self.run_as is not None:  # root: bind from the staging directory, as RUN_AS
            stage = self._staging(len(sources))
            prefix = [_tool("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c", STAGE, "sh",
                      _tool("mount"), str(stage), str(len(sources)), *map(str, sources),
                      _tool("setpriv"), "--reuid", str(self.run_as), "--regid", str(self.run_as), "--clear-groups",
                      "--no-new-privs", "--", _tool("env"), "-i"]  # sh exports PWD: bwrap's environment stays empty
            sources = [stage / str(i) for i in range(len(sources))]
        for src, path in zip(sources, self.mounts, strict=False):
            cmd += ["--ro-bind", str(src), str(path)]
        cmd += ["--bind", str(sources[len(self.mounts)]), "/mnt/data", "--chdir", "/mnt/data"]
        if sock_dir is not None:
            cmd += ["--bind", str(sources[-1]), "/run/kernel"]
        cmd += ["--remount-ro", "/"]
        if seccomp_fd is not None:
            cmd += ["--seccomp", str(seccomp_fd)]
        env = {"HOME": "/tmp", "PATH": f"{self._py.parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "MPLBACKEND": "module://matplotlib_inline.backend_inline", "MPLCONFIGDIR": "/tmp/.matplotlib",
               "IPYTHONDIR": "/tmp/.ipython", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        cmd.append("--clearenv")
        for k, v in env.items():
            cmd += ["--setenv", k, v]
        cmd += ["--", str(self._py), "-I", "-c", LAUNCHER, str(lim.cpu_seconds), str(mem << 20),
                str(lim.processes), str(lim.file_mb << 20), *argv]
        return prefix + cmd

    def probe(self) -> bool:
        """Run the sandbox once: bwrap works and its Python has what the kernel needs."""
        if self.bwrap is None:
            self.available, self.reason = False, "bubblewrap (bwrap) is not installed"
            return False
        with tempfile.TemporaryDirectory(prefix="respond-probe-") as tmp:
            try:
                self.give(Path(tmp))
                with self.launch_fds() as fd:
                    cmd = self.command(Path(tmp), None, ["-c", PROBE], seccomp_fd=fd)
                    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False, env=ENV,
                                          pass_fds=() if fd is None else (fd,))
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.available, self.reason = False, f"bwrap could not run: {exc}"
                return False
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            self.available, self.reason = False, f"the sandbox failed: {err[-1] if err else done.returncode}"
            return False
        self.available, self.reason = True, "available"
        return True

    def describe(self) -> str:
        lim = self.limits
        who = f"host uid {self.run_as}" if self.run_as is not None else "the server's uid"
        return (f"bubblewrap {self.bwrap}, python {self.python}, as {who}; limits: {lim.cpu_seconds} CPU s/call, "
                f"{lim.wall_seconds:g} s wall/call, {lim.memory_mb} MiB memory, {lim.processes} processes, "
                f"{lim.output_bytes} B output/call, {lim.file_mb} MiB/file, no network, {self.seccomp_note}")


def _tool(name: str) -> str:
    """A util-linux tool's path (the root-only launch chain); OSError when it is missing."""
    found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        raise FileNotFoundError(f"{name} (util-linux) is needed to sandbox code when the server runs as root")
    return found


def _system_mounts() -> list[str]:
    """/usr read-only, and /bin, /lib, ... as the host has them (merged-/usr links or directories)."""
    out = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            out += ["--ro-bind", str(host), str(host)]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts"):
        if os.path.exists(etc):
            out += ["--ro-bind", etc, etc]
    return out


def _python_mounts(python: Path, prefix: Path | None) -> list[Path]:
    """The interpreter's environment: its virtualenv (if any) and the installation it is made from."""
    real = python.resolve()
    roots = {real.parent.parent}  # <base>/bin/python3.x -> <base>
    if prefix is not None:
        roots.add(prefix)
        roots.add(Path(sys.base_prefix))
    venv_cfg = python.parent.parent / "pyvenv.cfg"
    if venv_cfg.exists():
        roots.add(python.parent.parent)
    return sorted(r for r in roots if not str(r).startswith("/usr"))  # /usr is bound already
