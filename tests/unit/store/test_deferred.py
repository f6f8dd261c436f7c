"""The SQL store's cold adapters made on first use (store/deferred.py): what a server at rest asks of them
(file_search's start-up and sweep, code_interpreter's sweep, `has_keys`, the usage rows) leaves them
unmade, and answers as the adapters do; the first other call makes the adapter and hands it on.  Both
databases (the `database` fixture)."""

from __future__ import annotations

import asyncio
from typing import Any

from respond.store.sql import SqlStore


def _unmade(*adapters: Any) -> bool:
    return all(a._adapter is None for a in adapters)


def test_at_rest_nothing_is_made_and_the_answers_are_the_adapters(database: str) -> None:
    async def main() -> None:
        store = SqlStore(database)
        await store.open()
        try:
            files, containers = store.files, store.containers
            # what a server at rest asks
            assert await files.in_progress() == []
            assert await files.expired_files(2_000_000_000) == []
            assert await containers.expired(2_000_000_000) == []
            assert not await store.tenants.has_keys()
            store.tenants.record_usage({"response_id": "resp_deferred", "key_id": "anonymous", "model": "m",
                                        "backend": "b", "status": "completed", "input_tokens": 3, "cached_tokens": 0,
                                        "output_tokens": 4, "reasoning_tokens": 0, "duration_ms": 5,
                                        "created_at": 1000})
            await store.tenants.flush_usage()
            assert _unmade(files, store.vectors, containers, store.sessions) and store.tenants._sql is None

            # rows for each of them: the answers are what the adapters themselves give
            await files.add_file({"id": "file-gone", "created_at": 1, "bytes": 1, "filename": "a.txt",
                                  "purpose": "assistants", "expires_at": 10}, "alice", b"x")
            await files.add_file({"id": "file-kept", "created_at": 1, "bytes": 1, "filename": "b.txt",
                                  "purpose": "assistants", "expires_at": None}, "bob", b"y")
            await files.put_store({"id": "vs_1", "created_at": 1}, "alice", new=True)
            await files.attach("vs_1", "file-kept", "alice", 2, {"attributes": None})
            await containers.add({"id": "cntr_idle", "name": "n", "created_at": 1, "last_active_at": 1,
                                  "expires_minutes": 1}, "alice")
            await containers.add({"id": "cntr_empty", "name": "n", "created_at": 1, "last_active_at": 1,
                                  "expires_minutes": 1}, "alice")
            await containers.put_file({"id": "cfile_1", "container_id": "cntr_idle", "created_at": 1, "path": "/a",
                                       "source": "user"}, "alice", b"z")
            assert not _unmade(files, containers)
            real_files, real_containers = files._adapter, containers._adapter  # type: ignore[attr-defined]
            assert await files.expired_files(10) == await real_files.expired_files(10) == [("file-gone", "alice")]
            assert await files.expired_files(9) == []
            left = await files.in_progress()
            assert left == await real_files.in_progress() and [(r["id"], r["owner"]) for r in left] == [
                ("file-kept", "alice")]
            assert await containers.expired(62) == await real_containers.expired(62) == ["cntr_idle"]
            assert await containers.expired(61) == []
            usage = await store.tenants.usage("key", None, None)
            assert [(u["key"], u["requests"], u["output_tokens"]) for u in usage] == [("anonymous", 1, 4)]
        finally:
            await store.close()

    asyncio.run(main())


def test_a_key_row_is_read_in_the_tables_order() -> None:
    from respond.store import tenant_keys, tenants

    assert tenants._KEY_COLUMNS == tuple(c.name for c in tenant_keys.api_keys.c)
