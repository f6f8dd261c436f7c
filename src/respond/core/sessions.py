"""The port of the dashboard's server-side sessions (store/sessions.py is the SQL adapter).

A session is kept under the SHA-256 digest of its random id (the cookie holds the id; a copy of the
table signs nobody in), with its owner, whether it is the admin's, and its expiry.  Deleting it ends it
on every replica at once: signing out, or a copied cookie after sign-out, is refused.
"""

from __future__ import annotations

import time
from typing import Protocol


class SessionStore(Protocol):
    async def add_session(self, digest: str, owner: str, admin: bool, expires_at: int) -> None: ...

    async def get_session(self, digest: str, now: int) -> tuple[str, bool] | None:
        """(owner, admin) of a session that has not expired, else None."""
        ...

    async def delete_session(self, digest: str) -> None: ...


class MemorySessions:
    """Sessions in this process only: for a store that keeps none (one process, forgotten on restart)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, bool, int]] = {}

    async def add_session(self, digest: str, owner: str, admin: bool, expires_at: int) -> None:
        now = int(time.time())
        self.rows = {k: v for k, v in self.rows.items() if v[2] > now}
        self.rows[digest] = (owner, admin, expires_at)

    async def get_session(self, digest: str, now: int) -> tuple[str, bool] | None:
        row = self.rows.get(digest)
        return (row[0], row[1]) if row is not None and row[2] > now else None

    async def delete_session(self, digest: str) -> None:
        self.rows.pop(digest, None)
