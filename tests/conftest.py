"""Shared fixtures: a scripted upstream, the app in process or as a real `respond serve`, real databases.

- `upstream`: the scripted chat-completions server (respond.testing.upstream) in a thread.
- `server` (per module and database), `app_factory(*args, database=...)`: the app `respond serve ARGS`
  would serve, built by the composition root and served in this process (tests/inprocess.py): the
  fast lane, `make check`.
- `server_factory(*args, database=...)`, `process_server`: `respond serve` as a subprocess on a free
  port, waited for on /health, stopped at teardown; a `Server` (base_url, client(), kill(), ...).
  Only for what needs a process (signals, crashes, replicas, the embedded model, external clients,
  the browser, WebSockets, outages): a test using them is marked `process` automatically, and a
  module that starts processes otherwise says `pytestmark = pytest.mark.process`.
- `database`: parametrised over SQLite (a temp file) and PostgreSQL when RESPOND_TEST_POSTGRES
  is set (e.g. postgresql://postgres@127.0.0.1:5432/test): each test session gets a fresh database
  created there and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from respond.testing.upstream import ScriptedUpstream
from tests.inprocess import AppServer, Clock

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("RESPOND_TEST_POSTGRES")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UpstreamThread:
    """The scripted upstream on its own event loop in a daemon thread."""

    def __init__(self, port: int = 0) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = ScriptedUpstream(port=port)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        self.base_url = self.server.base_url
        self.http = httpx.Client(base_url=self.base_url.removesuffix("/v1"), timeout=10)

    def reply(self, *replies: dict[str, Any]) -> None:
        self.http.post("/_control/replies", json={"replies": list(replies)}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.http.get("/_control/requests").json()["requests"]
        return data

    def reset(self) -> None:
        self.http.delete("/_control").raise_for_status()

    def stop(self) -> None:
        """Stop it as a killed server would be: listener and open connections closed."""
        self.http.close()

        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[UpstreamThread]:
    up = UpstreamThread()
    yield up
    up.stop()


@pytest.fixture
def upstream(upstream_server: UpstreamThread) -> UpstreamThread:
    upstream_server.reset()
    return upstream_server


class Server:
    def __init__(self, args: list[str], database: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.database = database
        self.args = args
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> Server:
        cmd = [sys.executable, "-m", "respond", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--database", self.database, *self.args]
        env = {**os.environ, **(self.env or {})}
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"respond exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"respond did not start in {timeout}s:\n{self.log_path.read_text()}")

    def client(self, api_key: str = "test-key", **kw: Any) -> OpenAI:
        return OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=kw.pop("timeout", 60), **kw)

    def http(self, api_key: str | None = "test-key") -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def root(self, api_key: str | None = None) -> httpx.Client:
        """A client of the site's root (/metrics, /dashboard, /docs), without a key unless given."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url.removesuffix("/v1"), headers=headers, timeout=60)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            self.log.close()
            self.proc = None


def _pg_admin(sql: str) -> None:
    import asyncpg  # the driver the store uses; here only to create and drop test databases

    async def run() -> None:
        assert PG_URL is not None
        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


_PG_DATABASES: list[str] = []  # every database the session created, dropped at its end at the latest
# A module's database is dropped by this thread while the next module runs (a DROP DATABASE takes about
# a second of the server's time; done at the session's end they added up to a 40 s stall).
_PG_DROPS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")
_PG_FINISHED: list[str] = []  # databases of finished modules, not yet handed to the thread


def _drop_pg_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _PG_DATABASES.remove(name)  # (one that failed stays listed: the session's end drops it)


def _new_pg_database() -> str:
    assert PG_URL is not None
    name = f"respond_test_{secrets.token_hex(4)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    _PG_DATABASES.append(name)
    return f"{PG_URL.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the session (tests that share state across modules); the `database`
    parametrisation gives each module its own, created here and dropped with this one."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need RESPOND_TEST_POSTGRES=postgresql://user@host:port/db")
    yield _new_pg_database()
    _PG_DROPS.shutdown(wait=True)
    for name in list(_PG_DATABASES):
        _drop_pg_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for each module, as its SQLite twin is: what one module stores (stored API
    keys, which turn authentication on for every server on that database) never reaches another."""
    if request.param == "sqlite":
        _drop_finished()
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'respond.db'}"
        return
    request.getfixturevalue("pg_database")  # skips without PostgreSQL; drops what is left at its end
    _drop_finished()
    url = _new_pg_database()
    yield url
    # Dropped once the module's other fixtures (its apps, set up before this one) are closed too: when
    # the next module starts.
    _PG_FINISHED.append(url.rsplit("/", 1)[1])


def _drop_finished() -> None:
    while _PG_FINISHED:
        _PG_DROPS.submit(_drop_pg_database, _PG_FINISHED.pop())


def _factory(tmp_path: Path, started: list[Server]) -> Any:
    def factory(*args: str, database: str | None = None, env: dict[str, str] | None = None,
                start: bool = True) -> Server:
        db = database or f"sqlite:///{tmp_path / 'respond.db'}"
        server = Server(list(args), db, tmp_path / f"server{len(started)}.log", env)
        started.append(server)
        return server.start() if start else server

    return factory


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []
    yield _factory(tmp_path, started)
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Server] = []
    yield _factory(tmp_path_factory.mktemp("srv"), started)
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def process_server(module_server_factory: Any, upstream_server: UpstreamThread, database: str) -> Server:
    """A real server in front of the scripted upstream, on each database (one per module and database)."""
    s: Server = module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                                      database=database)
    return s


PROCESS_FIXTURES = {"server_factory", "module_server_factory", "process_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a `respond serve` process is in the `process` lane, whatever it says."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("model"):
            item.add_marker(pytest.mark.process)


def _app_factory(tmp_path: Path, started: list[AppServer]) -> Any:
    def factory(*args: str, database: str | None = None, clock: Clock | None = None) -> AppServer:
        db = database or f"sqlite:///{tmp_path / f'app{len(started)}.db'}"
        app = AppServer(list(args), db, clock=clock)
        started.append(app)
        return app.start()

    return factory


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Any]:
    """`app_factory(*serve_args, database=..., clock=...)`: the app of `respond serve ARGS`, in this process
    (its `clock`, a `tests.inprocess.Clock`, is the test's to move)."""
    started: list[AppServer] = []
    yield _app_factory(tmp_path, started)
    for app in reversed(started):
        app.stop()


@pytest.fixture(scope="module")
def module_app_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[AppServer] = []
    yield _app_factory(tmp_path_factory.mktemp("app"), started)
    for app in reversed(started):
        app.stop()


@pytest.fixture(scope="module")
def server(module_app_factory: Any, upstream_server: UpstreamThread, database: str) -> AppServer:
    """The app in front of the scripted upstream, in this process, on each database (one per module and
    database)."""
    s: AppServer = module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                                      database=database)
    return s
