"""The containers storage port: what code_interpreter keeps (store/containers.py implements it).

A container row: id, name, created_at, last_active_at, expires_minutes, memory_limit.  A
container file row: id, container_id, created_at, bytes, path (unique in its container),
source ("user" | "assistant"); its bytes are read apart.  Every read but the sweeper's is owner
scoped.
"""

from __future__ import annotations

from typing import Any, Protocol

Row = dict[str, Any]


class ContainerStore(Protocol):
    async def add(self, c: Row, owner: str) -> None: ...

    async def get(self, container_id: str, owner: str) -> Row | None: ...

    async def get_by_id(self, container_id: str) -> Row | None:
        """Any owner's container (the sweeper's view)."""
        ...

    async def list_containers(self, owner: str, *, name: str | None, after: str | None, limit: int,
                              order: str) -> tuple[list[Row], bool]: ...

    async def delete(self, container_id: str, owner: str) -> bool:
        """Delete the container and its files."""
        ...

    async def touch(self, container_id: str, now: int) -> None: ...

    async def expired(self, now: int) -> list[str]:
        """Ids of containers idle past their expiry that still hold files."""
        ...

    async def purge_files(self, container_id: str) -> None: ...

    async def put_file(self, f: Row, owner: str, content: bytes) -> Row:
        """Add a file, or replace the content of the file at the same path (keeping its id)."""
        ...

    async def get_file(self, container_id: str, file_id: str, owner: str) -> Row | None: ...

    async def file_content(self, container_id: str, file_id: str, owner: str) -> bytes | None: ...

    async def list_files(self, container_id: str, owner: str, *, after: str | None, limit: int,
                         order: str) -> tuple[list[Row], bool]: ...

    async def delete_file(self, container_id: str, file_id: str, owner: str) -> bool: ...
