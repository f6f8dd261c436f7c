"""`moderation`: the response's input and output scored by the operator's moderation upstream.

Without `--moderation-upstream` a request asking for moderation is a 400 naming `moderation`.  With it,
each side is sent to the upstream's `/v1/moderations` under the request's `moderation.model`, and its
policy mode (default `score`) decides:

- `score`: the result is recorded in `Response.moderation` (`input` and `output`, each a
  `moderation_result`, or an `error` result when the service failed) and nothing else changes.
- `block`: flagged input is never sent to the model; flagged output is never delivered.  Either ends
  the response `incomplete` with `incomplete_details.reason: "content_filter"` and no output, as the
  hosted API ends a filtered response.  To withhold output, a blocking output policy holds the
  model's whole turn back (a stream's deltas arrive together once the output passed).  A moderation
  service that fails under `block` fails closed: an error, never unmoderated content.

The input moderated is everything the model reads this turn, as it reads it: the instructions, the
context a continuation carries (`previous_response_id`, a conversation: flagged input blocked once cannot
reach the model by being continued), the new items (files as their extracted text, stored images as
their bytes), text and images.  The output is everything the model produced: text, refusals, reasoning
and its calls' arguments.  (Results that hosted tools feed the model between rounds are not scored.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from respond.core.errors import BackendError
from respond.core.ports import ModerationInput, Moderator
from respond.core.types import (
    Delta,
    Finish,
    Message,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from respond.engine.stream.operations import Operation
from respond.protocol.errors import invalid
from respond.protocol.requests import CreateResponse
from respond.protocol.shapes import JSON, ResponseDict
from respond.protocol.shapes.response import ModerationError, ModerationResult

Step = Delta | Operation
NOT_RUN: ModerationError = {"type": "error", "code": "not_moderated",
           "message": "The input was blocked, so no output was generated to moderate."}


def check(req: CreateResponse, moderator: Moderator | None) -> None:
    if req.moderation is not None and moderator is None:
        raise invalid("'moderation' is not available on this server: it has no moderation upstream "
                      "(--moderation-upstream). Remove the parameter.", "moderation", "unsupported_parameter")


def input_parts(messages: list[Message]) -> list[ModerationInput]:
    """The moderation input of a turn: the text and images of every message the model reads, in order."""
    parts: list[ModerationInput] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and content:
            parts.append({"type": "text", "text": content})
            continue
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and part.get("text"):
                parts.append({"type": "text", "text": part["text"]})
            elif part.get("type") == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
                parts.append({"type": "image_url", "image_url": {"url": part["image_url"]["url"]}})
    return parts or [{"type": "text", "text": ""}]


_MODALITIES: dict[str, Literal["text", "image"]] = {"text": "text", "image": "image"}


def _object(value: JSON) -> dict[str, JSON]:
    return value if isinstance(value, dict) else {}


def _float(value: JSON) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"A moderation score is a number, not {value!r}")


class Moderation:
    """One response's moderation; `wrap` runs the model's steps through it."""

    def __init__(self, moderator: Moderator, req: CreateResponse, response: ResponseDict) -> None:
        options = req.moderation
        if options is None:
            raise ValueError("Moderation is made for a request that has 'moderation'")
        policy = options.get("policy") or {}
        self.moderator, self.model, self.response = moderator, str(options["model"]), response
        self.input_mode = (policy.get("input") or {}).get("mode") or "score"
        self.output_mode = (policy.get("output") or {}).get("mode") or "score"

    async def _result(self, parts: list[ModerationInput], mode: str, side: str
                      ) -> ModerationResult | ModerationError:
        try:
            found = await self.moderator.moderate(self.model, parts)
        except BackendError as exc:
            if mode == "block":  # fail closed
                raise BackendError(f"The {side} could not be moderated ({exc.message}); its policy blocks what "
                                   "is not moderated.", status=502, code="moderation_failed") from None
            return {"type": "error", "code": exc.code or "moderation_failed", "message": exc.message}
        return {"type": "moderation_result", "model": str(found.get("model") or self.model),
                "flagged": bool(found.get("flagged")),
                "categories": {str(k): bool(v) for k, v in _object(found.get("categories")).items()},
                "category_scores": {str(k): _float(v) for k, v in _object(found.get("category_scores")).items()},
                "category_applied_input_types": {str(k): [_MODALITIES[t] for t in v if isinstance(t, str) and t in _MODALITIES] for k, v in (
                    _object(found.get("category_applied_input_types"))).items() if isinstance(v, list)}}

    def _record(self, inp: ModerationResult | ModerationError, out: ModerationResult | ModerationError) -> None:
        self.response["moderation"] = {"input": inp, "output": out}

    async def wrap(self, inputs: list[ModerationInput], steps: AsyncIterator[Step]) -> AsyncIterator[Step]:
        inp = await self._result(inputs, self.input_mode, "input")
        if self.input_mode == "block" and inp["type"] == "moderation_result" and inp["flagged"]:
            self._record(inp, NOT_RUN)
            yield Finish(reason="content_filter", usage=Usage())
            return
        held: list[Step] = []
        text: list[str] = []
        async for step in steps:
            if isinstance(step, TextDelta | RefusalDelta | ReasoningDelta):
                text.append(step.text)
            elif isinstance(step, ToolCallDelta):  # a call's arguments are output the client receives too
                text.append(step.arguments)
            if not isinstance(step, Finish):
                if self.output_mode == "block":
                    held.append(step)  # delivered once the output passed
                else:
                    yield step
                continue
            out = await self._result([{"type": "text", "text": "".join(text)}], self.output_mode, "output")
            self._record(inp, out)
            if self.output_mode == "block" and out["type"] == "moderation_result" and out["flagged"]:
                yield Finish(reason="content_filter", usage=step.usage)
                return
            for kept in held:
                yield kept
            yield step
            return
