"""Codex CLI end to end: `codex exec` against Respond (a custom provider, `wire_api = "responses"`)
in front of the scripted upstream, which answers with a call of Codex's shell tool.

Codex streams the response, runs the command itself, sends the output back (`store: false`, the
whole history by value, with `client_metadata`, `namespace` and `web_search` tools), and finishes;
`codex exec resume --last` continues the same session.  The CLI is installed from npm into
`.cache/codex` on first use; without npm the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CODEX_DIR = ROOT / ".cache" / "codex"
CODEX = CODEX_DIR / "node_modules" / ".bin" / "codex"
MARKER = "codex-e2e-marker"


@pytest.fixture(scope="module")
def codex() -> Path:
    if not CODEX.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: the Codex CLI (npm @openai/codex) cannot be installed")
        CODEX_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(CODEX_DIR), "@openai/codex"],
                       check=True, capture_output=True, timeout=600)
    return CODEX


def run(codex: Path, home: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(home), RESPOND_KEY="test-key")
    return subprocess.run([str(codex), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                           *args], cwd=work, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def test_codex_exec_and_resume(codex, server_factory, upstream, tmp_path):
    server = server_factory("--upstream", upstream.base_url, "--embedded", "off")
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(f'''model = "scripted"
model_provider = "respond"
[model_providers.respond]
name = "Respond"
base_url = "{server.base_url}"
wire_api = "responses"
env_key = "RESPOND_KEY"
request_max_retries = 0
stream_max_retries = 0
''')
    upstream.reply({"tool_calls": [{"id": "call_codex", "name": "exec_command",
                                    "arguments": f'{{"cmd": "echo {MARKER} > out.txt && cat out.txt"}}'}]},
                   {"content": f"The file says {MARKER}."})
    done = run(codex, home, work, "Write a file and read it back.")
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"The file says {MARKER}." in done.stdout
    assert (work / "out.txt").read_text().strip() == MARKER  # Codex ran its shell tool
    first, second = upstream.requests()
    offered = [t["function"]["name"] for t in first["tools"]]
    assert "exec_command" in offered and "spawn_agent" in offered  # a namespace's functions, by name
    assert first["stream"] is True
    tool_msg = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == "call_codex" and MARKER in tool_msg["content"]
    log = server.log_path.read_text()
    assert "web_search has no search provider" in log and "POST /v1/responses 400" not in log

    upstream.reply({"content": "Resumed: the marker is still there."})
    resumed = run(codex, home, work, "resume", "--last", "What did the file say?")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "Resumed: the marker is still there." in resumed.stdout
    third = upstream.requests()[-1]["messages"]
    assert [m["content"] for m in third if m["role"] == "user"][-2:] == [
        "Write a file and read it back.", "What did the file say?"]
    assert any(m["role"] == "tool" and MARKER in m["content"] for m in third)
