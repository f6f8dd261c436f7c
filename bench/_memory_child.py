"""bench/memory.py --breakdown's child: one fresh process importing the stack a layer at a time.

    python bench/_memory_child.py UPSTREAM_URL DATABASE_URL

Nothing is imported before the first figure but `os` and `sys` (the bare interpreter); each step
prints the VmRSS increment and module count it added; then the app is built and started as
`respond serve` builds and starts it, and the top-level packages loaded at rest are counted.
"""

from __future__ import annotations

import os
import sys


def _status_kb(key: str) -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


STEPS: list[tuple[str, list[str]]] = [
    ("Python + asyncio + ssl", ["asyncio", "ssl"]),
    ("uvloop + httptools", ["uvloop", "httptools"]),
    ("uvicorn Config + Server (`respond.cli._uvicorn()`, with respond.cli, respond.config)", ["respond.cli"]),
    ("Starlette", ["starlette.applications", "starlette.routing", "starlette.responses"]),
    ("pydantic", ["pydantic"]),
    ("pydantic's model machinery (a first model, built and used)", ["<first model>"]),
    ("sqlite3", ["sqlite3"]),
    ("Respond (respond.bootstrap)", ["respond.bootstrap"]),
]


def _first_model() -> None:
    """What the first model costs: pydantic loads its schema generation and validators then."""
    from pydantic import BaseModel, ConfigDict, Field

    class First(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        a: int | None = Field(default=None, ge=0)
        b: str = "x"

    First.model_validate({"a": 1})


def _rss_kb() -> int:
    return _status_kb("VmRSS:")


def main(upstream: str, db: str) -> None:
    import importlib

    out = sys.stdout.write
    base = _rss_kb()
    out(f"| step | modules | +MB | VmRSS MB |\n|---|---|---|---|\n| bare interpreter | {len(sys.modules)} | "
        f"{base / 1024:.1f} | {base / 1024:.1f} |\n")
    prev, prev_mods = base, len(sys.modules)
    for name, modules in STEPS:
        for m in modules:
            if m == "<first model>":
                _first_model()
                continue
            module = importlib.import_module(m)
            if m == "respond.cli":
                module._uvicorn()
        now = _rss_kb()
        out(f"| {name} | +{len(sys.modules) - prev_mods} | {(now - prev) / 1024:+.1f} | {now / 1024:.1f} |\n")
        prev, prev_mods = now, len(sys.modules)

    import gc

    from respond.bootstrap import build_app
    from respond.config_file import settings_with

    settings = settings_with({"database": db, "upstream": upstream, "embedded": "off", "log_level": "warning"})
    app = build_app(settings)
    gc.collect()
    gc.freeze()
    now = _rss_kb()
    out(f"| build_app | +{len(sys.modules) - prev_mods} | {(now - prev) / 1024:+.1f} | {now / 1024:.1f} |\n")
    prev, prev_mods = now, len(sys.modules)

    import asyncio

    async def start() -> None:
        async with app.router.lifespan_context(app):
            await asyncio.sleep(1)
            rss = _rss_kb()
            out(f"| start-up (store open, upstream warm-up, workers) | +{len(sys.modules) - prev_mods} | "
                f"{(rss - prev) / 1024:+.1f} | {rss / 1024:.1f} |\n")

    import uvloop

    uvloop.run(start())
    packages: dict[str, int] = {}
    for m in list(sys.modules):
        top = m.partition(".")[0]
        packages[top] = packages.get(top, 0) + 1
    loaded = "loaded" if "sqlalchemy" in sys.modules else "not loaded"
    out(f"\nSQLAlchemy (Core and its SQLite dialect: ~13 MB when it loads) is {loaded} at rest.\n")
    out(f"\n{len(sys.modules)} modules loaded at rest; by top-level package (more than 3 modules):\n\n")
    for top, n in sorted(packages.items(), key=lambda kv: -kv[1]):
        if n > 3:
            out(f"    {n:4d}  {top}\n")




if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
