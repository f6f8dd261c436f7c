"""The servers under test: how each is installed, configured and started.

Each peer lives in its own virtual environment under the cache directory (reused when present),
installed from PyPI with pip; each is started on 127.0.0.1 (see _peers_proc.py for the processes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

API_KEY = "sk-bench"  # sent to every server; LiteLLM needs a master key, agentic-api then wants one too
MODEL = "scripted"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Spec:
    name: str
    package: str  # pip requirement; "" for Respond (the work tree)
    responses_path: str  # where POST /responses lives
    persists: str  # what it keeps, in words
    # (env, port, upstream port, work dir, PostgreSQL URL or None for its SQLite file) -> argv, extra env
    command: Callable[[Path, int, int, Path, str | None], tuple[list[str], dict[str, str]]]
    ready_path: str = "/v1/models"
    notes: dict[str, str] = field(default_factory=dict)  # scenario -> why it cannot, when known
    postgres: bool = False  # whether it can store in PostgreSQL (else it runs only in the SQLite pass)


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
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", requirement], check=True, stdout=out, stderr=out
        )
    marker.write_text(requirement)
    return env


def installed_version(env: Path, dist: str) -> str:
    out = subprocess.run(
        [str(env / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


# -- how each one is started ----------------------------------------------------------------------


def _respond(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
    # Imported from $BENCH_RESPOND_SRC (default: this work tree) so that a run can pin a snapshot of it.
    src = os.environ.get("BENCH_RESPOND_SRC") or str(REPO / "src")
    boot = f"import sys; sys.path.insert(0, {src!r}); from respond.cli import main; sys.exit(main())"
    db = work / "respond.db"
    argv = [
        str(env / "bin" / "python"),
        "-c",
        boot,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        pg or f"sqlite+aiosqlite:///{db}",
        "--upstream",
        f"http://127.0.0.1:{up}/v1",
        "--upstream-api-key",
        "sk-upstream",
        "--api-key",
        API_KEY,
    ]
    return argv, {}


def _respond_processes(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
    """Respond with `--processes 2`: two server processes on the port (cli/processes.py)."""
    argv, extra = _respond(env, port, up, work, pg)
    return [*argv, "--processes", "2"], extra


def _respond_granian(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
    """Respond's app under Granian (a Rust HTTP server) instead of uvicorn: `respond.asgi:app`, the same
    settings given as RESPOND_* variables."""
    src = os.environ.get("BENCH_RESPOND_SRC") or str(REPO / "src")
    argv = [str(env / "bin" / "granian"), "--interface", "asgi", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--log-level", "warning", "respond.asgi:app"]
    return argv, {
        "PYTHONPATH": src,
        "RESPOND_DATABASE": pg or f"sqlite+aiosqlite:///{work / 'respond.db'}",
        "RESPOND_UPSTREAM": f"http://127.0.0.1:{up}/v1",
        "RESPOND_UPSTREAM_API_KEY": "sk-upstream",
        "RESPOND_API_KEY": API_KEY,
    }


def _litellm(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
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
    return argv, {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no fetch of the price list at start


def _ors(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
    argv = [
        str(env / "bin" / "python"),
        "-m",
        "uvicorn",
        "open_responses_server.api_controller:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return argv, {
        "OPENAI_BASE_URL_INTERNAL": f"http://127.0.0.1:{up}",
        "OPENAI_API_KEY": "sk-upstream",
        "MCP_SERVERS_CONFIG_PATH": str(work / "no-mcp.json"),
    }


def _agentic(env: Path, port: int, up: int, work: Path, pg: str | None) -> tuple[list[str], dict[str, str]]:
    # The packaged Rust gateway, run directly (the Python launcher only adds a supervisor process).
    argv = [
        str(env / "bin" / "agentic-server"),
        "--llm-api-base",
        f"http://127.0.0.1:{up}/v1",
        "--gateway-host",
        "127.0.0.1",
        "--gateway-port",
        str(port),
        "--skip-llm-ready-check",
        "--db-url",
        pg or f"sqlite://{work / 'agentic.db'}",
    ]
    return argv, {
        "OPENAI_API_KEY": API_KEY,
        "HOME": str(work),
        "OTEL_SDK_DISABLED": "true",
        "RUST_LOG": "warn",
    }


SPECS: dict[str, Spec] = {
    "respond": Spec(
        "respond", "", "/v1/responses", "SQLite or PostgreSQL (every response and item)", _respond, postgres=True
    ),
    "respond-2p": Spec(
        "respond", "", "/v1/responses", "as respond, served by 2 processes (--processes 2)", _respond_processes,
        postgres=True,
    ),
    "respond-granian": Spec(
        "respond", "", "/v1/responses", "as respond, served by Granian (respond.asgi:app)", _respond_granian,
        postgres=True,
    ),
    "litellm": Spec(
        "litellm",
        "litellm[proxy]",
        "/v1/responses",
        "nothing (no database configured)",
        _litellm,
        ready_path="/health/liveliness",
        notes={
            "retrieve": "GET /v1/responses/{id} is forwarded to the upstream, which has no such route",
            "chain": "previous_response_id is accepted but, without a database, the history is dropped",
        },
    ),
    "open-responses-server": Spec(
        "open-responses-server",
        "open-responses-server",
        "/responses",
        "in memory, last 100 turns",
        _ors,
        ready_path="/health",
        notes={
            "nonstream": "only streaming POST /responses (a non-stream request gets HTTP 200 `null`)",
            "retrieve": "no GET /responses/{id}",
        },
    ),
    "agentic-api": Spec(
        "agentic-api",
        "agentic-api",
        "/v1/responses",
        "SQLite or PostgreSQL (responses and items)",
        _agentic,
        ready_path="/health",
        postgres=True,
        notes={
            "upstream": "calls the upstream's /v1/responses, not chat completions; served by the "
            "bench upstream's stateless /v1/responses (same process, same counting)"
        },
    ),
}


def prepare(name: str, cache: Path, log: Path) -> tuple[Path, str]:
    """(environment, version) for one server, installing it on first use."""
    if name.startswith("respond"):
        env = Path(sys.prefix)
        if not (env / "bin" / "respond").exists():
            env = REPO / ".venv"
        if name == "respond-granian" and not (env / "bin" / "granian").exists():
            print(f"  installing granian into {env} (pyproject's `bench` extra) ...", flush=True)
            with log.open("ab") as out:
                subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "granian>=2.8"],
                               check=True, stdout=out, stderr=out)
        version = installed_version(env, "respond")
        return env, version + (f" + granian {installed_version(env, 'granian')}" if name == "respond-granian" else "")
    spec = SPECS[name]
    env = ensure_venv(cache, name, spec.package, log)
    return env, installed_version(env, spec.package.split("[")[0])
