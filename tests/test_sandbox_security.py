"""The code_interpreter sandbox against a hostile model (issue 17): the server's secrets never reach
sandboxed code, the sandbox works from an interpreter under /tmp, and any file name the code
writes is stored, listed and downloaded safely (SQLite and PostgreSQL)."""

from __future__ import annotations

import glob
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

OUTPUTS = ["code_interpreter_call.outputs"]
AUTO = [{"type": "code_interpreter", "container": {"type": "auto"}}]


def run(code: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "python", "arguments": json.dumps({"code": code})}]}


def call(server, upstream, code, api_key="test-key", tools=AUTO, stream=False):
    """One response whose model runs `code`: (the response, its call's logs)."""
    upstream.reply(run(code), {"content": "done"})
    client = server.client(api_key=api_key)
    if stream:
        with client.responses.stream(model="scripted", input="run it", tools=tools, include=OUTPUTS) as s:
            r = s.get_final_response()
    else:
        r = client.responses.create(model="scripted", input="run it", tools=tools, include=OUTPUTS)
    assert r.status == "completed", r
    item = r.output[0]
    assert item.type == "code_interpreter_call" and item.status == "completed", item
    return r, "".join(o.logs for o in item.outputs or [] if o.type == "logs")


# Every process the code can see: its environment and its command line, as bytes.
READ_ALL_PROCS = """import glob, os
seen = []
for d in sorted(set(glob.glob('/proc/[0-9]*') + glob.glob('/proc/[0-9]*/task/[0-9]*') + ['/proc/self'])):
    for f in ('environ', 'cmdline'):
        try:
            data = open(d + '/' + f, 'rb').read()
            seen.append(d + '/' + f)
            print(d, f, data.replace(b'\\0', b' ').decode('latin-1'))
        except OSError as e:
            print(d, f, 'unreadable', e)
print('READ', len(seen), 'PIDS', sorted(p for p in os.listdir('/proc') if p.isdigit()))
print('ENV', sorted(os.environ))
"""


def test_server_secrets_never_reach_sandboxed_code(server_factory, upstream_server, upstream):
    keys = {name: f"{name.lower()}-{secrets.token_hex(16)}" for name in
            ("RESPOND_ADMIN_KEY", "RESPOND_UPSTREAM_API_KEY", "RESPOND_API_KEY", "RESPOND_SECRET_KEY")}
    env = {**keys, "RESPOND_OTHER_SECRET": "other-" + secrets.token_hex(16)}
    srv = server_factory("--upstream", upstream_server.base_url, "--embedded", "off", "--code-output-kb", "1024",
                         env=env)
    r, logs = call(srv, upstream, READ_ALL_PROCS, api_key=keys["RESPOND_API_KEY"])
    assert "[output truncated" not in logs
    # it did read them: pid 1 (bwrap, the sandbox's init) and the kernel, each environ and cmdline
    assert "/proc/1 environ unreadable" not in logs and "/proc/1 cmdline unreadable" not in logs
    assert "/proc/1 environ \n" in logs  # bwrap's environment is empty (not even PWD)
    assert int(logs.split("READ ")[1].split()[0]) >= 4 and "MPLBACKEND" in logs
    stored = srv.http(keys["RESPOND_API_KEY"]).get(f"/responses/{r.id}",
                                                   params={"include[]": OUTPUTS}).text
    assert "MPLBACKEND" in stored  # the stored response holds the same output
    for value in env.values():
        assert value not in logs and value not in stored
    for name in env:
        assert name not in logs


def test_interpreter_under_tmp(server_factory, upstream_server, upstream, monkeypatch):
    """A server run from a virtualenv under /tmp (here: a link to this one, at a /tmp path) runs code:
    the sandbox's own /tmp no longer hides the interpreter (it said `bwrap: execvp ...: No such file`)."""
    with tempfile.TemporaryDirectory(prefix="respond-venv-", dir="/tmp") as tmp:
        venv = Path(tmp) / "venv"
        venv.symlink_to(sys.prefix, target_is_directory=True)
        assert (venv / "pyvenv.cfg").exists()
        python = venv / "bin" / Path(sys.executable).name
        monkeypatch.setattr(sys, "executable", str(python))
        srv = server_factory("--upstream", upstream_server.base_url, "--embedded", "off")
        monkeypatch.undo()
        _, logs = call(srv, upstream, "import sys\nprint('prefix', sys.prefix, sys.executable)")
        assert logs.split() == ["prefix", str(venv), str(python)]
        assert "NOT available" not in srv.log_path.read_text()


# Names a filesystem takes that are not plain text: bytes that are not UTF-8, CR/LF, a backslash,
# a bidi override (an "exe" shown as "txt"), and plain UTF-8 that must be kept as it is.
WRITE_NAMES = r"""
open(b'/mnt/data/bad\xff\xfe.txt', 'wb').write(b'bad')
open('/mnt/data/日本.txt', 'w').write('jp')
open('/mnt/data/cr\r\nlf.txt', 'w').write('crlf')
open('/mnt/data/back\\slash.txt', 'w').write('bs')
open('/mnt/data/x\u202etxt.exe', 'w').write('bidi')
"""
STORED = {"/mnt/data/bad\\xff\\xfe.txt": b"bad", "/mnt/data/日本.txt": b"jp", "/mnt/data/cr\\u000d\\u000alf.txt": b"crlf",
          "/mnt/data/back\\\\slash.txt": b"bs", "/mnt/data/x\\u202etxt.exe": b"bidi"}


