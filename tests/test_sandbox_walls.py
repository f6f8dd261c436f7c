"""The code_interpreter sandbox's walls: each escape is stopped, reported as an error output, and the
server stays up.  One server with small limits (the walls do not depend on the database: SQLite)."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ["code_interpreter_call.outputs"]
AUTO = [{"type": "code_interpreter", "container": {"type": "auto"}}]


@pytest.fixture(scope="module")
def walls(module_server_factory, upstream_server):
    return module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                                 "--code-wall-seconds", "10", "--code-cpu-seconds", "6", "--code-processes", "48",
                                 "--code-memory-mb", "768", "--code-output-kb", "16", "--code-file-mb", "1")


def execute(server, upstream, code, tools=AUTO, previous=None):
    """One response whose model runs `code`: (the call item, its logs)."""
    upstream.reply({"tool_calls": [{"name": "python", "arguments": json.dumps({"code": code})}]},
                   {"content": "done"})
    r = server.client().responses.create(model="scripted", input="run it", tools=tools, include=OUTPUTS,
                                         previous_response_id=previous)
    assert r.status == "completed" and r.output_text == "done"
    call = r.output[0]
    assert call.type == "code_interpreter_call" and call.status == "completed"
    logs = "".join(o.logs for o in call.outputs or [] if o.type == "logs")
    assert server.http().get("/models").status_code == 200  # the server is up
    return r, logs


def test_no_network(walls, upstream):
    port = upstream.base_url.split(":")[-1].split("/")[0]
    code = ("import socket\n"
            f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('10.0.0.1', 80)]:\n"
            "    try:\n"
            "        socket.create_connection(addr, timeout=2)\n"
            "        print('CONNECTED', addr)\n"
            "    except OSError as e:\n"
            "        print('blocked', addr, e)\n"
            "try:\n    socket.getaddrinfo('example.com', 80)\n    print('RESOLVED')\nexcept OSError as e:\n"
            "    print('no dns', e)\n")
    _, logs = execute(walls, upstream, code)
    assert logs.count("blocked") == 3 and "CONNECTED" not in logs and "RESOLVED" not in logs
    assert "no dns" in logs


def test_no_host_files_or_processes(walls, upstream):
    code = ("import os\n"
            "try:\n    open('/etc/shadow').read()\nexcept OSError as e:\n    raise PermissionError(str(e))\n")
    _, logs = execute(walls, upstream, code)
    assert "No such file or directory: '/etc/shadow'" in logs and "PermissionError" in logs
    # only the system and the interpreter are there, read-only: not the server's database, source or home
    hidden = ["/home", "/etc/passwd", "/etc/hostname", "/var", walls.database.split("///", 1)[1],
              str(ROOT / "src" / "respond"), str(ROOT / "tests"), str(Path.home() / ".bash_history")]
    code = ("import os\n"
            "print('pids', [p for p in os.listdir('/proc') if p.isdigit()])\n"
            f"for p in {hidden!r}:\n"
            "    print(p, os.path.exists(p))\n"
            "try:\n    open('/usr/bin/evil', 'w')\nexcept OSError as e:\n    print('ro', e)\n")
    _, logs = execute(walls, upstream, code)
    for p in hidden:
        assert f"{p} False" in logs
    pids = logs.split("pids ")[1].splitlines()[0]
    assert pids in ("['1', '2']", "['2', '1']")  # bwrap's init and the kernel: none of the host's processes
    assert "Read-only file system" in logs


def test_no_other_containers_files(walls, upstream):
    client = walls.client()
    a = client.containers.create(name="a")
    client.containers.files.create(a.id, file=("secret.txt", b"the-secret-value"))
    _, logs = execute(walls, upstream, "print(open('secret.txt').read())",
                      tools=[{"type": "code_interpreter", "container": a.id}])
    assert "the-secret-value" in logs
    host_paths = glob.glob("/tmp/respond-ci-*/k*/data/secret.txt")
    assert host_paths  # where container a's files are on the host
    code = ("import glob, os\n"
            f"for p in {host_paths!r} + ['/proc/1/root/tmp']:\n"
            "    try:\n        print(open(p).read())\n    except OSError as e:\n        print('blocked', e)\n"
            "print(os.listdir('/mnt/data'), glob.glob('/tmp/respond-ci-*'))\n")
    _, logs = execute(walls, upstream, code)
    assert "the-secret-value" not in logs and "blocked" in logs
    # a link planted in /mnt/data is not followed when files are taken back
    r, _ = execute(walls, upstream, "import os\nos.symlink('/etc/hostname', '/mnt/data/leak.txt')\n"
                                    "os.symlink('/etc', '/mnt/data/etc')\nopen('/mnt/data/ok.txt', 'w').write('ok')")
    paths = [f.path for f in client.containers.files.list(r.output[0].container_id).data]
    assert paths == ["/mnt/data/ok.txt"]


def test_fork_bomb(walls, upstream):
    r, logs = execute(walls, upstream, "import os\nwhile True:\n    os.fork()")
    # the process limit refuses the fork (EAGAIN) or caps the bomb until the wall-time limit stops it
    assert "BlockingIOError" in logs or "limit" in logs
    _, logs = execute(walls, upstream, "print('alive')", previous=r.id)
    assert logs.strip() == "alive"


def test_fork_loop_past_the_process_limit_fails_inside(walls, upstream):
    """The process limit binds even when the server runs as root (RLIMIT_NPROC does not bind host root:
    the sandbox runs as an unprivileged host uid then); the server stays up and the kernel lives on."""
    code = ("import os, time\nkids = []\ntry:\n    while len(kids) < 500:\n        pid = os.fork()\n"
            "        if pid == 0:\n            time.sleep(60)\n            os._exit(0)\n        kids.append(pid)\n"
            "except OSError as e:\n    print('refused after', len(kids), type(e).__name__)\n"
            "for pid in kids:\n    os.kill(pid, 9)\n    os.waitpid(pid, 0)\nprint('forked', len(kids))\n")
    r, logs = execute(walls, upstream, code)
    forked = int(logs.split("forked ")[1].split()[0])
    assert "refused after" in logs and forked < 48, logs  # --code-processes 48 (the kernel's threads count too)
    _, logs = execute(walls, upstream, "print('alive')", previous=r.id)
    assert logs.strip() == "alive"


SYSCALLS = """import ctypes, errno, fcntl, os, platform, termios
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(256)
nr = {'x86_64': {'keyctl': 250, 'io_uring_setup': 425, 'bpf': 321, 'userfaultfd': 323, 'perf_event_open': 298},
      'aarch64': {'keyctl': 219, 'io_uring_setup': 425, 'bpf': 280, 'userfaultfd': 282, 'perf_event_open': 241}}
