"""What a request adds to the context before the model sees it: its stored prompt template
(engine/resolve/prompts.py) and the reasoning its client carried back sealed (engine/record/sealing.py)."""

from __future__ import annotations

from typing import Any

from respond.engine.assemble.compaction import open_summary
from respond.engine.record.sealing import Sealer
from respond.engine.resolve.prompts import PromptStore
from respond.protocol.errors import invalid
from respond.protocol.items import UPSTREAM_STATE
from respond.protocol.requests import CreateResponse
from respond.protocol.vocabulary import Vocabulary

Item = dict[str, Any]


def apply_prompt(req: CreateResponse, prompts: PromptStore, vocabulary: Vocabulary) -> tuple[CreateResponse, list[Item]]:
    """The request with its prompt's instructions (before its own) and the prompt's input items."""
    if req.prompt is None:
        return req, []
    version, instructions, template_input = prompts.resolve(req.prompt)
    merged = "\n\n".join(x for x in (instructions, req.instructions) if x) or None
    req = req.model_copy(update={"instructions": merged, "prompt": {
        "id": req.prompt["id"], "version": version, "variables": req.prompt.get("variables")}})
    return req, vocabulary.normalize_input(template_input) if template_input else []


def open_reasoning(items: list[Item], sealer: Sealer | None, owner: str) -> list[Item]:
    """Reasoning items sent back with `encrypted_content` get their content from it; compaction
    items are checked; a blob this server did not seal for this owner (tampered, foreign, another
    key's) is a 400."""
    out = []
    for i, item in enumerate(items):
        if item.get("type") == "reasoning" and item.get("encrypted_content") is not None:
            payload = sealer.open(item["encrypted_content"], owner) if sealer is not None else None
            if payload is None:
                raise invalid("The encrypted content of this reasoning item could not be verified: it was not "
                              "produced by this server for this API key, or it was modified. Send the item "
                              "exactly as it was returned, or leave it out.", f"input[{i}].encrypted_content",
                              "invalid_encrypted_content")
            item = {**item, "content": payload.get("content") or []}
            if isinstance(payload.get("upstream"), dict):  # what a /v1/responses upstream needs back
                item[UPSTREAM_STATE] = payload["upstream"]
        elif item.get("type") == "compaction" and (sealer is None or open_summary(
                sealer, item.get("encrypted_content"), owner) is None):
            raise invalid("The encrypted content of this compaction item could not be verified: it was not "
                          "produced by this server for this API key, or it was modified. Send the item "
                          "exactly as /responses/compact returned it.", f"input[{i}].encrypted_content",
                          "invalid_encrypted_content")
        out.append(item)
    return out
