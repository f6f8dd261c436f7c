"""The ports: what the engine needs from the outside world, as `typing.Protocol`s.

Adapters (backends/, store/, tools/) implement these and import nothing but `core`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from respond.core.types import Delta, Generation, ModelInfo
from respond.protocol.shapes.values import JSONObject


@runtime_checkable
class ModelBackend(Protocol):
    """One narrow async port: stream the deltas of one assistant turn.

    `generate` must raise `BackendError` (with a 4xx status for a bad request) before the first
    delta when the request cannot be served, and end with exactly one `Finish`.  Closing the
    iterator early (client gone, cancel) must stop the work at the next token.
    """

    name: str

    def generate(self, gen: Generation) -> AsyncIterator[Delta]: ...

    async def models(self) -> list[ModelInfo]: ...

    def serves(self, model: str) -> bool:
        """True when this backend should answer requests naming `model`."""
        ...

    async def close(self) -> None: ...


# -- optional capabilities of a backend: checked with isinstance, never with getattr ---------------
@runtime_checkable
class TokenCounter(Protocol):
    """Exact input token counts (for /responses/input_tokens)."""

    async def count_tokens(self, gen: Generation) -> int: ...


@runtime_checkable
class WarmsUp(Protocol):
    """Prepares itself at start-up (the embedded model: assemble on first start, then load)."""

    async def warmup(self) -> None: ...


@runtime_checkable
class HasDefaultModel(Protocol):
    """Names the model to use when a request names none (None: no opinion)."""

    @property
    def default_model(self) -> str | None: ...


Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobOrder:
    """Where a queued job stands (engine/background/queue.py decides): jobs are claimed by `due_us`, earliest
    first; a job of a `chain` (per owner) is claimed only once every job of that chain queued before
    it has ended.  Times in microseconds."""

    queued_us: int
    due_us: int
    chain: str | None = None


class ClaimedJob(TypedDict):
    """A queued background job a worker took: its response, its owner, the create body as accepted."""

    response_id: str
    owner: str
    request: JSONObject | None


class ResponseStore(Protocol):
    """Durable storage of responses, their ordered items, and their stream events.

    Every read is scoped by `owner` (the hashed API key, or "anonymous"): another owner's
    record is indistinguishable from a missing one.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # The writes of a response's life, each one transaction (see engine/record/persistence.py for who calls which).
    async def insert_response(self, response: Row, owner: str, input_items: list[Row],
                              output_items: list[Row], *, conversation_id: str | None = None) -> None:
        """Store a terminal response whole; with `conversation_id`, append its items to that conversation."""
        ...

    async def start_response(self, response: Row, owner: str, input_items: list[Row], *, worker: str,
                             lease_ms: int) -> None:
        """Store a response that starts running now, with a running job leased to `worker`."""
        ...

    async def enqueue_response(self, response: Row, owner: str, input_items: list[Row], *, request: Any,
                               lease_ms: int, order: JobOrder | None = None, events: list[Row] | None = None
                               ) -> None:
        """Store a `queued` response with its queued job (`request`: the create body to run; `order`:
        its place in the queue, by default first in line; `events`: its first stream events)."""
        ...

    async def finish_response(self, response: Row, owner: str, input_items: list[Row], output_items: list[Row],
                              *, events: list[Row], conversation_id: str | None = None) -> None:
        """End a started or claimed response: status, outputs, its last events, conversation, job done."""
        ...

    async def update_response(self, response: Row) -> None: ...

    async def get_response(self, response_id: str, owner: str) -> Row | None: ...

    async def response_exists(self, response_id: str, owner: str) -> bool: ...

    async def deletion_epoch(self) -> int:
        """A counter every response deletion moves (in its transaction), shared by all processes."""
        ...

    async def delete_response(self, response_id: str, owner: str) -> bool: ...

    async def load_context(self, response_id: str, owner: str) -> list[Row] | None:
        """All items (input then output, oldest response first) of the chain ending at
        `response_id`, in one query; None when the response is not found for this owner."""
        ...

    async def list_input_items(
        self, response_id: str, owner: str, *, after: str | None, limit: int, order: str
    ) -> tuple[list[Row], bool] | None:
        """A page of the response's input items and whether more follow; None if not found."""
        ...

    async def get_items(self, item_ids: list[str], owner: str) -> dict[str, Row]:
        """Stored items by id (for item_reference)."""
        ...