calls = {'ptrace': lambda: libc.ptrace(0, 0, 0, 0), 'keyctl': (0, -3, 0), 'io_uring_setup': (1, buf), 'bpf': (0, 0, 0),
         'userfaultfd': (0,), 'perf_event_open': (buf, 0, -1, -1, 0)}
for name, how in calls.items():
    ctypes.set_errno(0)
    r = how() if callable(how) else libc.syscall(nr[platform.machine()][name], *how)
    print(name, r, errno.errorcode.get(ctypes.get_errno()))
for name, path in (('TIOCSTI', '/dev/null'),):
    try:
        fcntl.ioctl(os.open(path, os.O_RDONLY), termios.TIOCSTI, b'x')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
for path in ('/x', '/etc/x', '/dev/shm/x', '/tmp/x'):
    try:
        open(path, 'w').write('x')
        print(path, 'written')
    except OSError as e:
        print(path, errno.errorcode[e.errno])
st = os.statvfs('/dev/shm')
print('shm MiB', st.f_blocks * st.f_frsize >> 20)
"""


def test_seccomp_and_read_only_root(walls, upstream):
    """System calls the code has no use for fail with EPERM (seccomp); the sandbox's own root is
    read-only (an uncapped tmpfs otherwise), /dev/shm is capped like /tmp."""
    _, logs = execute(walls, upstream, SYSCALLS)
    got = dict(line.rsplit(" ", 1) for line in logs.strip().splitlines())
    for name in ("ptrace -1", "keyctl -1", "io_uring_setup -1", "bpf -1", "userfaultfd -1", "perf_event_open -1",
                 "TIOCSTI"):
        assert got[name] == "EPERM", logs
    assert got["/x"] == got["/etc/x"] == "EROFS" and got["/dev/shm/x"] == got["/tmp/x"] == "written"
    assert got["shm MiB"] == "256"


def test_memory(walls, upstream):
    r, logs = execute(walls, upstream, "kept = 5\nx = bytearray(10 * 1024 ** 3)")
    assert "MemoryError" in logs
    _, logs = execute(walls, upstream, "print(kept)", previous=r.id)
    assert logs.strip() == "5"  # the kernel lived on


def test_loop_forever(walls, upstream):
    r, logs = execute(walls, upstream, "kept = 7\nimport time\nwhile True:\n    time.sleep(0.05)")
    assert "KeyboardInterrupt" in logs and "10-second wall-time limit" in logs
    _, logs = execute(walls, upstream, "print(kept)", previous=r.id)
    assert logs.strip() == "7"
    r, logs = execute(walls, upstream, "while True:\n    pass", previous=r.id)
    assert "used up its CPU time (6 s per call)" in logs or "wall-time limit" in logs
    _, logs = execute(walls, upstream, "print('again')", previous=r.id)
    assert logs.strip() == "again"


def test_output_and_file_size(walls, upstream):
    _, logs = execute(walls, upstream, "print('x' * 1_000_000)")
    assert len(logs) < 17 * 1024 and "[output truncated:" in logs
    _, logs = execute(walls, upstream, "open('/mnt/data/big.bin', 'wb').write(b'0' * 2_000_000)")
    assert "File too large" in logs


def test_planted_directory_link_is_not_followed(walls, upstream, tmp_path):
    """The host lays files out and removes them without following links the code planted."""
    victim = tmp_path / "x.txt"
    victim.write_text("host file")
    client = walls.client()
    c = client.containers.create(name="links")
    tools = [{"type": "code_interpreter", "container": c.id}]
    execute(walls, upstream, "import os\nos.makedirs('/mnt/data/sub')\nopen('/mnt/data/sub/x.txt', 'w').write('v1')",
            tools=tools)
    planted = next(f for f in client.containers.files.list(c.id).data if f.path == "/mnt/data/sub/x.txt")
    execute(walls, upstream, f"import os, shutil\nshutil.rmtree('/mnt/data/sub')\nos.symlink({str(tmp_path)!r}, "
                             "'/mnt/data/sub')", tools=tools)
    client.containers.files.delete(planted.id, container_id=c.id)  # the next call removes it from /mnt/data
    client.containers.files.create(c.id, file=("x.txt", b"top level"))
    _, logs = execute(walls, upstream, "import os\nprint(os.readlink('/mnt/data/sub'), open('x.txt').read())",
                      tools=tools)
    assert logs.strip() == f"{tmp_path} top level"
    assert victim.read_text() == "host file"


def test_kernel_restart_ignores_planted_socket_dir_links(walls, upstream, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("host file")
    code = ("import os\n"
            "os.remove('/run/kernel/kernel.json')\n"
            f"os.symlink({str(victim)!r}, '/run/kernel/kernel.json')\n"
            "os._exit(1)")
    r, logs = execute(walls, upstream, code)
    assert "The sandbox stopped" in logs
    _, logs = execute(walls, upstream, "print('restarted')", previous=r.id)
    assert logs.strip() == "restarted" and victim.read_text() == "host file"


def test_images_are_capped(walls, upstream):
    code = ("import base64\nfrom IPython.display import Image, display\n"
            "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')\n"
            "for _ in range(12):\n    display(Image(data=png))\n"
            "display(Image(data=png + b'0' * (4 << 20)))")
    upstream.reply({"tool_calls": [{"name": "python", "arguments": json.dumps({"code": code})}]},
                   {"content": "done"})
    r = walls.client().responses.create(model="scripted", input="x", tools=AUTO, include=OUTPUTS)
    images = [o for o in r.output[0].outputs if o.type == "image"]
    logs = "".join(o.logs for o in r.output[0].outputs if o.type == "logs")
    assert len(images) == 8 and "at most 8 per call" in logs
