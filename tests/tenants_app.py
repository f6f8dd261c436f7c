"""An in-process Respond for the tenants tests: `build_app` over a real database, its lifespan run,
the official SDK (AsyncOpenAI) and httpx talking to it over ASGI, and a clock the test moves."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI

from respond.bootstrap import build_app
from respond.config import Settings

ADMIN = "admin-secret"
START = 1_800_000_000.0 + 5  # a fixed minute boundary + 5 s: windows are predictable


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Replica:
    def __init__(self, app: Any, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://respond.test",
                                      timeout=60)

    def client(self, key: str) -> AsyncOpenAI:
        # the SDK takes an httpx client at run time (its legacy path); its annotations name httpx2's
        return AsyncOpenAI(base_url="http://respond.test/v1", api_key=key, max_retries=0,
                           http_client=self.http)  # type: ignore[arg-type]

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, f"/admin/v1{path}", headers={"Authorization": f"Bearer {ADMIN}"}, **kw)

    async def new_key(self, **body: Any) -> dict[str, Any]:
        r = await self.admin("POST", "/keys", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def ask(self, key: str, text: str = "hello there", **kw: Any) -> httpx.Response:
        return await self.http.post("/v1/responses", headers={"Authorization": f"Bearer {key}"},
                                    json={"model": kw.pop("model", "demo"), "input": text, **kw})

    async def settled(self) -> None:
        """The usage and limits of every finished response are written."""
        await self.app.state.tenancy.drain()


def settings(database: str, tmp: Path, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "database": database, "backends": ["scripted:model=demo,reply=one two three four five",
                                           "scripted:model=other,reply=six seven"],
        "api_keys": ["static-key"], "admin_key": ADMIN, "secret_key": "s" * 32, "workers": 1,
        "cache_dir": tmp / "cache", "key_file": tmp / "secret.key", "embedded": "off", "code_spare_kernels": 0,
    }
    values.update(over)
    return Settings(**values)


@contextlib.asynccontextmanager
async def replica(database: str, tmp: Path, clock: Clock | None = None, **over: Any) -> AsyncIterator[Replica]:
    clock = clock or Clock()
    app = build_app(settings(database, tmp, **over), clock=clock)
    async with app.router.lifespan_context(app):
        r = Replica(app, clock)
        try:
            yield r
        finally:
            await r.http.aclose()
