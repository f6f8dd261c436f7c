"""The operator's list queries (`core.listing.ListingStore`, the dashboard's and the CLI's), a base of
`SqlStore`: their SQLAlchemy statements (store/listing_queries.py) are loaded by the first of them, not
by a server whose dashboard is never opened (issue 20's memory target).

`queue_stats` is answered here, in `Sql` statements: every scrape of /metrics reads it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from respond.core.listing import Page, QueueStats, ResponseFilter, Row
from respond.store.database import Database, fetch_rows, fetch_value
from respond.store.statement import Sql

if TYPE_CHECKING:
    from respond.store.database import Conn
    from respond.store.listing_queries import ListingQueries

_QUEUE_COUNTS = Sql("SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running') GROUP BY state")
_OLDEST_QUEUED = Sql("SELECT MIN(created_at) FROM jobs WHERE state = 'queued'")


class ListingMixin:
    db: Database
    dialect: str
    _listing: ListingQueries | None = None

    @property
    def _queries(self) -> ListingQueries:
        if self._listing is None:
            from respond.store.listing_queries import ListingQueries

            self._listing = ListingQueries(self.db, self.dialect)
        return self._listing

    async def list_responses(self, owner: str | None, flt: ResponseFilter, *, cursor: str | None,
                             limit: int) -> Page:
        return await self._queries.list_responses(owner, flt, cursor=cursor, limit=limit)

    async def response_owner(self, response_id: str) -> str | None:
        return await self._queries.response_owner(response_id)

    async def next_responses(self, response_id: str, owner: str | None) -> list[Row]:
        return await self._queries.next_responses(response_id, owner)

    async def chain_ids(self, response_id: str, owner: str | None, limit: int = 50) -> list[Row]:
        return await self._queries.chain_ids(response_id, owner, limit)

    async def all_events(self, response_id: str, limit: int = 5000) -> list[Row]:
        return await self._queries.all_events(response_id, limit)

    async def all_items(self, response_id: str) -> tuple[list[Row], list[Row]]:
        return await self._queries.all_items(response_id)

    async def list_runs(self, owner: str | None, states: list[str], *, limit: int) -> list[Row]:
        return await self._queries.list_runs(owner, states, limit=limit)

    async def queue_stats(self) -> QueueStats:
        def read(conn: Conn) -> QueueStats:
            counts: dict[str, Any] = dict(fetch_rows(conn, _QUEUE_COUNTS))
            oldest = fetch_value(conn, _OLDEST_QUEUED)
            age = max(0.0, time.time() - oldest / 1000) if oldest else 0.0
            return QueueStats(int(counts.get("queued", 0)), int(counts.get("running", 0)), age)

        return await self.db.read(read, lite=True)

    async def list_conversations(self, owner: str | None, *, limit: int) -> list[Row]:
        return await self._queries.list_conversations(owner, limit=limit)

    async def conversation_owner(self, conv_id: str) -> str | None:
        return await self._queries.conversation_owner(conv_id)

    async def activity(self, owner: str | None, since: int, limit: int) -> list[Row]:
        return await self._queries.activity(owner, since, limit)