def test_file_names_any_bytes(server, upstream):
    client = server.client()
    r, logs = call(server, upstream, WRITE_NAMES)
    cid = r.output[0].container_id
    files = {f.path: f for f in client.containers.files.list(cid).data}
    assert set(files) == set(STORED)
    http = server.http()
    for path, data in STORED.items():
        f = files[path]
        assert client.containers.files.retrieve(f.id, container_id=cid).path == path
        assert client.containers.files.content.retrieve(f.id, container_id=cid).read() == data
        got = http.get(f"/containers/{cid}/files/{f.id}/content")
        assert got.status_code == 200 and got.content == data
        disposition = got.headers["content-disposition"]
        name = path.rsplit("/", 1)[1]
        assert disposition.endswith("filename*=UTF-8''" + quote(name, safe=""))
        assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    assert "%E6%97%A5%E6%9C%AC.txt" in http.get(
        f"/containers/{cid}/files/{files['/mnt/data/日本.txt'].id}/content").headers["content-disposition"]
    # later calls on the container (streamed too) work, and the names on disk are the exact bytes
    tools = [{"type": "code_interpreter", "container": cid}]
    client.containers.files.delete(files["/mnt/data/bad\\xff\\xfe.txt"].id, container_id=cid)
    client.containers.files.delete(files["/mnt/data/cr\\u000d\\u000alf.txt"].id, container_id=cid)
    up = client.containers.files.create(cid, file=("日本 2.txt", b"uploaded"))
    assert up.path == "/mnt/data/日本 2.txt"
    _, logs = call(server, upstream, "import os\nprint(sorted(os.listdir(b'/mnt/data')))", tools=tools, stream=True)
    on_disk = eval(logs.strip())  # noqa: S307 - the repr of a list of bytes printed by the sandbox
    assert on_disk == sorted([b"back\\slash.txt", "x\u202etxt.exe".encode(), "日本.txt".encode(),
                              "日本 2.txt".encode()])
    # a container whose files are laid out anew (a fresh kernel) gets the same bytes back; uploads are
    # stored by the same rule
    fresh = client.containers.create(name="names")
    for name, path in (("日本.txt", "/mnt/data/日本.txt"), ("x\u202etxt.exe", "/mnt/data/x\\u202etxt.exe")):
        assert client.containers.files.create(fresh.id, file=(name, b"up")).path == path
    _, logs = call(server, upstream, "import os\nprint(sorted(os.listdir(b'/mnt/data')))",
                   tools=[{"type": "code_interpreter", "container": fresh.id}])
    assert eval(logs.strip()) == sorted(["x\u202etxt.exe".encode(), "日本.txt".encode()])  # noqa: S307


def test_file_names_downloaded_from_a_real_server(server_factory, upstream_server, upstream):
    """Over a real HTTP server (h11 refuses a header with CR/LF by closing the connection unanswered)."""
    srv = server_factory("--upstream", upstream_server.base_url, "--embedded", "off")
    r, _ = call(srv, upstream, WRITE_NAMES)
    cid = r.output[0].container_id
    client = srv.client()
    files = {f.path: f for f in client.containers.files.list(cid).data}
    assert set(files) == set(STORED)
    for path, data in STORED.items():
        got = srv.http().get(f"/containers/{cid}/files/{files[path].id}/content")
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-disposition"].endswith("filename*=UTF-8''" + quote(path.rsplit("/", 1)[1], safe=""))


def test_container_name_with_nul_is_a_400(server):
    http = server.http()
    for r in (http.post("/containers", json={"name": "a\u0000b"}), http.get("/containers", params={"name": "a\0b"})):
        assert r.status_code == 400 and r.json()["error"]["param"] == "name", r.text
    assert http.post("/containers", json={"name": "\u65e5\u672c \u202e"}).status_code == 200


def test_long_paths_are_refused_cleanly(server, upstream):
    """A path is in a unique index (PostgreSQL refuses an index row over ~2.7 kB): a deep tree of long
    names is left out and said so, a long uploaded name is cut before its extension; no call fails."""
    code = ("import os, random, string\n"
            "p = '/mnt/data/' + '/'.join(''.join(random.choices(string.ascii_letters, k=200)) for _ in range(14))\n"
            "os.makedirs(p)\nopen(p + '/deep.txt', 'w').write('deep')\nopen('/mnt/data/ok.txt', 'w').write('ok')")
    r, logs = call(server, upstream, code)
    assert "1 files in /mnt/data were not kept: a path longer than 1024 bytes" in logs
    cid = r.output[0].container_id
    client = server.client()
    assert [f.path for f in client.containers.files.list(cid).data] == ["/mnt/data/ok.txt"]
    up = client.containers.files.create(cid, file=("é" * 600 + ".csv", b"a,b\n"))
    assert up.path.startswith("/mnt/data/éé") and up.path.endswith("é.csv") and len(up.path.encode()) <= 1024
    assert len(up.path.removeprefix("/mnt/data/").encode()) <= 255
    _, logs = call(server, upstream, "import os\nprint(sorted(n for n in os.listdir('/mnt/data') if n.endswith('.csv')))",
                   tools=[{"type": "code_interpreter", "container": cid}])
    assert logs.strip() == repr([up.path.removeprefix("/mnt/data/")]) and "not kept" not in logs


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged host uid applies when the server runs as root")
def test_root_server_runs_code_as_nobody(server_factory, upstream_server, upstream):
    """Seen from the host: what sandboxed code writes (and so the code itself) belongs to nobody, not root."""
    srv = server_factory("--upstream", upstream_server.base_url, "--embedded", "off")
    marker = f"who-{secrets.token_hex(8)}.txt"
    call(srv, upstream, f"open('/mnt/data/{marker}', 'w').write('x')")
    (host,) = glob.glob(f"/tmp/respond-ci-*/k*/data/{marker}")
    assert os.stat(host).st_uid == 65534 and os.stat(host).st_gid == 65534
