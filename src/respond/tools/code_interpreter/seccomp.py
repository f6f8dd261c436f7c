"""The sandbox's seccomp filter: system calls sandboxed code has no use for fail with EPERM.

The namespaces already make most of these harmless (no capability to mount, nothing outside to
trace); the filter takes them away from the kernel's attack surface as well: tracing and reading
other processes' memory, keyrings, eBPF, perf events, userfaultfd and io_uring (frequent sources
of kernel exploits), mounts and namespaces, modules, clocks, reboot, and the terminal ioctls that
push input into another program (TIOCSTI, TIOCLINUX).  Everything else is allowed: the filter
is a deny list, so numpy, pandas, matplotlib and the kernel need nothing special.

The BPF program is compiled once by libseccomp (through `pyseccomp`, ctypes over the system's
libseccomp.so.2) and handed to bubblewrap's `--seccomp FD` on each launch.  Without libseccomp
the sandbox runs without a filter and says so at start-up.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
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


def compile_filter() -> tuple[bytes | None, str]:
    """(the BPF program, a word on it): None and the reason when libseccomp is not there."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError) as exc:  # the package, or the system's libseccomp
        return None, f"no seccomp filter ({exc})"
    f = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        with contextlib.suppress(Exception):  # a call this architecture does not have
            f.add_rule(deny, name)
    for request in (TIOCSTI, TIOCLINUX):
        f.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        program = out.read()
    return program, f"seccomp filter ({len(DENIED)} calls and 2 ioctls refused)"


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
