"""A background response claimed by a worker (engine/background/workers.py): its job -> a `Run`.

The job holds the request as it was accepted; what the hosted tools dropped from its tools[]
(`HostedTool.secrets`: a remote server's headers and authorization) rides with it only sealed
(engine/record/sealing.py, purpose `hosted_secrets`,
bound to the owner and to the response id).  The claiming process opens them and hands them straight
to the run's tools: they are never held anywhere else, and a replica with another secret fails the
run with an error saying so rather than calling the tool without its credentials.
"""

from __future__ import annotations

from typing import Any

from respond.core.errors import BackendError
from respond.core.ports import ClaimedJob, Store
from respond.engine.execution.launch import Launcher
from respond.engine.execution.run import Run
from respond.engine.record.persistence import Record, typed
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.conversations import conversation_id
from respond.engine.resolve.inputs import apply_prompt
from respond.engine.resolve.prompts import PromptStore
from respond.engine.resolve.references import References
from respond.protocol.errors import APIError
from respond.protocol.requests import parse_create
from respond.protocol.shapes import JSONObject

# A queued job's hosted-tool secrets: sealed in this key of its stored request.
SEALED_SECRETS, SECRETS_PURPOSE = "_respond_sealed_secrets", "hosted_secrets"
UNOPENED = ("The hosted tools' credentials of this queued run could not be opened by this server: every "
            "replica must share --secret-key. Retry the request.")


def seal_secrets(sealer: Sealer, secrets: dict[str, JSONObject], response_id: str, owner: str) -> str:
    return sealer.seal({"secrets": secrets, "response": response_id}, owner, SECRETS_PURPOSE)


def open_secrets(sealer: Sealer, blob: Any, response_id: str, owner: str) -> dict[str, JSONObject] | None:
    """The secrets sealed for this response and owner (tools[] index -> secrets); None for anything else."""
    opened = sealer.open(blob, owner, SECRETS_PURPOSE)
    if opened is None or opened.get("response") != response_id:
        return None
    secrets = opened.get("secrets")
    return {i: kept for i, kept in secrets.items() if isinstance(kept, dict)} if isinstance(secrets, dict) else {}


class Jobs:
    def __init__(self, store: Store, references: References, launcher: Launcher, *, prompts: PromptStore,
                 sealer: Sealer) -> None:
        self.store = store
        self.references = references
        self.launcher = launcher
        self.prompts = prompts
        self._sealer = sealer

    async def run(self, job: ClaimedJob) -> Run | None:
        """The Run of a claimed background job; None when it is gone (deleted meanwhile)."""
        rid, owner = job["response_id"], job["owner"]
        response = await self.store.get_response(rid, owner)
        if response is None:
            await self.store.finish_job(rid)
            return None
        request = dict(job["request"] or {})
        sealed = request.pop(SEALED_SECRETS, None)
        vocabulary = self.references.vocabulary
        req, _ = apply_prompt(parse_create(request, vocabulary), self.prompts, vocabulary)  # items stored already
        new_items = await self.store.list_input_items(rid, owner, after=None, limit=1_000_000, order="asc")
        record = Record(typed(response), owner, new_items[0] if new_items else [], conversation_id(req))
        try:
            history = await self.references.history(req, owner)
        except APIError as exc:
            # the previous response was deleted while this one waited
            return self.launcher.failing(record, BackendError(exc.message))
        secrets = None
        if sealed is not None:
            secrets = open_secrets(self._sealer, sealed, rid, owner)
            if secrets is None:
                return self.launcher.failing(record, BackendError(UNOPENED))
        return await self.launcher.launch(req, response["model"], record, history, background=True,
                                          secrets=secrets)
