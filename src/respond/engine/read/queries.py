"""The operator's use cases over stored responses and runs: the dashboard's and the CLI's.

`Operations` reads through the listing port (never SQL) and acts through the same service and run
manager as the API, so a cancel or a delete from the dashboard is the API's cancel or delete.
`owner=None` means every owner (the admin key, or the CLI on the database itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from respond.core.listing import ListingStore, Page, QueueStats, ResponseFilter, Row
from respond.core.ports import ConversationStore, ResponseStore
from respond.core.tenants import KeyStore, UsageGroup, UsageStore
from respond.engine.background.workers import RunManager
from respond.engine.execution.replicas import ReplicaHealth
from respond.engine.read.charts import Activity, activity
from respond.engine.record.persistence import typed
from respond.engine.stream.events import replay
from respond.engine.tenants.tenancy import usage_key
from respond.protocol.errors import not_found
from respond.protocol.lifecycle import TERMINAL
from respond.protocol.shapes import Deleted, ListPage, ResponseDict

if TYPE_CHECKING:
    from respond.protocol.resource_bodies import SearchVectorStore

RUN_STATES = ("queued", "in_progress", "failed")


@dataclass(slots=True)
class Detail:
    response: Row
    owner: str
    inputs: list[Row]
    outputs: list[Row]
    events: list[Row]
    chain: list[Row]  # oldest first, ending with this response
    next: list[Row]  # responses that continue this one
    replayed: bool = False  # `events` rebuilt from the stored response (it stored none: a foreground one)


class OperatorStore(ListingStore, ResponseStore, ConversationStore, Protocol):
    """The listing queries and the plain reads."""


class Knowledge(Protocol):
    """Files and vector stores, owner-scoped (the knowledge base bootstrap gives, as the Files API uses it)."""

    async def list_files(self, owner: str | None, *, purpose: str | None, after: str | None, limit: int,
                         order: str) -> ListPage[Row]: ...

    async def store_owner(self, store_id: str) -> str | None: ...

    async def list_stores(self, owner: str | None, *, after: str | None, before: str | None, limit: int,
                          order: str) -> ListPage[Row]: ...

    async def list_vs_files(self, owner: str, store_id: str, *, status: str | None, batch_id: str | None = None,
                            after: str | None, before: str | None, limit: int, order: str) -> ListPage[Row]: ...

    async def search(self, owner: str, store_id: str, body: SearchVectorStore) -> Row: ...


class Operations:
    def __init__(self, store: OperatorStore, runs: RunManager | None, knowledge: Knowledge | None = None,
                 usage: UsageStore | None = None, keys: KeyStore | None = None,
                 upstreams: Callable[[], list[ReplicaHealth]] | None = None) -> None:
        self.store = store
        self.runs = runs
        self.knowledge = knowledge  # files and vector stores (owner None: every owner's)
        self.usage_store = usage  # tenants' usage rows and keys (store/tenants.py), for the usage page
        self.keys = keys
        self._upstreams = upstreams  # the router's view of the configured upstreams' replicas

    def upstreams(self) -> list[ReplicaHealth]:
        """Every replica of every configured upstream: up or down, requests in flight, last error."""
        return self._upstreams() if self._upstreams is not None else []

    async def usage(self, owner: str | None, group_by: str, since: int, until: int | None = None
                    ) -> list[UsageGroup]:
        """Usage totals grouped by key, model or day; `owner` None: every key, labelled."""
        if self.usage_store is None:
            return []
        rows = await self.usage_store.usage(group_by, since, until, usage_key(owner) if owner else None)
        if group_by == "key" and self.keys is not None:
            labels = {k.id: k.label for k in await self.keys.list_keys()}
            for row in rows:
                row["label"] = labels.get(row["key"], "static key" if row["key"].startswith("static:") else "")
        return rows

    async def responses(self, owner: str | None, flt: ResponseFilter, cursor: str | None = None,
                        limit: int = 50) -> Page:
        return await self.store.list_responses(owner, flt, cursor=cursor, limit=max(1, min(limit, 500)))

    async def _owner_of(self, response_id: str, owner: str | None) -> str:
        found = await self.store.response_owner(response_id)
        if found is None or (owner is not None and found != owner):
            raise not_found("Response", response_id)
        return found

    async def detail(self, response_id: str, owner: str | None) -> Detail:
        real = await self._owner_of(response_id, owner)
        response = await self.store.get_response(response_id, real)
        if response is None:
            raise not_found("Response", response_id)
        inputs, outputs = await self.store.all_items(response_id)
        events = await self.store.all_events(response_id)
        replayed = not events and response["status"] in TERMINAL and self.runs is not None
        if replayed and self.runs is not None:  # what GET ?stream=true replays (as a client without include sees it)
            service = self.runs.service
            events = [dict(ev) for ev in replay(typed(response), service.hosted.replay, None, service.vocabulary)]
        return Detail(response=response, owner=real, inputs=inputs, outputs=outputs or response.get("output", []),
                      events=events, chain=await self.store.chain_ids(response_id, real),
                      next=await self.store.next_responses(response_id, real), replayed=replayed)

    async def background_runs(self, owner: str | None, states: tuple[str, ...] = RUN_STATES,
                              limit: int = 200) -> list[Row]:
        return await self.store.list_runs(owner, list(states), limit=limit)

    async def cancel(self, response_id: str, owner: str | None) -> ResponseDict:
        if self.runs is None:
            raise RuntimeError("no run manager")
        return await self.runs.cancel(response_id, await self._owner_of(response_id, owner))

    async def delete(self, response_id: str, owner: str | None) -> Deleted:
        if self.runs is None:
            raise RuntimeError("no run manager")
        return await self.runs.service.delete(response_id, await self._owner_of(response_id, owner))

    async def queue(self) -> QueueStats:
        return await self.store.queue_stats()

    async def conversations(self, owner: str | None, limit: int = 100) -> list[Row]:
        return await self.store.list_conversations(owner, limit=limit)

    async def conversation(self, conv_id: str, owner: str | None, limit: int = 200) -> tuple[Row, list[Row], bool]:
        """A conversation and its first `limit` items (and whether more follow)."""
        real = await self.store.conversation_owner(conv_id)
        found = await self.store.get_conversation(conv_id, real) if real and owner in (None, real) else None
        if found is None:
            raise not_found("Conversation", conv_id)
        items, more = await self.store.conversation_items(conv_id, limit=limit)
        return found, items, more

    async def files(self, owner: str | None) -> list[Row]:
        if self.knowledge is None:
            return []
        data: list[Row] = (await self.knowledge.list_files(owner, purpose=None, after=None, limit=200,
                                                           order="desc"))["data"]
        return data

    async def vector_stores(self, owner: str | None) -> list[Row]:
        if self.knowledge is None:
            return []
        data: list[Row] = (await self.knowledge.list_stores(owner, after=None, before=None, limit=100,
                                                            order="desc"))["data"]
        return data

    async def vector_store_files(self, owner: str | None, store_id: str) -> list[Row]:
        if self.knowledge is None:
            return []
        owner = owner if owner is not None else await self.knowledge.store_owner(store_id)
        if owner is None:
            raise not_found("Vector store", store_id)
        data: list[Row] = (await self.knowledge.list_vs_files(owner, store_id, status=None, after=None, before=None,
                                                              limit=100, order="desc"))["data"]
        return data

    async def search(self, owner: str | None, store_id: str, query: str) -> list[Row]:
        if self.knowledge is None:
            return []
        owner = owner if owner is not None else await self.knowledge.store_owner(store_id)
        if owner is None:
            raise not_found("Vector store", store_id)
        from respond.protocol.resource_bodies import SearchVectorStore  # the resources' models: on first use

        data: list[Row] = (await self.knowledge.search(
            owner, store_id, SearchVectorStore(query=query, max_num_results=10)))["data"]
        return data

    async def activity(self, owner: str | None, since: int, buckets: int = 24, sample: int = 2000) -> Activity:
        """Requests, tokens and latency over time, from the newest `sample` responses since `since`."""
        return activity(await self.store.activity(owner, since, sample), since, buckets)
