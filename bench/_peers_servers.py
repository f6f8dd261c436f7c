"""The servers under test: how each is installed, configured, started, measured and stopped.

Each peer lives in its own virtual environment under the cache directory (reused when present),
installed from PyPI with pip.  Every server is started on 127.0.0.1 in its own process group and
stopped by that group's id; its resident memory is the sum over the process tree.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

API_KEY = "sk-bench"  # sent to every server; LiteLLM needs a master key, agentic-api then wants one too
MODEL = "scripted"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Spec:
    name: str
    package: str  # pip requirement; "" for Respond (the work tree)
    responses_path: str  # where POST /responses lives
    persists: str  # what it keeps, in words
    command: Callable[[Path, int, int, Path], tuple[list[str], dict[str, str]]]
    ready_path: str = "/v1/models"
    notes: dict[str, str] = field(default_factory=dict)  # scenario -> why it cannot, when known


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- installation -------------------------------------------------------------------------------

def ensure_venv(cache: Path, name: str, requirement: str, log: Path) -> Path:
    """A venv at cache/name with `requirement` installed; reused when it already imports."""
    env = cache / name
    py = env / "bin" / "python"
    marker = env / ".bench-installed"
    if marker.exists() and marker.read_text() == requirement:
        return env
    print(f"  installing {requirement} into {env} (log: {log}) ...", flush=True)
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(env)
    with log.open("ab") as out:
        subprocess.run([str(py), "-m", "pip", "install", "-q", requirement], check=True, stdout=out, stderr=out)
    marker.write_text(requirement)
    return env


def installed_version(env: Path, dist: str) -> str:
    out = subprocess.run([str(env / "bin" / "python"), "-c",
                          f"import importlib.metadata as m; print(m.version({dist!r}))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


# -- how each one is started ----------------------------------------------------------------------

def _respond(env: Path, port: int, up: int, work: Path) -> tuple[list[str], dict[str, str]]:
    exe = env / "bin" / "respond"
    db = work / "respond.db"
    argv = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--database", f"sqlite+aiosqlite:///{db}", "--upstream", f"http://127.0.0.1:{up}/v1"]
    return argv, {}


def _litellm(env: Path, port: int, up: int, work: Path) -> tuple[list[str], dict[str, str]]:
    cfg = work / "litellm.yaml"
    # `openai/chat_completions/<model>` makes LiteLLM bridge /responses onto the upstream's chat
    # completions; a plain `openai/<model>` would forward to the upstream's own /responses.
    cfg.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/chat_completions/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{up}/v1\n"
        "      api_key: sk-upstream\n"
        "general_settings:\n"
        f"  master_key: {API_KEY}\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
    )
    argv = [str(env / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
    return argv, {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


def _ors(env: Path, port: int, up: int, work: Path) -> tuple[list[str], dict[str, str]]:
    argv = [str(env / "bin" / "python"), "-m", "uvicorn", "open_responses_server.api_controller:app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return argv, {"OPENAI_BASE_URL_INTERNAL": f"http://127.0.0.1:{up}", "OPENAI_API_KEY": "sk-upstream",
                  "MCP_SERVERS_CONFIG_PATH": str(work / "no-mcp.json")}


def _agentic(env: Path, port: int, up: int, work: Path) -> tuple[list[str], dict[str, str]]:
    # The packaged Rust gateway, run directly (the Python launcher only adds a supervisor process).
    argv = [str(env / "bin" / "agentic-server"), "--llm-api-base", f"http://127.0.0.1:{up}/v1",
            "--gateway-host", "127.0.0.1", "--gateway-port", str(port), "--skip-llm-ready-check",
            "--db-url", f"sqlite://{work / 'agentic.db'}"]
    return argv, {"OPENAI_API_KEY": API_KEY, "HOME": str(work), "OTEL_SDK_DISABLED": "true", "RUST_LOG": "warn"}


SPECS: dict[str, Spec] = {
    "respond": Spec("respond", "", "/v1/responses", "SQLite (every response and item)", _respond),
    "litellm": Spec(
        "litellm", "litellm[proxy]", "/v1/responses", "nothing (no database configured)", _litellm,
        ready_path="/health/liveliness",
        notes={"retrieve": "GET /v1/responses/{id} is forwarded to the upstream, which has no such route",
               "chain": "previous_response_id is accepted but, without a database, the history is dropped"}),
    "open-responses-server": Spec(
        "open-responses-server", "open-responses-server", "/responses", "in memory, last 100 turns", _ors,
        ready_path="/health",
        notes={"nonstream": "only streaming POST /responses (a non-stream request gets HTTP 200 `null`)",
               "retrieve": "no GET /responses/{id}"}),
    "agentic-api": Spec(
        "agentic-api", "agentic-api", "/v1/responses", "SQLite (responses and items)", _agentic,
        ready_path="/health",
        notes={"upstream": "calls the upstream's /v1/responses, not chat completions; served by the "
                           "bench upstream's stateless /v1/responses (same process, same counting)"}),
}


def prepare(name: str, cache: Path, log: Path) -> tuple[Path, str]:
    """(environment, version) for one server, installing it on first use."""
    if name == "respond":
        env = Path(sys.prefix)
        if not (env / "bin" / "respond").exists():
            env = REPO / ".venv"
        return env, installed_version(env, "respond")
    spec = SPECS[name]
    env = ensure_venv(cache, name, spec.package, log)
    return env, installed_version(env, spec.package.split("[")[0])


# -- running ------------------------------------------------------------------------------------

class Proc:
    """One started server (or the upstream): its process group, log and memory."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=self._out,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, url: str, timeout: float = 90.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.popen.poll() is not None:
                raise RuntimeError(f"exited with {self.popen.returncode}; see {self.log}")
            try:
                r = httpx.get(url, headers={"authorization": f"Bearer {API_KEY}"}, timeout=2)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"not ready after {timeout:.0f}s; see {self.log}")

    def rss_mb(self) -> float:
        return tree_rss_kb(self.pid) / 1024

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self._out.close()


def tree_rss_kb(root: int) -> int:
    """VmRSS of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total