class RunStore(ResponseStore, Protocol):
    """Runs: a durable job queue with leases, and every stream event of a stored response."""

    async def claim_job(self, worker: str, lease_ms: int) -> ClaimedJob | None:
        """Atomically take the first queued job in the queue's order (`JobOrder`; exactly one claimer wins)."""
        ...

    async def renew_leases(self, worker: str, lease_ms: int, alive: list[str] | None = None) -> list[str]:
        """Extend `worker`'s leases (only those of `alive` when given); the ids whose cancel was asked."""
        ...

    async def finish_job(self, response_id: str) -> None: ...

    async def cancel_queued(self, response_id: str) -> bool: ...

    async def request_cancel(self, response_id: str) -> None: ...

    async def requeue(self, response_id: str, response: Row, keep_events: int = 0) -> None: ...

    async def expired_jobs(self, *, any_worker_but: str | None = None) -> list[Row]: ...

    async def append_events(self, response_id: str, events: list[Row], snapshot: Row | None) -> None: ...

    async def read_events(self, response_id: str, owner: str, after: int,
                          limit: int = 500) -> tuple[list[Row], str] | None: ...


class ConversationStore(Protocol):
    async def create_conversation(self, conv_id: str, owner: str, created_at: int, metadata: dict[str, str],
                                  items: list[Row]) -> Row: ...

    async def get_conversation(self, conv_id: str, owner: str) -> Row | None: ...

    async def update_conversation(self, conv_id: str, owner: str, metadata: dict[str, str]) -> Row | None: ...

    async def delete_conversation(self, conv_id: str, owner: str) -> bool: ...

    async def add_conversation_items(self, conv_id: str, items: list[Row]) -> None: ...

    async def conversation_items(self, conv_id: str, *, after: str | None = None, limit: int | None = None,
                                 order: str = "asc") -> tuple[list[Row], bool]: ...

    async def get_conversation_item(self, conv_id: str, item_id: str) -> Row | None: ...

    async def delete_conversation_item(self, conv_id: str, item_id: str) -> bool: ...


class Store(RunStore, ConversationStore, Protocol):
    """Everything the engine persists."""


class FileSource(Protocol):
    """What input parts that name a file need: stored uploads, text extraction, URL fetching.

    `read_file` -> (filename, bytes) or None when the owner has no such file.  `extract_text`
    raises `ValueError` (with a message for the client) for a file that holds no readable text.
    `fetch_url` downloads an http(s) URL under the operator's outbound policy and a size cap,
    raising `ValueError` with the reason when it may not or cannot.
    """

    async def read_file(self, file_id: str, owner: str) -> tuple[str, bytes] | None: ...

    def extract_text(self, filename: str, data: bytes) -> str: ...

    async def fetch_url(self, url: str) -> tuple[str, bytes]: ...


class ModerationText(TypedDict):
    """A moderations API input part (the SDK's `ModerationTextInputParam`)."""

    type: Literal["text"]
    text: str


class ImageURL(TypedDict):
    url: str


class ModerationImage(TypedDict):
    """A moderations API input part (the SDK's `ModerationImageURLInputParam`)."""

    type: Literal["image_url"]
    image_url: ImageURL


ModerationInput = ModerationText | ModerationImage


class Moderator(Protocol):
    """A moderation service (`--moderation-upstream`: an upstream's POST /v1/moderations).

    `moderate` returns the `results[0]` of a moderations answer for `inputs` scored by `model`, as the
    service sent it (`flagged`, `categories`, `category_scores`, `category_applied_input_types`: the
    engine reads them, checking each); it raises `BackendError` when the service fails or answers
    something other than a list of result objects.
    """

    async def moderate(self, model: str, inputs: list[ModerationInput]) -> JSONObject: ...

    async def close(self) -> None: ...
