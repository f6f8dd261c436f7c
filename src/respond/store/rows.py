"""The rows the SQL store writes, one `TypedDict` per table (store/schema.py declares the columns).

Bodies (a response, an item, an event) are stored as JSON text; what the store reads back is the
port's (core.ports).  These shapes are what the store builds for SQLAlchemy's `insert().values()`,
so that a misspelt or missing column is a type error, not a failed INSERT at run time.
"""

from __future__ import annotations

from typing import TypedDict


class ResponseRow(TypedDict):
    id: str
    owner: str
    created_at: int
    status: str
    previous_response_id: str | None
    background: bool
    body: str
    model: str
    preview: str | None


class ItemRow(TypedDict):
    id: str
    response_id: str
    owner: str
    position: int
    kind: int  # 0: input, 1: output
    body: str


class EventRow(TypedDict):
    response_id: str
    seq: int
    body: str


class JobRow(TypedDict):
    response_id: str
    owner: str
    state: str  # queued | running | done
    request: str | None  # the create body (JSON), to run a queued job
    worker: str | None
    lease_until: int
    cancel_requested: bool
    created_at: int
    queued_us: int  # the queue's order (engine/background/queue.py)
    due_us: int
    chain: str | None


class MetadataRow(TypedDict):
    response_id: str
    key: str
    value: str
    owner: str
    created_at: int


class ConversationItemRow(TypedDict):
    conversation_id: str
    id: str
    body: str


class KeyRow(TypedDict):
    id: str
    label: str
    salt: str
    secret_hash: str
    models: str  # JSON list
    limits: str  # JSON object
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    rotated_at: int | None
