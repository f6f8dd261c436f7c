"""The sandbox's seccomp filter: system calls sandboxed code has no use for fail with EPERM.

The namespaces already make most of these harmless (no capability to mount, nothing outside to
trace); the filter takes them away from the kernel's attack surface as well: tracing and reading
other processes' memory, keyrings, eBPF, perf events, userfaultfd and io_uring (frequent sources
of kernel exploits), mounts and namespaces, modules, clocks, reboot, and the terminal ioctls that
push input into another program (TIOCSTI, TIOCLINUX).  Everything else is allowed: the filter
is a deny list, so numpy, pandas, matplotlib and the kernel need nothing special.

The BPF program is compiled once by libseccomp (through `pyseccomp`, ctypes over the system's
libseccomp.so.2; in a child interpreter, so that none of it stays in the server's memory) and handed to
bubblewrap's `--seccomp FD` on each launch.  Without libseccomp
the sandbox runs without a filter and says so at start-up.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

log = logging.getLogger("respond.code_interpreter")

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup", "uselib", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "fanotify_init",
)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


# Run by compile_filter() in a child interpreter: argv[1] the denied calls, argv[2] the ioctl requests (JSON);
# stdout a line with the note, then the program (nothing after the line without libseccomp).
_COMPILE = """
import errno, json, sys, tempfile
denied, ioctls = json.loads(sys.argv[1]), json.loads(sys.argv[2])
try:
    import pyseccomp as sc
except (ImportError, RuntimeError, OSError) as exc:  # the package, or the system's libseccomp
    sys.stdout.write(f"no seccomp filter ({exc})\\n")
    sys.exit(0)
f = sc.SyscallFilter(sc.ALLOW)
deny = sc.ERRNO(errno.EPERM)
for name in denied:
    try:
        f.add_rule(deny, name)
    except Exception:  # a call this architecture does not have
        pass
for request in ioctls:
    f.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
with tempfile.TemporaryFile() as out:
    f.export_bpf(out)
    out.seek(0)
    program = out.read()
sys.stdout.buffer.write(f"seccomp filter ({len(denied)} calls and {len(ioctls)} ioctls refused)\\n".encode() + program)
"""


@functools.cache
def compile_filter() -> tuple[bytes | None, str]:
    """(the BPF program, a word on it): None and the reason when libseccomp is not there.  Compiled once
    per process, in a child interpreter: pyseccomp, ctypes and libseccomp (0.6 MB resident) never load
    in the server (bench/memory.py)."""
    argv = [sys.executable, "-c", _COMPILE, json.dumps(DENIED), json.dumps([TIOCSTI, TIOCLINUX])]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"no seccomp filter ({exc})"
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return None, f"no seccomp filter (compiling it failed: {err[-1] if err else done.returncode})"
    note, _, program = done.stdout.partition(b"\n")
    return program or None, note.decode(errors="replace")


@contextlib.contextmanager
def program_fd(program: bytes | None) -> Iterator[int | None]:
    """A fresh descriptor reading the program from its start (bwrap reads it once), closed after."""
    if program is None:
        yield None
        return
    fd = os.memfd_create("respond-seccomp", 0)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)
